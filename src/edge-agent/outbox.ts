/**
 * The outbox: what the cloud will want, kept in the state DB while the device is offline. Rows
 * have their own ids (UUIDs the cloud de-duplicates on) and a local order. A retention policy bounds
 * it: past `maxRows`, the oldest per-minute metric aggregates go first, then the oldest rows of any
 * kind; every drop is counted (metric and a persisted counter). The sync issue drains it.
 */
import { randomUUID } from 'node:crypto';
import type { OutboxRow, StateDb } from './store/state-db.js';
import { LATENCY_BUCKETS } from './metrics.js';
import { OUTPUT_HISTOGRAM_BUCKETS } from '../protocol/sync.js';
import { DEFAULTS } from '../defaults.js';

export const OUTBOX_KINDS = Object.freeze({
  /** Per-minute metric aggregates per model and version. */
  metrics: 'metrics.minute',
  /** The result of one install: promoted, unchanged, refused or failed, and why. */
  install: 'install.result',
  /** Per-minute shadow comparisons and failed shadow runs per model, serving version and shadow version. */
  shadow: 'shadow.minute',
});

export interface OutboxOptions {
  /** Most rows kept. @default 10000 */
  maxRows?: number;
  /** Told of each drop. */
  onDrop?(kind: string, count: number): void;
}

export class Outbox {
  readonly maxRows: number;

  constructor(
    private readonly db: StateDb,
    private readonly options: OutboxOptions = {},
  ) {
    this.maxRows = options.maxRows ?? DEFAULTS.outboxMaxRows;
    if (!Number.isInteger(this.maxRows) || this.maxRows < 1) throw new RangeError(`outbox maxRows must be an integer ≥ 1 (got ${options.maxRows})`);
  }

  /** Add a row; returns its id. */
  add(kind: string, payload: unknown, createdAt?: string): string {
    const id = randomUUID();
    this.db.transaction(() => {
      this.db.outboxAdd(id, kind, payload, createdAt);
      this.enforce();
    });
    return id;
  }

  /** Apply the retention policy now; returns the rows dropped by kind. */
  enforce(): Record<string, number> {
    let over = this.db.outboxCount() - this.maxRows;
    if (over <= 0) return {};
    const dropped = this.db.outboxDropOldest(over, OUTBOX_KINDS.metrics);
    over -= Object.values(dropped).reduce((a, b) => a + b, 0);
    if (over > 0) for (const [k, n] of Object.entries(this.db.outboxDropOldest(over))) dropped[k] = (dropped[k] ?? 0) + n;
    for (const [kind, n] of Object.entries(dropped)) {
      this.db.addCounter(`outbox.dropped.${kind}`, n);
      this.options.onDrop?.(kind, n);
    }
    return dropped;
  }

  /** Oldest rows first. */
  peek(limit = 100, kind?: string): OutboxRow[] {
    return this.db.outboxPeek(limit, kind);
  }

  /** Remove rows the cloud has acknowledged. */
  ack(ids: readonly string[]): number {
    return this.db.outboxDelete(ids);
  }

  count(kind?: string): number {
    return this.db.outboxCount(kind);
  }

  /** Rows dropped by retention since the data dir was created, by kind. */
  dropped(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.db.counters('outbox.dropped.')).map(([k, v]) => [k.slice('outbox.dropped.'.length), v]));
  }
}

export interface RequestSample {
  ok: boolean;
  /** Seconds in the model run (0 when it never ran). */
  modelSeconds: number;
  /** Request seconds minus model seconds. */
  overheadSeconds: number;
  batch: number;
  /** Output histogram buckets of the answer's rows (see OUTPUT_HISTOGRAM_BUCKETS), when it has an output. */
  top1?: readonly number[];
}

interface Acc {
  minute: number;
  model: string;
  version: string;
  invocations: number;
  errors: number;
  batchItems: number;
  model_: { sum: number; max: number; buckets: number[] };
  overhead: { sum: number; max: number; buckets: number[] };
  /** Rows per output histogram bucket; null until a request brought one. */
  top1: number[] | null;
}

const newStat = () => ({ sum: 0, max: 0, buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0) });

function addStat(s: { sum: number; max: number; buckets: number[] }, v: number): void {
  s.sum += v;
  if (v > s.max) s.max = v;
  let i = LATENCY_BUCKETS.findIndex((b) => v <= b);
  if (i === -1) i = LATENCY_BUCKETS.length;
  s.buckets[i]++;
}

/** Approximate quantile (upper bucket bound) from bucket counts. */
function quantile(buckets: number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (!total) return null;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i];
    if (seen >= q * total) return i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i] : Infinity;
  }
  return null;
}

const summary = (s: { sum: number; max: number; buckets: number[] }, n: number) => ({
  meanMs: n ? (s.sum / n) * 1000 : null,
  maxMs: s.max * 1000,
  p50LeMs: (quantile(s.buckets, 0.5) ?? 0) * 1000,
  p95LeMs: (quantile(s.buckets, 0.95) ?? 0) * 1000,
  // The deployment gates' latency alarm is on p99.
  p99LeMs: (quantile(s.buckets, 0.99) ?? 0) * 1000,
});

