/**
 * Routing and running: which installed version a request goes to (by name, by version, by A/B
 * weight), the served view of each version (manifest, signature, pipeline, read once), and running
 * checked inputs on a leased version — batched with concurrent requests where that is on.
 */
import type { ArtifactManifest } from '../protocol/manifest.js';
import type { PipelineSpec } from '../protocol/pipeline.js';
import type { NamedTensors } from '../runtime/backend.js';
import { Batcher, isBatchable, type BatchingOptions, type BatchRun } from './batcher.js';
import { notFound, RequestError } from './errors.js';
import type { ModelSignature } from './http/oip.js';
import type { Logger } from '../logger.js';
import type { AgentMetrics } from './metrics.js';
import { readPipeline } from './pipeline/load.js';
import type { Lease, ModelPool } from './pool.js';
import type { ModelStore } from './store/model-store.js';
import type { InstallRecord, StateDb } from './store/state-db.js';
import { pickVersion, variantProblems, type VariantConfig } from './variants.js';

/** One servable version: its install record, its signature, and its declared pipeline if any. */
export interface ServedVersion {
  record: InstallRecord;
  manifest: ArtifactManifest;
  signature: ModelSignature;
  pipeline?: PipelineSpec;
}

/** What runs requests on served versions: the HTTP API, async jobs and batch scoring use this. */
export interface VersionRunner {
  lookup(model: string, version?: string): ServedVersion;
  lease(served: ServedVersion): Promise<Lease>;
  run(served: ServedVersion, lease: Lease, inputs: NamedTensors): Promise<BatchRun>;
}

export interface RunnerDeps {
  db: StateDb;
  store: ModelStore;
  pool: ModelPool;
  metrics: AgentMetrics;
  log: Logger;
  batching: BatchingOptions;
  /** True once the agent is shutting down: new leases are refused. */
  closed(): boolean;
}

export class Runner implements VersionRunner {
  /** The current version of each served model. A swap is one `set`. */
  readonly routes = new Map<string, InstallRecord>();
  private readonly manifests = new Map<number, ArtifactManifest>();
  private readonly batchers = new Map<number, Batcher>();
  private readonly pipelines = new Map<number, PipelineSpec | null>();
  private readonly servedCache = new Map<number, ServedVersion>();
  private readonly variants = new Map<string, VariantConfig>();

  constructor(private readonly deps: RunnerDeps) {
    for (const r of deps.db.currentAll()) this.routes.set(r.model, r);
  }

  /** Names of the models served. */
  modelNames(): string[] {
    return [...this.routes.keys()].sort();
  }

  /** Versions of a model that can be asked for (current first, then kept ones). */
  versions(model: string): InstallRecord[] {
    const current = this.routes.get(model);
    const good = this.deps.db.installs({ model, states: ['good'] });
    return current ? [current, ...good.filter((r) => r.id !== current.id)] : good;
  }

  /** Remember a version's manifest (the installer has it already). */
  rememberManifest(id: number, manifest: ArtifactManifest): void {
    this.manifests.set(id, manifest);
  }

  /** Drop what was kept for a version (it failed, or was unloaded). */
  forget(id: number, what: 'batcher' | 'served'): void {
    if (what === 'batcher') this.batchers.delete(id);
    else this.servedCache.delete(id);
  }

  /** A version's manifest, read once. */
  manifestOf(record: InstallRecord): ArtifactManifest {
    let m = this.manifests.get(record.id);
    if (!m) {
      m = this.deps.store.manifestOf(record);
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
        throw notFound(
          `model '${model}' has no version '${version}'; available: ${this.versions(model)
            .map((r) => `'${r.version}'`)
            .join(', ')}`,
        );
      }
      record = found;
    }
    return this.served(record);
  }

  /** A version's served view, built once (install records and their files never change). */
  private served(record: InstallRecord): ServedVersion {
    let s = this.servedCache.get(record.id);
    if (!s) {
      const manifest = this.manifestOf(record);
      s = Object.freeze({
        record,
        manifest,
        signature: { name: record.model, inputs: manifest.inputs, outputs: manifest.outputs },
        pipeline: this.pipeline(record, manifest),
      });
      this.servedCache.set(record.id, s);
    }
    return s;
  }

  /** The pipeline an installed version declares (checked at install; read once). */
  private pipeline(record: InstallRecord, manifest: ArtifactManifest): PipelineSpec | undefined {
    let p = this.pipelines.get(record.id);
    if (p === undefined) {
      p = readPipeline(this.deps.store.dirOf(record), manifest) ?? null;
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

  /** A model's production variants now (undefined: none). */
  variantsOf(model: string): VariantConfig | undefined {
    return this.variants.get(model);
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
      this.deps.log.warn('A/B version not kept any more: serving the current one', { model, version: picked });
    }
    return this.lookup(model, version);
  }

  /** Lease a version for one request (loads it on first use). Counted at once: a swap waits for it. */
  lease(served: ServedVersion): Promise<Lease> {
    if (this.deps.closed()) return Promise.reject(new RequestError(503, 'the agent is shutting down'));
    return this.deps.pool.acquire(served.record);
  }

  /**
   * Run checked inputs on a leased version: batched with concurrent requests when batching is on
   * and the model allows it, else alone. Counts each model run's rows in the batch size metric.
   */
  run(served: ServedVersion, lease: Lease, inputs: NamedTensors): Promise<BatchRun> {
    const labels = { model: served.record.model, version: served.record.version };
    const { batching, metrics } = this.deps;
    if (batching.maxBatchSize > 1 && isBatchable(served.manifest.inputs, served.manifest.outputs)) {
      let b = this.batchers.get(served.record.id);
      if (!b) {
        b = new Batcher(batching, (rows) => metrics.batchSize.observe(labels, rows));
        this.batchers.set(served.record.id, b);
      }
      return b.submit(inputs, (feeds) => lease.handle.run(feeds));
    }
    const t0 = performance.now();
    return lease.handle.run(inputs).then((outputs) => {
      const first = Object.values(inputs)[0];
      const rows = first?.dims.length ? first.dims[0] : 1;
      metrics.batchSize.observe(labels, rows);
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
}
