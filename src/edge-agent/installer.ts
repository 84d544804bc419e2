/**
 * Installs: check, unpack, probation (load beside the serving version, one warm-up inference),
 * promote, switch traffic, retire the old version; plus rollback, and the fall back from a current
 * version whose installed files no longer check out. Installs run one at a time.
 */
import { resolve } from 'node:path';
import { KilnError } from '../errors.js';
import type { ArtifactManifest } from '../protocol/manifest.js';
import type { LoadedModelHandle, NamedTensors } from '../runtime/backend.js';
import type { Logger } from '../logger.js';
import { readPipeline } from './pipeline/load.js';
import type { Lease, ModelPool } from './pool.js';
import type { Runner } from './runner.js';
import type { RuntimeChoice } from './runtime.js';
import type { ModelStore, StoreHooks } from './store/model-store.js';
import type { InstallRecord, StateDb } from './store/state-db.js';
import type { Telemetry } from './telemetry.js';
import { zeroTensor } from './tensors.js';

export type InstallResult =
  | { state: 'promoted'; model: string; version: string; installId: number; replaced?: string; ms: number }
  | { state: 'unchanged'; model: string; version: string; installId: number; ms: number }
  /** `serve: false`: good and kept, serving nothing. */
  | { state: 'kept'; model: string; version: string; installId: number; ms: number };

export interface AgentEvents {
  'model-swapped': [{ model: string; from?: string; to: string }];
  'install-failed': [{ source: string; model?: string; error: KilnError }];
}

export interface InstallerDeps {
  store: ModelStore;
  db: StateDb;
  pool: ModelPool;
  runner: Runner;
  telemetry: Telemetry;
  log: Logger;
  hooks?: StoreHooks;
  /** Installs are allowed only to the agent that owns its data dir. */
  exclusive: boolean;
  emit<E extends keyof AgentEvents>(event: E, ...args: AgentEvents[E]): void;
  /** The served models changed: refit the memory budget. */
  routesChanged(): void;
  /** How a loaded version runs, for the install telemetry. */
  runtimeOf(id: number): RuntimeChoice | undefined;
}

/** A KilnError for an install that failed after its checks (load, warm-up). */
export const installError = (what: string, err: unknown): KilnError =>
  new KilnError('AGENT_INSTALL', `${what}: ${err instanceof Error ? err.message : String(err)}`, { hint: 'the previous version keeps serving', cause: err });

