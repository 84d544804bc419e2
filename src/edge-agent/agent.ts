/**
 * The agent's core, without the network: the model store, the loader, routing by model name and
 * version, installs with probation and hot swap, metrics and the outbox. The HTTP layer
 * (http/server.ts) and the CLI drive it; so can a library user.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import type { ArtifactManifest } from '../protocol/manifest.js';
import { kilnConfigDir } from '../config-dir.js';
import { loadSigningKey } from '../protocol/signing.js';
import type { InferenceBackend, LoadedModelHandle, NamedTensors } from '../runtime/backend.js';
import { resolveBackend } from './backend.js';
import { notFound, RequestError } from './errors.js';
import type { ModelSignature } from './http/oip.js';
import { silentLogger, type Logger } from '../logger.js';
import { agentMetrics, type AgentMetrics } from './metrics.js';
import { MinuteAggregator, Outbox, OUTBOX_KINDS, type RequestSample } from './outbox.js';
import { ModelPool, type Lease } from './pool.js';
import { ModelStore, type RecoveryReport, type StoreHooks } from './store/model-store.js';
import { StateDb, type InstallRecord } from './store/state-db.js';
import { zeroTensor } from './tensors.js';
import { Batcher, isBatchable, type BatchingOptions, type BatchRun } from './batcher.js';
import type { PipelineSpec } from '../protocol/pipeline.js';
import { readPipeline } from './pipeline/load.js';
import { LOCK_FILE, releaseLock, takeLock } from './store/lock.js';
import { compareOutputs, pickVersion, variantProblems, type VariantConfig } from './variants.js';
import { JobQueue } from './jobs.js';

export interface AgentOptions {
  /** Where installed versions, the state DB and the outbox live. */
  dataDir: string;
  /** Artifacts (folders or .tgz) to install at start; each is served under its manifest's model name. @default [] */
  models?: readonly string[];
  /** Trusted ed25519 public keys (raw, base64) besides kiln's own. @default [] */
  trustedKeys?: readonly string[];
  /** Trust the public key of kiln's own signing key in `kilnHome` (when it exists). @default true */
  trustKilnKey?: boolean;
  /** kiln's config dir, where its signing key lives. @default $KILN_HOME or ~/.config/kiln */
  kilnHome?: string;
  /** Good versions kept besides the current one. @default 3 */
  keepVersions?: number;
  /** Bytes of loaded models before least-recently-used ones are unloaded. @default 2 × the served models' sizes (≥ 256 MiB, ≤ half the RAM) */
  memoryBudgetBytes?: number;
  /** onnxruntime intra-op threads per model. @default onnxruntime's choice */
  threads?: number;
  /** Load every served model at start (else on first use). @default true */
  preload?: boolean;
  /** Most outbox rows kept. @default 10000 */
  outboxMaxRows?: number;
  /**
   * Dynamic batching for models with a free leading dimension: concurrent requests share one run
   * of up to maxBatchSize rows, waiting at most maxQueueDelayMs. @default off (maxBatchSize 1)
   */
  batching?: Partial<BatchingOptions>;
  /** Async jobs: run queued jobs in the background (off: accept and keep them only). @default true */
  runJobs?: boolean;
  /** Largest async job payload, bytes. @default 1 GiB */
  maxJobBytes?: number;
  /** Production variants per model: weighted A/B between kept versions, and a shadow version. @default none */
  variants?: Readonly<Record<string, VariantConfig>>;
  logger?: Logger;
  /** Install step hooks (tests stop the process at a step). */
  hooks?: StoreHooks;
  /** The runtime. @default onnxruntime-node (CPU) */
  backend?: InferenceBackend;
  /**
   * Own the data dir: take its lock (one agent per data dir), undo half-done installs, allow
   * installs. Off for one-off readers (`kiln agent infer` beside a running agent). @default true
   */
  exclusive?: boolean;
}