interface ShadowAcc {
  minute: number;
  model: string;
  version: string;
  shadow: string;
  comparisons: number;
  /** Shadow runs that failed (threw, or answered none of the served outputs): nothing compared. */
  errors: number;
  rows: number;
  top1Agree: number;
  maxAbsDiff: number;
  shadowSeconds: number;
  servingSeconds: number;
  shadowLatency: { sum: number; max: number; buckets: number[] };
}

/** Per-minute aggregates per (model, version), written to the outbox when a minute closes. */
export class MinuteAggregator {
  private readonly acc = new Map<string, Acc>();
  private readonly shadows = new Map<string, ShadowAcc>();

  constructor(
    private readonly outbox: Outbox,
    private readonly now: () => number = Date.now,
  ) {}

  record(model: string, version: string, s: RequestSample): void {
    const minute = Math.floor(this.now() / 60_000);
    const key = `${minute}\u0000${model}\u0000${version}`;
    let a = this.acc.get(key);
    if (!a) {
      a = { minute, model, version, invocations: 0, errors: 0, batchItems: 0, model_: newStat(), overhead: newStat(), top1: null };
      this.acc.set(key, a);
    }
    if (s.ok) {
      a.invocations++;
      a.batchItems += s.batch;
      addStat(a.model_, s.modelSeconds);
      addStat(a.overhead, s.overheadSeconds);
      if (s.top1?.length) {
        a.top1 ??= new Array<number>(OUTPUT_HISTOGRAM_BUCKETS).fill(0);
        for (const b of s.top1) if (b >= 0 && b < OUTPUT_HISTOGRAM_BUCKETS) a.top1[b]++;
      }
    } else a.errors++;
  }

  /** A shadow run that answered and was compared with the served answer. */
  recordShadow(
    model: string,
    version: string,
    shadow: string,
    c: { rows: number; top1Agree: number; maxAbsDiff: number; shadowSeconds: number; servingSeconds: number },
  ): void {
    const a = this.shadowAcc(model, version, shadow);
    a.comparisons++;
    a.rows += c.rows;
    a.top1Agree += c.top1Agree;
    a.maxAbsDiff = Math.max(a.maxAbsDiff, c.maxAbsDiff);
    a.shadowSeconds += c.shadowSeconds;
    a.servingSeconds += c.servingSeconds;
    addStat(a.shadowLatency, c.shadowSeconds);
  }

  /**
   * A shadow run that failed (the model threw, or answered none of the served outputs): an error of
   * the shadow version. Copies skipped (one already running, the version missing) are not recorded.
   */
  recordShadowFailure(model: string, version: string, shadow: string): void {
    this.shadowAcc(model, version, shadow).errors++;
  }

  private shadowAcc(model: string, version: string, shadow: string): ShadowAcc {
    const minute = Math.floor(this.now() / 60_000);
    const key = `${minute}\u0000${model}\u0000${version}\u0000${shadow}`;
    let a = this.shadows.get(key);
    if (!a) {
      a = {
        minute,
        model,
        version,
        shadow,
        comparisons: 0,
        errors: 0,
        rows: 0,
        top1Agree: 0,
        maxAbsDiff: 0,
        shadowSeconds: 0,
        servingSeconds: 0,
        shadowLatency: newStat(),
      };
      this.shadows.set(key, a);
    }
    return a;
  }

  /** Write the minutes that have closed (all of them with `all`). Returns rows written. */
  flush(all = false): number {
    const current = all ? Infinity : Math.floor(this.now() / 60_000);
    let n = 0;
    for (const a of takeClosed(this.shadows, current)) {
      this.outbox.add(OUTBOX_KINDS.shadow, {
        minute: new Date(a.minute * 60_000).toISOString(),
        model: a.model,
        version: a.version,
        shadow: a.shadow,
        comparisons: a.comparisons,
        errors: a.errors,
        rows: a.rows,
        top1Agree: a.top1Agree,
        top1Agreement: a.rows ? a.top1Agree / a.rows : null,
        maxAbsDiff: Number.isFinite(a.maxAbsDiff) ? a.maxAbsDiff : 'Infinity',
        // A minute of failed runs only has no latency to report.
        meanServingMs: a.comparisons ? (a.servingSeconds / a.comparisons) * 1000 : null,
        meanShadowMs: a.comparisons ? (a.shadowSeconds / a.comparisons) * 1000 : null,
        shadowLatency: a.comparisons ? summary(a.shadowLatency, a.comparisons) : null,
      });
      n++;
    }
    for (const a of takeClosed(this.acc, current)) {
      this.outbox.add(OUTBOX_KINDS.metrics, {
        minute: new Date(a.minute * 60_000).toISOString(),
        model: a.model,
        version: a.version,
        invocations: a.invocations,
        errors: a.errors,
        batchItems: a.batchItems,
        modelLatency: summary(a.model_, a.invocations),
        overheadLatency: summary(a.overhead, a.invocations),
        ...(a.top1 ? { top1: a.top1 } : {}),
      });
      n++;
    }
    return n;
  }
}

/** Remove and yield the aggregates of minutes before `current` (every one when it is Infinity). */
function* takeClosed<T extends { minute: number }>(map: Map<string, T>, current: number): Generator<T> {
  for (const [key, a] of map) {
    if (a.minute >= current) continue;
    map.delete(key);
    yield a;
  }
}
