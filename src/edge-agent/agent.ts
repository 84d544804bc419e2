/**
 * The agent's core, without the network: a small facade over its parts — the installer (check,
 * probation, hot swap, rollback), the runner (routing by name, version and A/B weight; batched
 * runs), the shadow, async jobs and telemetry (metrics, per-minute aggregates, the outbox). The HTTP
 * layer (http/server.ts) and the CLI drive it; so can a library user.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import type { AgentOptions } from './agent-options.js';
import type { NamedTensors } from '../runtime/backend.js';
import { defaultBackendRegistry } from '../runtime/registry.js';
import type { BatchingOptions, BatchRun } from './batcher.js';
import { installError, Installer, type AgentEvents, type InstallResult } from './installer.js';
import { JobQueue } from './jobs.js';
import { silentLogger, type Logger } from '../logger.js';
import type { AgentMetrics } from './metrics.js';
import type { Outbox } from './outbox.js';
import { ModelPool, type Lease } from './pool.js';
import { Runner, type ServedVersion } from './runner.js';
import { VersionLoader, type RuntimeChoice } from './runtime.js';
import { trustedKeys } from './trust.js';
import { Shadow } from './shadow.js';
import { LOCK_FILE, releaseLock, takeLock } from './store/lock.js';
import { ModelStore, type RecoveryReport } from './store/model-store.js';
import { StateDb, type InstallRecord } from './store/state-db.js';
import { Telemetry, type RequestRecord } from './telemetry.js';
import { variantProblems, type VariantConfig } from './variants.js';

export type { AgentEvents, InstallResult } from './installer.js';
export type { ServedVersion } from './runner.js';

export type { AgentOptions } from './agent-options.js';

const MiB = 2 ** 20;

export class Agent extends EventEmitter<AgentEvents> {
  readonly dataDir: string;
  readonly db: StateDb;
  readonly store: ModelStore;
  readonly outbox: Outbox;
  readonly metrics: AgentMetrics;
  readonly pool: ModelPool;
  readonly recovery: RecoveryReport;
  /** Async jobs (undefined for a non-exclusive agent). */
  readonly jobs?: JobQueue;
  private readonly log: Logger;
  private readonly telemetry: Telemetry;
  private readonly runner: Runner;
  private readonly shadowRuns: Shadow;
  private readonly installer: Installer;
  private readonly loader: VersionLoader;
  private started = false;
  private closed = false;
  private readonly exclusive: boolean;
  private lockPath?: string;

  constructor(private readonly options: AgentOptions) {
    super();
    this.log = options.logger ?? silentLogger;
    this.dataDir = resolve(options.dataDir);
    try {
      mkdirSync(this.dataDir, { recursive: true });
    } catch (err) {
      throw new KilnError('AGENT_STATE', `cannot create the data dir ${this.dataDir}: ${(err as Error).message}`, {
        hint: 'pass --data-dir with a writable folder',
      });
    }
    const batching: BatchingOptions = { maxBatchSize: options.batching?.maxBatchSize ?? 1, maxQueueDelayMs: options.batching?.maxQueueDelayMs ?? 2 };
    if (!Number.isInteger(batching.maxBatchSize) || batching.maxBatchSize < 1)
      throw new RangeError(`batching.maxBatchSize must be an integer ≥ 1 (got ${batching.maxBatchSize})`);
    if (!(batching.maxQueueDelayMs >= 0)) throw new RangeError(`batching.maxQueueDelayMs must be ≥ 0 (got ${batching.maxQueueDelayMs})`);
    for (const [model, v] of Object.entries(options.variants ?? {})) {
      const problems = variantProblems(model, v);
      if (problems.length) throw new RangeError(problems.join('; '));
    }
    this.exclusive = options.exclusive !== false;
    if (this.exclusive) this.lockPath = takeLock(join(this.dataDir, LOCK_FILE));
    this.db = new StateDb(join(this.dataDir, 'state.db'));
    this.telemetry = new Telemetry(this.db, this.log, options.outboxMaxRows);
    this.outbox = this.telemetry.outbox;
    this.metrics = this.telemetry.metrics;
    this.store = new ModelStore(this.dataDir, this.db, { trustedKeys: trustedKeys(options), keepVersions: options.keepVersions, hooks: options.hooks });
    this.recovery = this.exclusive ? this.store.recover() : { staging: 0, interrupted: [], orphans: [], fellBack: {} };
    if (this.recovery.interrupted.length || this.recovery.orphans.length || this.recovery.staging) {
      this.log.warn('recovered from an interrupted install', {
        interrupted: this.recovery.interrupted.map((r) => `${r.model} ${r.version}`),
        orphans: this.recovery.orphans.length,
        staging: this.recovery.staging,
      });
    }
    this.pool = new ModelPool({
      budgetBytes: options.memoryBudgetBytes ?? 256 * MiB,
      load: (record) => this.loader.load(record),
      onEvent: (e) => {
        const labels = { model: e.record.model, version: e.record.version };
        if (e.kind === 'loaded') {
          this.metrics.loads.inc(labels);
          const rt = this.loader.runtimeOf(e.record.id);
          this.log.info('model loaded', {
            ...labels,
            ms: Math.round(e.ms),
            ...(rt
              ? {
                  backend: rt.backend,
                  provider: rt.provider,
                  threads: rt.threads ?? 'default',
                  ...(rt.interOpThreads ? { interOpThreads: rt.interOpThreads } : {}),
                }
              : {}),
          });
          if (rt?.fallback) this.log.warn(rt.fallback, labels);
        } else if (e.kind === 'unloaded') {
          this.runner.forget(e.record.id, 'batcher');
          this.metrics.unloads.inc({ ...labels, reason: e.reason });
          this.log.info('model unloaded', { ...labels, reason: e.reason });
        } else {
          this.log.error('model failed to load', { ...labels, error: (e.error as Error).message });
          // Installed files that no longer check out (disk corruption, a hand edit) are not served again.
          if (e.error instanceof KilnError && e.error.code === 'AGENT_STATE') this.installer.fallBack(e.record, e.error.message);
        }
      },
    });
    const closed = (): boolean => this.closed;
    this.runner = new Runner({ db: this.db, store: this.store, pool: this.pool, metrics: this.metrics, log: this.log, batching, closed });
    this.loader = new VersionLoader({
      store: this.store,
      runner: this.runner,
      metrics: this.metrics,
      registry: () => options.registry ?? defaultBackendRegistry(),
      override: options.backend,
      runtime: options,
    });
    for (const [model, v] of Object.entries(options.variants ?? {})) this.runner.setVariants(model, v);
    this.shadowRuns = new Shadow({ runner: this.runner, pool: this.pool, telemetry: this.telemetry, log: this.log, closed });
    this.installer = new Installer({
      store: this.store,
      db: this.db,
      pool: this.pool,
      runner: this.runner,
      telemetry: this.telemetry,
      log: this.log,
      hooks: options.hooks,
      exclusive: this.exclusive,
      emit: (event, ...args) => this.emit(event, ...(args as never)),
      runtimeOf: (id) => this.loader.runtimeOf(id),
      routesChanged: () => this.fitBudget(),
    });
    if (this.exclusive) {
      this.jobs = new JobQueue(this.runner, this.db, this.dataDir, this.log, { maxJobBytes: options.maxJobBytes });
      this.jobs.recover();
    }
  }

  /** How a version runs (undefined until it was loaded once in this process). */
  runtimeOf(record: InstallRecord): RuntimeChoice | undefined {
    return this.loader.runtimeOf(record.id);
  }

  /** Install the configured models, then (by default) load every served model. */
  async start(): Promise<void> {
    if (this.started) return;
    const failures: KilnError[] = [];
    for (const path of this.options.models ?? []) {
      try {
        await this.install(path);
      } catch (err) {
        const e = err instanceof KilnError ? err : installError(path, err);
        failures.push(e);
        this.log.error('install failed', { source: path, error: e.message });
      }
    }
    const routes = this.runner.routes;
    // Versions beyond the kept ones (an earlier run may have stopped before pruning).
    if (this.exclusive) for (const model of routes.keys()) await this.store.prune(model, { hook: false });
    // Nothing at all to serve is a start failure; otherwise the failed artifacts are logged.
    if (failures.length && routes.size === 0) {
      throw new KilnError('AGENT_INSTALL', `no model can be served:\n  • ${failures.map((f) => f.message).join('\n  • ')}`, {
        hint: 'fix or replace the artifacts, or check trusted keys (--trust)',
      });
    }
    this.fitBudget();
    if (this.options.preload !== false) {
      for (const model of [...routes.keys()]) {
        // A version that fails to load falls back to the previous good one: try until one loads.
        for (let r = routes.get(model); r;) {
          const lease = await this.pool.acquire(r).catch((err: unknown) => {
            this.log.error('preload failed', { model: r!.model, version: r!.version, error: (err as Error).message });
          });
          lease?.release();
          const next = routes.get(model);
          r = lease || next?.id === r.id ? undefined : next;
        }
      }
    }
    this.telemetry.start();
    this.started = true;
    if (this.options.runJobs !== false) this.jobs?.start();
  }

  /** The default budget follows the served models' sizes unless one was configured. */
  private fitBudget(): void {
    if (this.options.memoryBudgetBytes === undefined) {
      const total = [...this.runner.routes.values()].reduce((n, r) => n + r.sizeBytes, 0);
      this.pool.budgetBytes = Math.min(Math.max(256 * MiB, 2 * total), Math.floor(totalmem() / 2));
    }
    this.metrics.budgetBytes.set({}, this.pool.budgetBytes);
  }

  get isReady(): boolean {
    return this.started && !this.closed && this.runner.routes.size > 0;
  }

  /** Names of the models served. */
  modelNames(): string[] {
    return this.runner.modelNames();
  }

  /** Versions of a model that can be asked for (current first, then kept ones). */
  versions(model: string): InstallRecord[] {
    return this.runner.versions(model);
  }

  /** The version a request is for: the current one, or a kept one by version string. Throws RequestError(404). */
  lookup(model: string, version?: string): ServedVersion {
    return this.runner.lookup(model, version);
  }

  /** Set (or clear, with undefined) a model's production variants. Throws RangeError on a bad config. */
  setVariants(model: string, config: VariantConfig | undefined): void {
    this.runner.setVariants(model, config);
  }

  /** The version a request goes to: named, else picked by A/B weight (stable per `key`), else the current one. */
  route(model: string, version?: string, key?: string): ServedVersion {
    return this.runner.route(model, version, key);
  }

  /** A model's production variants now (undefined: none). */
  variantsOf(model: string): VariantConfig | undefined {
    return this.runner.variantsOf(model);
  }

  /** Whether requests to this model are copied to a shadow version (callers keep the inputs alive for it). */
  hasShadow(model: string): boolean {
    return this.shadowRuns.has(model);
  }

  /** Copy a served request to the model's shadow version and compare the answers (see Shadow.run). */
  shadow(served: ServedVersion, inputs: NamedTensors, outputs: NamedTensors, servingSeconds: number): Promise<void> {
    return this.shadowRuns.run(served, inputs, outputs, servingSeconds);
  }

  /** Lease a version for one request (loads it on first use). Counted at once: a swap waits for it. */
  lease(served: ServedVersion): Promise<Lease> {
    return this.runner.lease(served);
  }

  /** Run checked inputs on a leased version (batched with concurrent requests where batching is on). */
  run(served: ServedVersion, lease: Lease, inputs: NamedTensors): Promise<BatchRun> {
    return this.runner.run(served, lease, inputs);
  }

  /** Run a model on checked inputs. */
  infer(model: string, inputs: NamedTensors, version?: string): Promise<{ version: string; outputs: NamedTensors; modelSeconds: number }> {
    return this.runner.infer(model, inputs, version);
  }

  /** Count a request in the metrics and the per-minute aggregates. */
  recordRequest(model: string, version: string, sample: RequestRecord): void {
    this.telemetry.recordRequest(model, version, sample);
  }

  /** Write closed minutes' aggregates to the outbox (all of them with `all`). */
  flushMetrics(all = false): void {
    this.telemetry.flush(all);
  }

  /** Refresh gauges; returns the Prometheus text. */
  renderMetrics(): string {
    return this.telemetry.render(this.pool.loadedBytes);
  }

  /**
   * Install an artifact and make it current: check, unpack, fsync, rename, record, load beside the
   * serving version, warm up, promote, switch traffic, retire the old version after its in-flight
   * requests. Installs run one at a time. Any failure leaves the serving version as it was.
   * With `serve: false` the version passes probation and is kept beside the serving one (a shadow
   * candidate, a blue/green stage) without taking any traffic: `rollback(model, version)` or weights
   * make it serve later.
   */
  install(path: string, options: { serve?: boolean } = {}): Promise<InstallResult> {
    return this.installer.install(path, options.serve !== false);
  }

  /** Make an earlier kept version current again (loaded on first use). */
  rollback(model: string, version?: string): InstallRecord {
    return this.installer.rollback(model, version);
  }

  /** Stop: wait for in-flight requests, release models, flush metrics, close the DB. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.telemetry.stop();
    await this.jobs?.stop();
    await this.installer.drain();
    await this.pool.close();
    this.telemetry.flush(true);
    this.db.close();
    if (this.lockPath) releaseLock(this.lockPath);
  }
}
