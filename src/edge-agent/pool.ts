/**
 * The loader: loaded model versions, keyed by install id. A version is loaded on first use (one
 * load shared by concurrent first requests), leased by each request for the length of its run,
 * and released only once no lease is out. When the loaded versions' estimated memory would exceed
 * the budget, the least recently used idle version is unloaded first.
 *
 * Hot swap is built on the leases: the agent points a model's route at the new version (one
 * assignment), then `retire`s the old one, which is released when its last in-flight request ends.
 */
import type { LoadedModelHandle } from '../runtime/backend.js';
import type { InstallRecord } from './store/state-db.js';

export interface Lease {
  readonly record: InstallRecord;
  readonly handle: LoadedModelHandle;
  /** Give the version back. Call exactly once. */
  release(): void;
}

export type PoolEvent =
  | { kind: 'loaded'; record: InstallRecord; ms: number }
  | { kind: 'load-failed'; record: InstallRecord; error: unknown }
  | { kind: 'unloaded'; record: InstallRecord; reason: 'evicted' | 'retired' | 'closed' };

export interface ModelPoolOptions {
  /** Load a version (read, check, create the session). */
  load(record: InstallRecord): Promise<LoadedModelHandle>;
  /** Most bytes of loaded models (estimated by model file size) before LRU unloading. */
  budgetBytes: number;
  onEvent?(event: PoolEvent): void;
}

interface Entry {
  record: InstallRecord;
  handle?: LoadedModelHandle;
  loading?: Promise<LoadedModelHandle>;
  inflight: number;
  lastUsed: number;
  /** Out of the pool: release the handle when the last lease is back. */
  retired: boolean;
  removedFor?: 'evicted' | 'retired' | 'closed';
  released: boolean;
}

export class ModelPool {
  private readonly entries = new Map<number, Entry>();
  private tick = 0;
  private idleWaiters: (() => void)[] = [];
  budgetBytes: number;

  constructor(private readonly options: ModelPoolOptions) {
    this.budgetBytes = options.budgetBytes;
  }

  /** Estimated bytes of the versions loaded or loading. */
  get loadedBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.handle || e.loading) n += e.record.sizeBytes;
    return n;
  }

  /** Install ids loaded now. */
  loadedIds(): number[] {
    return [...this.entries.values()].filter((e) => e.handle).map((e) => e.record.id);
  }

  isLoaded(id: number): boolean {
    return !!this.entries.get(id)?.handle;
  }

  /** In-flight leases on a version (0 when it is not in the pool). */
  inflight(id: number): number {
    return this.entries.get(id)?.inflight ?? 0;
  }

  /**
   * Lease a version, loading it first if needed. The lease is counted before any await, so a
   * `retire` that follows this call in the same tick waits for it.
   */
  async acquire(record: InstallRecord): Promise<Lease> {
    let e = this.entries.get(record.id);
    if (!e) {
      e = { record, inflight: 0, lastUsed: 0, retired: false, released: false };
      this.entries.set(record.id, e);
    }
    const entry = e;
    entry.inflight++;
    entry.lastUsed = ++this.tick;
    let handle: LoadedModelHandle;
    try {
      handle = entry.handle ?? (await (entry.loading ??= this.startLoad(entry)));
    } catch (err) {
      entry.inflight--;
      this.settle(entry);
      throw err;
    }
    let returned = false;
    return {
      record,
      handle,
      release: () => {
        if (returned) return;
        returned = true;
        entry.inflight--;
        entry.lastUsed = ++this.tick;
        this.settle(entry);
      },
    };
  }

  private async startLoad(e: Entry): Promise<LoadedModelHandle> {
    this.makeRoom(e.record.sizeBytes, e);
    const started = performance.now();
    try {
      const handle = await this.options.load(e.record);
      e.handle = handle;
      e.loading = undefined;
      this.options.onEvent?.({ kind: 'loaded', record: e.record, ms: performance.now() - started });
      if (e.retired) this.settle(e);
      return handle;
    } catch (err) {
      e.loading = undefined;
      if (this.entries.get(e.record.id) === e) this.entries.delete(e.record.id);
      this.options.onEvent?.({ kind: 'load-failed', record: e.record, error: err });
      throw err;
    }
  }

  /** Unload idle least-recently-used versions until `incoming` more bytes fit the budget. */
  private makeRoom(incoming: number, except?: Entry): void {
    let total = this.loadedBytes + (except && !except.handle && !except.loading ? incoming : 0);
    if (total <= this.budgetBytes) return;
    const idle = [...this.entries.values()].filter((e) => e !== except && e.handle && e.inflight === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    for (const e of idle) {
      if (total <= this.budgetBytes) break;
      total -= e.record.sizeBytes;
      this.remove(e, 'evicted');
    }
  }

  /** Take a version out of the pool; it is released once its in-flight requests end. */
  retire(id: number): void {
    const e = this.entries.get(id);
    if (e) this.remove(e, 'retired');
  }

  private remove(e: Entry, reason: 'evicted' | 'retired' | 'closed'): void {
    if (this.entries.get(e.record.id) === e) this.entries.delete(e.record.id);
    e.retired = true;
    e.removedFor ??= reason;
    this.settle(e);
  }

  private settle(e: Entry): void {
    if (e.retired && e.inflight === 0 && e.handle && !e.released) {
      e.released = true;
      const handle = e.handle;
      e.handle = undefined;
      void handle.release().catch(() => {});
      this.options.onEvent?.({ kind: 'unloaded', record: e.record, reason: e.removedFor ?? 'retired' });
    }
    if (e.inflight === 0 && this.idleWaiters.length && [...this.entries.values()].every((x) => x.inflight === 0)) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Release everything, after the requests in flight finish. */
  async close(): Promise<void> {
    const all = [...this.entries.values()];
    if (all.some((e) => e.inflight > 0)) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    // Loads still in progress finish first, so their sessions are released too.
    await Promise.allSettled(all.map((e) => e.loading));
    for (const e of all) this.remove(e, 'closed');
  }
}