export type InstallResult =
  | { state: 'promoted'; model: string; version: string; installId: number; replaced?: string; ms: number }
  | { state: 'unchanged'; model: string; version: string; installId: number; ms: number }
  /** `serve: false`: good and kept, serving nothing. */
  | { state: 'kept'; model: string; version: string; installId: number; ms: number };

/** One servable version: its install record, its signature, and its declared pipeline if any. */
export interface ServedVersion {
  record: InstallRecord;
  manifest: ArtifactManifest;
  signature: ModelSignature;
  pipeline?: PipelineSpec;
}

export interface AgentEvents {
  'model-swapped': [{ model: string; from?: string; to: string }];
  'install-failed': [{ source: string; model?: string; error: KilnError }];
}

const MiB = 2 ** 20;

/** A KilnError for an install that failed after its checks (load, warm-up). */
const installError = (what: string, err: unknown): KilnError =>
  new KilnError('AGENT_INSTALL', `${what}: ${err instanceof Error ? err.message : String(err)}`, { hint: 'the previous version keeps serving', cause: err });

export class Agent extends EventEmitter<AgentEvents> {
  readonly dataDir: string;
  readonly db: StateDb;
  readonly store: ModelStore;
  readonly outbox: Outbox;
  readonly metrics: AgentMetrics;
  readonly pool: ModelPool;
  readonly recovery: RecoveryReport;
  readonly backend: InferenceBackend;
  /** Async jobs (undefined for a non-exclusive agent). */
  readonly jobs?: JobQueue;
  private readonly log: Logger;
  private readonly aggregator: MinuteAggregator;
  private readonly routes = new Map<string, InstallRecord>();
  private readonly manifests = new Map<number, ArtifactManifest>();
  private readonly batchers = new Map<number, Batcher>();
  private readonly pipelines = new Map<number, PipelineSpec | null>();
  private readonly servedCache = new Map<number, ServedVersion>();
  private readonly variants = new Map<string, VariantConfig>();
  private readonly shadowBusy = new Set<string>();
  private readonly batching: BatchingOptions;
  private installChain: Promise<unknown> = Promise.resolve();
  private flushTimer?: NodeJS.Timeout;
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
      throw new KilnError('AGENT_STATE', `cannot create the data dir ${this.dataDir}: ${(err as Error).message}`, { hint: 'pass --data-dir with a writable folder' });
    }
    this.backend = options.backend ?? resolveBackend('ort-node');
    this.batching = { maxBatchSize: options.batching?.maxBatchSize ?? 1, maxQueueDelayMs: options.batching?.maxQueueDelayMs ?? 2 };
    if (!Number.isInteger(this.batching.maxBatchSize) || this.batching.maxBatchSize < 1) throw new RangeError(`batching.maxBatchSize must be an integer ≥ 1 (got ${this.batching.maxBatchSize})`);
    if (!(this.batching.maxQueueDelayMs >= 0)) throw new RangeError(`batching.maxQueueDelayMs must be ≥ 0 (got ${this.batching.maxQueueDelayMs})`);
    this.exclusive = options.exclusive !== false;
    if (this.exclusive) this.lockPath = takeLock(join(this.dataDir, LOCK_FILE));
    for (const [model, v] of Object.entries(options.variants ?? {})) this.setVariants(model, v);
    this.db = new StateDb(join(this.dataDir, 'state.db'));
    this.metrics = agentMetrics();
    this.outbox = new Outbox(this.db, { maxRows: options.outboxMaxRows, onDrop: (kind, n) => this.metrics.outboxDropped.inc({ kind }, n) });
    this.aggregator = new MinuteAggregator(this.outbox);
    this.store = new ModelStore(this.dataDir, this.db, { trustedKeys: this.trustedKeys(), keepVersions: options.keepVersions, hooks: options.hooks });
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
      load: (record) => this.loadVersion(record),
      onEvent: (e) => {
        const labels = { model: e.record.model, version: e.record.version };
        if (e.kind === 'loaded') {
          this.metrics.loads.inc(labels);
          this.log.info('model loaded', { ...labels, ms: Math.round(e.ms) });
        } else if (e.kind === 'unloaded') {
          this.batchers.delete(e.record.id);
          this.metrics.unloads.inc({ ...labels, reason: e.reason });
          this.log.info('model unloaded', { ...labels, reason: e.reason });
        } else {
          this.log.error('model failed to load', { ...labels, error: (e.error as Error).message });
          // Installed files that no longer check out (disk corruption, a hand edit) are not served again.
          if (e.error instanceof KilnError && e.error.code === 'AGENT_STATE') this.fallBack(e.record, e.error.message);
        }
      },
    });
    for (const r of this.db.currentAll()) this.routes.set(r.model, r);
    if (this.exclusive) {
      this.jobs = new JobQueue(this, this.db, this.dataDir, this.log, { maxJobBytes: options.maxJobBytes });
      this.jobs.recover();
    }
  }

  private trustedKeys(): string[] {
    const keys = [...(this.options.trustedKeys ?? [])];
    if (this.options.trustKilnKey !== false) {
      // kiln's own key (what `kiln compile` signs with), read — never generated — from its config dir.
      const keysDir = join(this.options.kilnHome ?? kilnConfigDir(), 'keys');
      if (existsSync(join(keysDir, 'signing-key.pem'))) keys.push(loadSigningKey(join(keysDir, 'signing-key.pem')).publicKeyBase64);
      else if (existsSync(join(keysDir, 'signing-key.pub'))) keys.push(readFileSync(join(keysDir, 'signing-key.pub'), 'utf8').trim());
    }
    return keys;
  }

  private async loadVersion(record: InstallRecord): Promise<LoadedModelHandle> {
    const bytes = this.store.readModel(record);
    return this.backend.load(bytes, { threads: this.options.threads });
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
    // Versions beyond the kept ones (an earlier run may have stopped before pruning).
    if (this.exclusive) for (const model of this.routes.keys()) await this.store.prune(model, { hook: false });
    // Nothing at all to serve is a start failure; otherwise the failed artifacts are logged.
    if (failures.length && this.routes.size === 0) {
      throw new KilnError('AGENT_INSTALL', `no model can be served:\n  • ${failures.map((f) => f.message).join('\n  • ')}`, {
        hint: 'fix or replace the artifacts, or check trusted keys (--trust)',
      });
    }
    this.fitBudget();
    if (this.options.preload !== false) {
      for (const model of [...this.routes.keys()]) {
        // A version that fails to load falls back to the previous good one: try until one loads.
        for (let r = this.routes.get(model); r; ) {
          const lease = await this.pool.acquire(r).catch((err: unknown) => {
            this.log.error('preload failed', { model: r!.model, version: r!.version, error: (err as Error).message });
          });
          lease?.release();
          const next = this.routes.get(model);
          r = lease || next?.id === r.id ? undefined : next;
        }
      }
    }
    this.flushTimer = setInterval(() => this.flushMetrics(), 10_000);
    this.flushTimer.unref();
    this.started = true;
    if (this.options.runJobs !== false) this.jobs?.start();
  }

  /** The default budget follows the served models' sizes unless one was configured. */
  private fitBudget(): void {
    if (this.options.memoryBudgetBytes === undefined) {
      const total = [...this.routes.values()].reduce((n, r) => n + r.sizeBytes, 0);
      this.pool.budgetBytes = Math.min(Math.max(256 * MiB, 2 * total), Math.floor(totalmem() / 2));
    }
    this.metrics.budgetBytes.set({}, this.pool.budgetBytes);
  }

  get isReady(): boolean {
    return this.started && !this.closed && this.routes.size > 0;
  }

  /** Names of the models served. */
  modelNames(): string[] {
    return [...this.routes.keys()].sort();
  }

  /** Versions of a model that can be asked for (current first, then kept ones). */
  versions(model: string): InstallRecord[] {
    const current = this.routes.get(model);
    const good = this.db.installs({ model, states: ['good'] });
    return current ? [current, ...good.filter((r) => r.id !== current.id)] : good;
  }

  private manifest(record: InstallRecord): ArtifactManifest {
    let m = this.manifests.get(record.id);
    if (!m) {
      m = this.store.manifestOf(record);
      this.manifests.set(record.id, m);
    }
    return m;
  }

  /** The version a request is for: the current one, or a kept one by version string. Throws RequestError(404). */
  lookup(model: string, version?: string): ServedVersion {
    const current = this.routes.get(model);
    if (!current) {
      const names = this.modelNames();
      throw notFound(`unknown model '${model}'; this agent serves ${names.length ? names.map((n) => `'${n}'`).join(', ') : 'no models'}`);
    }
    let record = current;
    if (version !== undefined && version !== current.version) {
      const found = this.versions(model).find((r) => r.version === version);
      if (!found) {
        throw notFound(`model '${model}' has no version '${version}'; available: ${this.versions(model).map((r) => `'${r.version}'`).join(', ')}`);
      }
      record = found;
    }
    return this.served(record);
  }

  /** A version's served view, built once (install records and their files never change). */
  private served(record: InstallRecord): ServedVersion {
    let s = this.servedCache.get(record.id);
    if (!s) {
      const manifest = this.manifest(record);
      s = Object.freeze({ record, manifest, signature: { name: record.model, inputs: manifest.inputs, outputs: manifest.outputs }, pipeline: this.pipeline(record, manifest) });
      this.servedCache.set(record.id, s);
    }
    return s;
  }

  /** The pipeline an installed version declares (checked at install; read once). */
  private pipeline(record: InstallRecord, manifest: ArtifactManifest): PipelineSpec | undefined {
    let p = this.pipelines.get(record.id);
    if (p === undefined) {
      p = readPipeline(this.store.dirOf(record), manifest) ?? null;
      this.pipelines.set(record.id, p);
    }
    return p ?? undefined;
  }

  /** Set (or clear, with undefined) a model's production variants. Throws RangeError on a bad config. */
  setVariants(model: string, config: VariantConfig | undefined): void {
    if (config === undefined) {
      this.variants.delete(model);
      return;
    }
    const problems = variantProblems(model, config);
    if (problems.length) throw new RangeError(problems.join('; '));
    this.variants.set(model, Object.freeze({ ...config }));
  }

  /**
   * The version a request goes to: the one it names; else, with A/B weights, one picked by weight
   * (the same `key` always gets the same version); else the current one. A weighted version no
   * longer kept falls back to the current one.
   */
  route(model: string, version?: string, key?: string): ServedVersion {
    const weights = version === undefined ? this.variants.get(model)?.weights : undefined;
    if (weights && this.routes.has(model)) {
      const picked = pickVersion(weights, key);
      if (this.versions(model).some((r) => r.version === picked)) return this.lookup(model, picked);
      this.log.warn('A/B version not kept any more: serving the current one', { model, version: picked });
    }
    return this.lookup(model, version);
  }

  /** A model's production variants now (undefined: none). */
  variantsOf(model: string): VariantConfig | undefined {
    return this.variants.get(model);
  }

  /** Whether requests to this model are copied to a shadow version (callers keep the inputs alive for it). */
  hasShadow(model: string): boolean {
    return this.variants.get(model)?.shadow !== undefined;
  }

  /**
   * Copy a served request to the model's shadow version and compare the answers (never returned).
   * At most one shadow run per model at a time: the shadow must not slow the serving path down.
   * A copy not made (one already running, the version not kept) is *skipped*: not the shadow's fault.
   * A run that throws (load or model error) or answers none of the served outputs *failed*: counted
   * per minute as the shadow's `errors`, which the cloud judges (error-rate) like a serving version's.
   */
  async shadow(served: ServedVersion, inputs: NamedTensors, outputs: NamedTensors, servingSeconds: number): Promise<void> {
    const model = served.record.model;
    const shadowVersion = this.variants.get(model)?.shadow;
    if (shadowVersion === undefined || shadowVersion === served.record.version || this.closed) return;
    if (this.shadowBusy.has(model)) {
      this.metrics.shadowSkipped.inc({ model, reason: 'busy' });
      return;
    }
    let target: ServedVersion;
    try {
      target = this.lookup(model, shadowVersion);
    } catch {
      this.metrics.shadowSkipped.inc({ model, reason: 'version-missing' });
      return;
    }
    const labels = { model, version: served.record.version, shadow: shadowVersion };
    this.shadowBusy.add(model);
    try {
      const lease = await this.pool.acquire(target.record);
      let shadowOut: NamedTensors;
      const t0 = performance.now();
      try {
        shadowOut = await lease.handle.run(inputs);
      } finally {
        lease.release();
      }
      const shadowSeconds = (performance.now() - t0) / 1000;
      const outputNames = Object.keys(outputs);
      if (outputNames.length && outputNames.every((name) => !shadowOut?.[name])) throw new TypeError(`the shadow answered none of the served outputs (${outputNames.join(', ')})`);
      const c = compareOutputs(outputs, shadowOut);
      this.metrics.shadowRuns.inc(labels);
      this.metrics.shadowRows.inc(labels, c.rows);
      this.metrics.shadowTop1Agree.inc(labels, c.top1Agree);
      this.metrics.shadowMaxAbsDiff.observe(labels, c.maxAbsDiff);
      this.metrics.shadowLatency.observe(labels, shadowSeconds);
      this.aggregator.recordShadow(model, served.record.version, shadowVersion, { ...c, shadowSeconds, servingSeconds });
    } catch (err) {
      // A run cut short by shutdown says nothing about the shadow version.
      if (this.closed) return;
      this.metrics.shadowFailed.inc(labels);
      this.aggregator.recordShadowFailure(model, served.record.version, shadowVersion);
      this.log.warn('shadow run failed', { model, shadow: shadowVersion, error: (err as Error).message });
    } finally {
      this.shadowBusy.delete(model);
    }
  }

  /** Lease a version for one request (loads it on first use). Counted at once: a swap waits for it. */
  lease(served: ServedVersion): Promise<Lease> {
    if (this.closed) return Promise.reject(new RequestError(503, 'the agent is shutting down'));
    return this.pool.acquire(served.record);
  }

  /**
   * Run checked inputs on a leased version: batched with concurrent requests when batching is on
   * and the model allows it, else alone. Counts each model run's rows in the batch size metric.
   */
  run(served: ServedVersion, lease: Lease, inputs: NamedTensors): Promise<BatchRun> {
    const labels = { model: served.record.model, version: served.record.version };
    if (this.batching.maxBatchSize > 1 && isBatchable(served.manifest.inputs, served.manifest.outputs)) {
      let b = this.batchers.get(served.record.id);
      if (!b) {
        b = new Batcher(this.batching, (rows) => this.metrics.batchSize.observe(labels, rows));
        this.batchers.set(served.record.id, b);
      }
      return b.submit(inputs, (feeds) => lease.handle.run(feeds));
    }
    const t0 = performance.now();
    return lease.handle.run(inputs).then((outputs) => {
      const first = Object.values(inputs)[0];
      const rows = first?.dims.length ? first.dims[0] : 1;
      this.metrics.batchSize.observe(labels, rows);
      return { outputs, modelSeconds: (performance.now() - t0) / 1000, batchRows: rows };
    });
  }

  /** Run a model on checked inputs. */
  async infer(model: string, inputs: NamedTensors, version?: string): Promise<{ version: string; outputs: NamedTensors; modelSeconds: number }> {
    const served = this.lookup(model, version);
    const lease = await this.lease(served);
    try {
      const res = await this.run(served, lease, inputs);
      return { version: served.record.version, outputs: res.outputs, modelSeconds: res.modelSeconds };
    } finally {
      lease.release();
    }
  }

  /** Count a request in the metrics and the per-minute aggregates. */
  recordRequest(model: string, version: string, sample: RequestSample & { status?: number; requestSeconds?: number }): void {
    const labels = { model, version };
    if (sample.ok) {
      this.metrics.invocations.inc(labels);
      this.metrics.modelLatency.observe(labels, sample.modelSeconds);
      this.metrics.overheadLatency.observe(labels, sample.overheadSeconds);
      if (sample.requestSeconds !== undefined) this.metrics.requestLatency.observe(labels, sample.requestSeconds);
    } else {
      this.metrics.errors.inc({ ...labels, status: String(sample.status ?? 500) });
    }
    if (version) this.aggregator.record(model, version, sample);
  }

  /** Write closed minutes' aggregates to the outbox (all of them with `all`). */
  flushMetrics(all = false): void {
    try {
      this.aggregator.flush(all);
    } catch (err) {
      this.log.error('could not write metrics to the outbox', { error: (err as Error).message });
    }
  }

  /** Refresh gauges; returns the Prometheus text. */
  renderMetrics(): string {
    this.metrics.loadedBytes.set({}, this.pool.loadedBytes);
    this.metrics.outboxRows.reset();
    for (const kind of Object.values(OUTBOX_KINDS)) this.metrics.outboxRows.set({ kind }, this.outbox.count(kind));
    return this.metrics.registry.render();
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
    const run = this.installChain.then(() => this.installNow(path, options.serve !== false));
    this.installChain = run.catch(() => {});
    return run;
  }

  private async installNow(path: string, serve = true): Promise<InstallResult> {
    const t0 = performance.now();
    if (!this.exclusive) throw new KilnError('AGENT_STATE', `cannot install ${path}: this agent does not own its data dir (exclusive: false)`);
    const source = resolve(path);
    let staged;
    try {
      staged = await this.store.stage(source);
    } catch (err) {
      const e = err instanceof KilnError ? err : installError(source, err);
      this.reportInstall({ source, result: 'refused', error: e.message });
      this.emit('install-failed', { source, error: e });
      throw e;
    }
    const { record, manifest } = staged;
    const hooks = this.options.hooks;
    const step = async (s: 'loaded' | 'warmed') => hooks?.onStep?.(s, { model: record.model, version: record.version });
    const current = this.routes.get(record.model);
    if (staged.state === 'present' && (current?.id === record.id || (!serve && record.state === 'good'))) {
      this.reportInstall({ source, model: record.model, version: record.version, result: 'unchanged' });
      return { state: 'unchanged', model: record.model, version: record.version, installId: record.id, ms: performance.now() - t0 };
    }
    // Probation: loaded beside the serving version, and one warm-up inference must answer.
    let lease: Lease | undefined;
    try {
      lease = await this.pool.acquire(record);
      await step('loaded');
      await this.warmUp(lease.handle, manifest, this.store.dirOf(record));
      await step('warmed');
      lease.release();
    } catch (err) {
      lease?.release();
      this.pool.retire(record.id);
      const e = installError(`${record.model} ${record.version} (${source}) failed probation`, err);
      if (staged.state === 'staged') this.store.fail(record, e.message);
      this.reportInstall({ source, model: record.model, version: record.version, result: 'failed', error: e.message });
      this.emit('install-failed', { source, model: record.model, error: e });
      throw Object.assign(e, { model: record.model });
    }
    this.manifests.set(record.id, manifest);
    if (!serve && current && current.id !== record.id) {
      this.store.keepBeside(record);
      await this.store.prune(record.model);
      this.reportInstall({ source, model: record.model, version: record.version, result: 'kept' });
      this.log.info('model version kept beside the serving one', { model: record.model, version: record.version, serving: current.version });
      return { state: 'kept', model: record.model, version: record.version, installId: record.id, ms: performance.now() - t0 };
    }
    const before = await this.store.promote(record);
    // The switch: one assignment. Requests that already hold a lease on the old version finish there.
    this.routes.set(record.model, record);
    if (current && current.id !== record.id) this.pool.retire(current.id);
    await this.store.prune(record.model);
    this.fitBudget();
    this.metrics.swaps.inc({ model: record.model });
    this.reportInstall({ source, model: record.model, version: record.version, result: 'promoted', replaced: before?.version });
    this.log.info('model version serving', { model: record.model, version: record.version, replaced: before?.version });
    this.emit('model-swapped', { model: record.model, from: current?.version, to: record.version });
    return { state: 'promoted', model: record.model, version: record.version, installId: record.id, replaced: before?.version, ms: performance.now() - t0 };
  }

  private async warmUp(handle: LoadedModelHandle, manifest: ArtifactManifest, dir: string): Promise<void> {
    readPipeline(dir, manifest);
    const names = new Set(handle.inputs.map((i) => i.name));
    const missing = manifest.inputs.filter((i) => !names.has(i.name));
    if (handle.inputs.length && missing.length) throw new KilnError('AGENT_INSTALL', `the model has no input${missing.length > 1 ? 's' : ''} ${missing.map((i) => `'${i.name}'`).join(', ')} that its manifest declares`, { hint: 'the previous version keeps serving' });
    const feeds: NamedTensors = Object.fromEntries(manifest.inputs.map((spec) => [spec.name, zeroTensor(spec)]));
    const out = await handle.run(feeds);
    const absent = manifest.outputs.filter((o) => !out[o.name]);
    if (absent.length) throw new KilnError('AGENT_INSTALL', `the warm-up inference returned no ${absent.map((o) => `'${o.name}'`).join(', ')}`, { hint: 'the previous version keeps serving' });
  }

  private reportInstall(r: { source: string; model?: string; version?: string; result: string; error?: string; replaced?: string }): void {
    this.metrics.installs.inc({ model: r.model ?? '', result: r.result });
    try {
      this.outbox.add(OUTBOX_KINDS.install, { ...r, at: new Date().toISOString() });
    } catch (err) {
      this.log.error('could not write the install result to the outbox', { error: (err as Error).message });
    }
  }

  /**
   * The current version of a model cannot be used (its installed files fail their check): mark it
   * failed and serve the newest other good version, if any.
   */
  private fallBack(record: InstallRecord, reason: string): void {
    if (!this.exclusive || this.routes.get(record.model)?.id !== record.id) return;
    const next = this.db.installs({ model: record.model, states: ['good'] }).find((r) => r.id !== record.id);
    this.db.transaction(() => {
      this.db.setInstallState(record.id, 'failed', reason);
      this.db.setCurrent(record.model, next?.id);
    });
    if (next) this.routes.set(record.model, next);
    else this.routes.delete(record.model);
    this.servedCache.delete(record.id);
    this.metrics.swaps.inc({ model: record.model });
    this.reportInstall({ source: this.store.dirOf(record), model: record.model, version: record.version, result: 'rolled-back', error: reason });
    this.log.error('installed version unusable: serving the previous good one', { model: record.model, version: record.version, now: next?.version ?? null });
    this.emit('model-swapped', { model: record.model, from: record.version, to: next?.version ?? '' });
  }

  /** Make an earlier kept version current again (loaded on first use). */
  rollback(model: string, version?: string): InstallRecord {
    const before = this.routes.get(model);
    const target = this.store.rollback(model, version);
    this.routes.set(model, target);
    if (before && before.id !== target.id) this.pool.retire(before.id);
    this.metrics.swaps.inc({ model });
    this.emit('model-swapped', { model, from: before?.version, to: target.version });
    return target;
  }

  /** Stop: wait for in-flight requests, release models, flush metrics, close the DB. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.jobs?.stop();
    await this.installChain.catch(() => {});
    await this.pool.close();
    this.flushMetrics(true);
    this.db.close();
    if (this.lockPath) releaseLock(this.lockPath);
  }
}
