/**
 * The rollout engine's on-device A/B strategy and its model-aware gates (agreement measured against the
 * baseline run as a shadow, output-distribution shift), driven against the in-memory SimulatedFleet.
 */
import { describe, expect, it } from 'vitest';
import { desiredFor, RolloutSpecError, validateSpec, type DeploymentSpec, type RolloutAction } from '../../src/cloud/rollout/index.js';
import { expectKilnError } from '../shared/kiln-error.js';
import { SimulatedFleet, ids, run } from './rollout-simulated-fleet.js';

const mk = (strategy: unknown, guardrails: unknown = {}): DeploymentSpec =>
  validateSpec({ id: 'dep-ab', model: 'kws', fromVersion: 'v1', toVersion: 'v2', devices: ids(10), strategy, guardrails });
const sets = (acts: RolloutAction[]) => acts.filter((a): a is Extract<RolloutAction, { type: 'set-desired' }> => a.type === 'set-desired');

describe('on-device A/B', () => {
  it('sends every device both versions with the candidate’s weight, then bakes until a command', () => {
    const spec = mk({ kind: 'ab', percent: 10 });
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const r = run(spec, fleet, { maxTicks: 20, until: () => false });
    expect(r.state.status).toMatchObject({ phase: 'baking', step: 0, until: null });
    expect(sets(r.actions)).toHaveLength(10);
    for (const a of sets(r.actions)) expect(a).toMatchObject({ version: 'v2', variants: { v1: 90, v2: 10 } });
    expect(a_shadow(r.actions)).toBe(false);
    // Both versions take requests on every device: the simulated telemetry splits them 90/10.
    const obs = fleet.observe();
    expect(obs.devices['dev-000']?.telemetry).toMatchObject({ v1: { requests: 180 }, v2: { requests: 20 } });
  });

  it('promote puts everyone on the candidate alone; rollback puts everyone back', () => {
    const spec = mk({ kind: 'ab', percent: 10 });
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const promoted = run(spec, fleet, { commands: { 5: { kind: 'promote' } } });
    expect(promoted.state.status.phase).toBe('promoted');
    expect(
      sets(promoted.log.at(-1)!.actions)
        .concat(sets(promoted.log.at(-2)?.actions ?? []))
        .some((a) => a.variants === undefined && a.version === 'v2'),
    ).toBe(true);
    expect(fleet.servingCount('v2')).toBe(10);
    expect([...fleet.devices.values()].every((d) => d.weights === undefined)).toBe(true);

    const fleet2 = new SimulatedFleet('kws', spec.devices, 'v1');
    const back = run(spec, fleet2, { commands: { 5: { kind: 'rollback', reason: 'experiment over' } } });
    expect(back.state.status).toMatchObject({ phase: 'rolled-back', reason: 'manual: experiment over' });
    expect(fleet2.servingCount('v1')).toBe(10);
    expect([...fleet2.devices.values()].every((d) => d.version === 'v1' && d.weights === undefined)).toBe(true);
  });

  it('an error-rate alarm on the candidate’s share rolls back without a command', () => {
    const spec = mk({ kind: 'ab', percent: 20 }, { alarms: [{ metric: 'error-rate', threshold: 0.1, minRequests: 50 }] });
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    fleet.profiles = { v2: { errorRate: 0.5, p99Ms: 10 } };
    const r = run(spec, fleet);
    expect(r.state.status).toMatchObject({ phase: 'rolled-back', reason: 'alarm: error-rate' });
    expect(fleet.servingCount('v1')).toBe(10);
  });

  it('BAD CALL: a percent outside (0, 100) or an unknown key', async () => {
    const err = await expectKilnError(
      () => mk({ kind: 'ab', percent: 100, weights: { v1: 1 } }),
      'BAD_DEPLOYMENT_SPEC',
      'strategy.percent = 100',
      "unknown key 'weights'",
    );
    expect(err).toBeInstanceOf(RolloutSpecError);
    await expectKilnError(() => mk({ kind: 'ab' }), 'BAD_DEPLOYMENT_SPEC', 'strategy.percent = undefined');
  });
});

