/**
 * A STAND-IN for the edge agent, for fleet benchmarks (bench/rollout.ts): exactly what SyncClient
 * uses of an Agent (`SyncAgent`), with no onnxruntime, no model store and no SQLite, so one process
 * can host hundreds of devices each running the real SyncClient (real MQTT session, real desired-state
 * reconciliation, real artifact download and verification).
 *
 * What is real and what is not:
 * - download and verification are the SyncClient's own (Reconciler: HTTP download, sha256, ed25519
 *   signature, signer, model name and version) — they run before `install` is called;
 * - `install` reads manifest.json from the verified archive and makes that version current. It does
 *   NOT unpack to disk, load the model, run a warm-up inference or fsync anything: an install here
 *   costs microseconds where a real one costs a model load;
 * - `rollback` switches to a kept version, as the Agent does (no download);
 * - traffic is synthetic: `serve()` counts `requestsPerSecond` pretend requests for the serving
 *   version, of which `errorRates[version]` fail, with a fixed pretend latency, and writes one
 *   'metrics.minute' outbox record (the Agent's MinuteAggregator payload shape) per call. The real
 *   agent writes one record per model and version per closed minute; the stand-in writes deltas for
 *   the current minute every call, so the cloud (which sums records over its window) sees the same
 *   totals sooner;
 * - the outbox is in memory (ids, order, ack by id, as the real one; no retention policy, no disk).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { unpackEntries } from '../src/protocol/archive.js';
import { MANIFEST_FILE } from '../src/protocol/artifact.js';
import type { OutboxRow } from '../src/edge-agent/store/state-db.js';
import type { SyncAgent } from '../src/edge-agent/sync/index.js';
import type { VariantConfig } from '../src/edge-agent/variants.js';

export interface StandInAgentOptions {
  /** Where the SyncClient downloads artifacts (`<dataDir>/sync/downloads`). */
  dataDir: string;
  /** The one model this device serves. */
  model: string;
  /** The version serving at start (as if installed earlier). */
  initialVersion: string;
  /** Fraction of pretend requests that fail, per version (others: 0). @default {} */
  errorRates?: Readonly<Record<string, number>>;
  /** Pretend requests per second. @default 10 */
  requestsPerSecond?: number;
  /** Pretend model latency, ms. @default 4 */
  latencyMs?: number;
  /** Versions kept besides the current one. @default 3 */
  keepVersions?: number;
}

/** The in-memory outbox: rows in order, deleted only when acknowledged by id. */
export class StandInOutbox {
  private seq = 0;
  private readonly rows = new Map<string, OutboxRow>();

  add(kind: string, payload: unknown): string {
    const id = randomUUID();
    this.rows.set(id, { seq: ++this.seq, id, kind, createdAt: new Date().toISOString(), payload });
    return id;
  }

  /** Oldest rows first (a Map keeps insertion order). */
  peek(limit = 100, kind?: string): OutboxRow[] {
    const out: OutboxRow[] = [];
    for (const r of this.rows.values()) {
      if (out.length >= limit) break;
      if (kind === undefined || r.kind === kind) out.push(r);
    }
    return out;
  }

  ack(ids: readonly string[]): number {
    let n = 0;
    for (const id of ids) if (this.rows.delete(id)) n++;
    return n;
  }

  count(): number {
    return this.rows.size;
  }
}

/** A stand-in agent: see the file comment for what it does and does not do. */
export class StandInAgent implements SyncAgent {
  readonly dataDir: string;
  readonly outbox = new StandInOutbox();
  readonly model: string;
  /** Installs through `install` (not rollbacks). */
  installs = 0;
  /** The last variant config the desired state set (the stand-in serves the current version only). */
  variants?: VariantConfig;
  private kept: string[];
  private lastServe = Date.now();
  private readonly o: Required<Pick<StandInAgentOptions, 'errorRates' | 'requestsPerSecond' | 'latencyMs' | 'keepVersions'>>;

  constructor(options: StandInAgentOptions) {
    this.dataDir = options.dataDir;
    this.model = options.model;
    this.kept = [options.initialVersion];
    this.o = {
      errorRates: {},
      requestsPerSecond: 10,
      latencyMs: 4,
      keepVersions: 3,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    };
  }

  /** The serving version. */
  get serving(): string | undefined {
    return this.kept[0];
  }

  versions(model: string): readonly { version: string }[] {
    return model === this.model ? this.kept.map((version) => ({ version })) : [];
  }

  rollback(model: string, version?: string): { version: string } {
    const target = version ?? this.kept[1];
    if (model !== this.model || target === undefined || !this.kept.includes(target))
      throw new RangeError(`stand-in: no kept version ${version ?? '(previous)'} of '${model}'`);
    this.kept = [target, ...this.kept.filter((v) => v !== target)];
    return { version: target };
  }

  modelNames(): string[] {
    return this.kept.length ? [this.model] : [];
  }

  variantsOf(model: string): VariantConfig | undefined {
    return model === this.model ? this.variants : undefined;
  }

  /**
   * The archive was verified by the Reconciler already: read its manifest and make that version
   * current (`serve: false`: keep it beside the current one, as the Agent does for a shadow).
   */
  async install(path: string, options: { serve?: boolean } = {}): Promise<{ state: 'promoted'; model: string; version: string }> {
    const entry = unpackEntries(readFileSync(path), path).find((e) => e.path === MANIFEST_FILE);
    if (!entry) throw new Error(`stand-in: ${path} has no ${MANIFEST_FILE}`);
    const m = (JSON.parse(Buffer.from(entry.data).toString('utf8')) as { model: { name: string; version: string } }).model;
    if (m.name !== this.model) throw new Error(`stand-in: the artifact is model '${m.name}', this device serves '${this.model}'`);
    const others = this.kept.filter((v) => v !== m.version);
    this.kept = (options.serve === false && others.length ? [others[0], m.version, ...others.slice(1)] : [m.version, ...others]).slice(
      0,
      this.o.keepVersions + 1,
    );
    this.installs++;
    return { state: 'promoted', model: m.name, version: m.version };
  }

  setVariants(model: string, config: VariantConfig | undefined): void {
    if (model === this.model) this.variants = config;
  }

  /** Pretend traffic since the last call, on the serving version: one metrics record (deltas). */
  serve(now = Date.now()): void {
    const version = this.serving;
    const seconds = (now - this.lastServe) / 1000;
    this.lastServe = now;
    if (!version || seconds <= 0) return;
    const requests = Math.max(1, Math.round(seconds * this.o.requestsPerSecond));
    const errors = Math.round(requests * (this.o.errorRates[version] ?? 0));
    const invocations = requests - errors;
    const ms = this.o.latencyMs;
    const lat = { meanMs: ms, maxMs: ms, p50LeMs: ms, p95LeMs: ms };
    this.outbox.add('metrics.minute', {
      minute: new Date(Math.floor(now / 60_000) * 60_000).toISOString(),
      model: this.model,
      version,
      invocations,
      errors,
      batchItems: invocations,
      modelLatency: lat,
      overheadLatency: { meanMs: 0.1, maxMs: 0.1, p50LeMs: 0.1, p95LeMs: 0.1 },
      standIn: true,
    });
  }
}