export class Installer {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: InstallerDeps) {}

  /** Queue an install behind the ones running (see Agent.install). */
  install(path: string, serve: boolean): Promise<InstallResult> {
    const run = this.chain.then(() => this.installNow(path, serve));
    this.chain = run.catch(() => {});
    return run;
  }

  /** Resolves when the installs queued so far have ended. */
  drain(): Promise<unknown> {
    return this.chain.catch(() => {});
  }

  private async installNow(path: string, serve: boolean): Promise<InstallResult> {
    const { store, pool, runner, telemetry, log, hooks } = this.deps;
    const t0 = performance.now();
    if (!this.deps.exclusive) throw new KilnError('AGENT_STATE', `cannot install ${path}: this agent does not own its data dir (exclusive: false)`);
    const source = resolve(path);
    let staged;
    try {
      staged = await store.stage(source);
    } catch (err) {
      const e = err instanceof KilnError ? err : installError(source, err);
      telemetry.reportInstall({ source, result: 'refused', error: e.message });
      this.deps.emit('install-failed', { source, error: e });
      throw e;
    }
    const { record, manifest } = staged;
    const at = { model: record.model, version: record.version };
    const step = async (s: 'loaded' | 'warmed') => hooks?.onStep?.(s, at);
    const current = runner.routes.get(record.model);
    if (staged.state === 'present' && (current?.id === record.id || (!serve && record.state === 'good'))) {
      telemetry.reportInstall({ source, ...at, result: 'unchanged' });
      return { state: 'unchanged', ...at, installId: record.id, ms: performance.now() - t0 };
    }
    // Probation: loaded beside the serving version, and one warm-up inference must answer.
    let lease: Lease | undefined;
    try {
      lease = await pool.acquire(record);
      await step('loaded');
      await warmUp(lease.handle, manifest, store.dirOf(record));
      await step('warmed');
      lease.release();
    } catch (err) {
      lease?.release();
      pool.retire(record.id);
      const e = installError(`${record.model} ${record.version} (${source}) failed probation`, err);
      if (staged.state === 'staged') store.fail(record, e.message);
      telemetry.reportInstall({ source, ...at, result: 'failed', error: e.message });
      this.deps.emit('install-failed', { source, model: record.model, error: e });
      throw Object.assign(e, { model: record.model });
    }
    runner.rememberManifest(record.id, manifest);
    if (!serve && current && current.id !== record.id) {
      store.keepBeside(record);
      await store.prune(record.model);
      telemetry.reportInstall({ source, ...at, result: 'kept', runtime: this.deps.runtimeOf(record.id) });
      log.info('model version kept beside the serving one', { ...at, serving: current.version });
      return { state: 'kept', ...at, installId: record.id, ms: performance.now() - t0 };
    }
    const before = await store.promote(record);
    // The switch: one assignment. Requests that already hold a lease on the old version finish there.
    runner.routes.set(record.model, record);
    if (current && current.id !== record.id) pool.retire(current.id);
    await store.prune(record.model);
    this.deps.routesChanged();
    telemetry.metrics.swaps.inc({ model: record.model });
    telemetry.reportInstall({ source, ...at, result: 'promoted', replaced: before?.version, runtime: this.deps.runtimeOf(record.id) });
    log.info('model version serving', { ...at, replaced: before?.version });
    this.deps.emit('model-swapped', { model: record.model, from: current?.version, to: record.version });
    return { state: 'promoted', ...at, installId: record.id, replaced: before?.version, ms: performance.now() - t0 };
  }

  /**
   * The current version of a model cannot be used (its installed files fail their check): mark it
   * failed and serve the newest other good version, if any.
   */
  fallBack(record: InstallRecord, reason: string): void {
    const { db, runner, telemetry, log } = this.deps;
    if (!this.deps.exclusive || runner.routes.get(record.model)?.id !== record.id) return;
    const next = db.installs({ model: record.model, states: ['good'] }).find((r) => r.id !== record.id);
    db.transaction(() => {
      db.setInstallState(record.id, 'failed', reason);
      db.setCurrent(record.model, next?.id);
    });
    if (next) runner.routes.set(record.model, next);
    else runner.routes.delete(record.model);
    runner.forget(record.id, 'served');
    telemetry.metrics.swaps.inc({ model: record.model });
    telemetry.reportInstall({ source: this.deps.store.dirOf(record), model: record.model, version: record.version, result: 'rolled-back', error: reason });
    log.error('installed version unusable: serving the previous good one', { model: record.model, version: record.version, now: next?.version ?? null });
    this.deps.emit('model-swapped', { model: record.model, from: record.version, to: next?.version ?? '' });
  }

  /** Make an earlier kept version current again (loaded on first use). */
  rollback(model: string, version?: string): InstallRecord {
    const { runner, pool } = this.deps;
    const before = runner.routes.get(model);
    const target = this.deps.store.rollback(model, version);
    runner.routes.set(model, target);
    if (before && before.id !== target.id) pool.retire(before.id);
    this.deps.telemetry.metrics.swaps.inc({ model });
    this.deps.emit('model-swapped', { model, from: before?.version, to: target.version });
    return target;
  }
}

/** Probation's check: the model has the manifest's inputs, and a zero-filled inference answers every declared output. */
async function warmUp(handle: LoadedModelHandle, manifest: ArtifactManifest, dir: string): Promise<void> {
  readPipeline(dir, manifest);
  const names = new Set(handle.inputs.map((i) => i.name));
  const missing = manifest.inputs.filter((i) => !names.has(i.name));
  if (handle.inputs.length && missing.length)
    throw new KilnError(
      'AGENT_INSTALL',
      `the model has no input${missing.length > 1 ? 's' : ''} ${missing.map((i) => `'${i.name}'`).join(', ')} that its manifest declares`,
      { hint: 'the previous version keeps serving' },
    );
  const feeds: NamedTensors = Object.fromEntries(manifest.inputs.map((spec) => [spec.name, zeroTensor(spec)]));
  const out = await handle.run(feeds);
  const absent = manifest.outputs.filter((o) => !out[o.name]);
  if (absent.length)
    throw new KilnError('AGENT_INSTALL', `the warm-up inference returned no ${absent.map((o) => `'${o.name}'`).join(', ')}`, {
      hint: 'the previous version keeps serving',
    });
}