function a_shadow(acts: RolloutAction[]): boolean {
  return sets(acts).some((a) => a.shadowVersion !== undefined);
}

describe('model-aware gates', () => {
  const agreement = { alarms: [{ metric: 'agreement', threshold: 0.9, minRequests: 100 }] };

  it('with an agreement alarm, devices serving the candidate shadow the baseline; the promoted desired drops it', () => {
    const spec = mk({ kind: 'canary', steps: [20, 100], bakeMs: 5_000 }, agreement);
    expect(desiredFor(spec, 'rollout')).toEqual({ version: 'v2', shadowVersion: 'v1' });
    expect(desiredFor(spec, 'baseline')).toEqual({ version: 'v1' });
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    fleet.profiles = { v2: { errorRate: 0, p99Ms: 10, agreement: 0.98 } };
    const r = run(spec, fleet);
    expect(r.state.status.phase).toBe('promoted');
    const last = sets(r.log.at(-1)!.actions);
    expect(last.filter((a) => a.shadowVersion === undefined && a.version === 'v2')).toHaveLength(10);
    expect([...fleet.devices.values()].every((d) => d.serving === 'v2' && d.shadow === undefined)).toBe(true);
  });

  it('a promoted shadow candidate is installed alone (no baseline shadow once nothing is judged)', () => {
    const spec = mk({ kind: 'shadow' }, agreement);
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    fleet.profiles = { v2: { errorRate: 0, p99Ms: 10, agreement: 0.99 } };
    const r = run(spec, fleet, { commands: { 3: { kind: 'promote' } } });
    expect(r.state.status.phase).toBe('promoted');
    const promoted = sets(r.log.slice(3).flatMap((l) => l.actions));
    expect(promoted).toHaveLength(10);
    for (const a of promoted) expect(a).toEqual({ type: 'set-desired', deviceId: a.deviceId, version: 'v2' });
  });

  it('a canary whose outputs disagree with the baseline is rolled back at its first step', () => {
    const spec = mk({ kind: 'canary', steps: [20, 100], bakeMs: 5_000 }, agreement);
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    fleet.profiles = { v2: { errorRate: 0, p99Ms: 10, agreement: 0.5 } };
    const r = run(spec, fleet);
    expect(r.state.status).toMatchObject({ phase: 'rolled-back', reason: 'alarm: agreement' });
    expect(Object.values(r.state.devices).filter((a) => a.tookNew)).toHaveLength(2);
    expect(fleet.servingCount('v1')).toBe(10);
  });

  it('output-shift compares the candidate devices’ histogram with the baseline devices’', () => {
    const guard = { alarms: [{ metric: 'output-shift', threshold: 0.2, minRequests: 100 }] };
    const spec = mk({ kind: 'canary', steps: [20, 100], bakeMs: 5_000 }, guard);
    const same = new SimulatedFleet('kws', spec.devices, 'v1');
    same.profiles = { v1: { errorRate: 0, p99Ms: 10, histogram: [50, 30, 20] }, v2: { errorRate: 0, p99Ms: 10, histogram: [48, 32, 20] } };
    expect(run(spec, same).state.status.phase).toBe('promoted');
    const shifted = new SimulatedFleet('kws', spec.devices, 'v1');
    shifted.profiles = { v1: { errorRate: 0, p99Ms: 10, histogram: [50, 30, 20] }, v2: { errorRate: 0, p99Ms: 10, histogram: [5, 15, 80] } };
    const r = run(spec, shifted);
    expect(r.state.status).toMatchObject({ phase: 'rolled-back', reason: 'alarm: output-shift' });
    const m = r.state.status.phase === 'rolled-back' ? r.state.status.metrics.find((x) => x.metric === 'output-shift') : undefined;
    expect(m?.candidate).toBeCloseTo(0.6, 5);
  });
});
