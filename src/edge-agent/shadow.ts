/**
 * Shadow runs: a served request copied to the model's shadow version, the two answers compared and
 * counted, never returned. At most one shadow run per model at a time, so the shadow cannot slow
 * the serving path down.
 */
import type { NamedTensors } from '../runtime/backend.js';
import type { Logger } from '../logger.js';
import type { ModelPool } from './pool.js';
import type { Runner, ServedVersion } from './runner.js';
import type { Telemetry } from './telemetry.js';
import { compareOutputs } from './variants.js';

export interface ShadowDeps {
  runner: Runner;
  pool: ModelPool;
  telemetry: Telemetry;
  log: Logger;
  /** True once the agent is shutting down: no new copies, and a run cut short counts for nothing. */
  closed(): boolean;
}

export class Shadow {
  private readonly busy = new Set<string>();

  constructor(private readonly deps: ShadowDeps) {}

  /** Whether requests to this model are copied to a shadow version (callers keep the inputs alive for it). */
  has(model: string): boolean {
    return this.deps.runner.variantsOf(model)?.shadow !== undefined;
  }

  /**
   * Copy a served request to the model's shadow version and compare the answers.
   * A copy not made (one already running, the version not kept) is *skipped*: not the shadow's fault.
   * A run that throws (load or model error) or answers none of the served outputs *failed*: counted
   * per minute as the shadow's `errors`, which the cloud judges (error-rate) like a serving version's.
   */
  async run(served: ServedVersion, inputs: NamedTensors, outputs: NamedTensors, servingSeconds: number): Promise<void> {
    const { runner, pool, telemetry, log, closed } = this.deps;
    const model = served.record.model;
    const shadowVersion = runner.variantsOf(model)?.shadow;
    if (shadowVersion === undefined || shadowVersion === served.record.version || closed()) return;
    if (this.busy.has(model)) {
      telemetry.metrics.shadowSkipped.inc({ model, reason: 'busy' });
      return;
    }
    let target: ServedVersion;
    try {
      target = runner.lookup(model, shadowVersion);
    } catch {
      telemetry.metrics.shadowSkipped.inc({ model, reason: 'version-missing' });
      return;
    }
    this.busy.add(model);
    try {
      const lease = await pool.acquire(target.record);
      let shadowOut: NamedTensors;
      const t0 = performance.now();
      try {
        shadowOut = await lease.handle.run(inputs);
      } finally {
        lease.release();
      }
      const shadowSeconds = (performance.now() - t0) / 1000;
      const outputNames = Object.keys(outputs);
      if (outputNames.length && outputNames.every((name) => !shadowOut?.[name]))
        throw new TypeError(`the shadow answered none of the served outputs (${outputNames.join(', ')})`);
      telemetry.recordShadow(model, served.record.version, shadowVersion, compareOutputs(outputs, shadowOut), shadowSeconds, servingSeconds);
    } catch (err) {
      // A run cut short by shutdown says nothing about the shadow version.
      if (closed()) return;
      telemetry.recordShadowFailure(model, served.record.version, shadowVersion);
      log.warn('shadow run failed', { model, shadow: shadowVersion, error: (err as Error).message });
    } finally {
      this.busy.delete(model);
    }
  }
}
