import { describe, expect, it } from 'vitest';
import { RolloutSpecError, validateSpec, type DeploymentSpec } from '../../src/cloud/rollout/index.js';
import { expectKilnError } from '../shared/kiln-error.js';
import { SimulatedFleet, ids, run } from './rollout-simulated-fleet.js';

const mk = (strategy: unknown, guardrails: unknown = {}): DeploymentSpec =>
  validateSpec({ id: 'dep-2', model: 'kws', fromVersion: 'v1', toVersion: 'v2', devices: ids(20), strategy, guardrails });
const events = (acts: { type: string; event?: string }[]) => acts.filter((a) => a.type === 'record').map((a) => a.event);

describe('commands', () => {
  const spec = mk({ kind: 'canary', steps: [10, 50, 100], bakeMs: 5_000 });
  it('pause holds, resume continues', () => {
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const paused = run(spec, fleet, { commands: { 2: { kind: 'pause', reason: 'weekend' } }, maxTicks: 50, until: () => false });
    expect(paused.state.status).toMatchObject({ phase: 'paused', reason: 'weekend' });
    expect(fleet.servingCount('v2')).toBe(2);
    const r = run(spec, fleet, { start: paused.state, t0: paused.now + 1000, commands: { 0: { kind: 'resume' } } });
    expect(r.state.status.phase).toBe('promoted');
    expect(events(r.actions)).toContain('resumed');
  });
  it('promote skips the remaining steps and bakes', () => {
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const r = run(spec, fleet, { commands: { 1: { kind: 'promote' } } });
    expect(r.state.status.phase).toBe('promoted');
    expect(r.now).toBeLessThan(5_000);
    expect(fleet.servingCount('v2')).toBe(20);
  });
  it('rollback returns the devices that took the new version', () => {
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const r = run(spec, fleet, { commands: { 7: { kind: 'rollback', reason: 'operator' } } });
    expect(r.state.status).toMatchObject({ phase: 'rolled-back', reason: 'manual: operator' });
    expect(fleet.servingCount('v2')).toBe(0);
  });
  it('a command that does not fit the phase is recorded as ignored', () => {
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const r = run(spec, fleet, { commands: { 1: { kind: 'resume' } }, maxTicks: 2, until: () => false });
    expect(events(r.actions)).toContain('command-ignored');
  });
});

describe('strategies', () => {
  it('linear: equal steps at the interval', () => {
    const spec = mk({ kind: 'linear', stepPercent: 25, intervalMs: 60_000 });
    const r = run(spec, new SimulatedFleet('kws', spec.devices, 'v1'), { tickMs: 10_000 });
    expect(r.state.status.phase).toBe('promoted');
    const starts = r.log.filter((l) => events(l.actions).includes('step-started'));
    expect(starts).toHaveLength(4);
    expect(starts[3].now - starts[0].now).toBeGreaterThanOrEqual(180_000);
  });

  it('blue/green: stage beside the old version, switch all at once, instant switch-back on alarm', () => {
    const spec = mk({ kind: 'blue-green', bakeMs: 30_000 }, { alarms: [{ metric: 'error-rate', threshold: 0.05, minRequests: 100 }] });
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const staged = run(spec, fleet, { until: (s) => s.status.phase === 'rolling' && s.status.step === 1 });
    // staged first (serving nothing new): no switch desired before the last tick
    expect(
      staged.log
        .slice(0, -1)
        .flatMap((l) => l.actions)
        .some((a) => a.type === 'set-desired' && a.variants?.v2 === 1),
    ).toBe(false);
    expect(fleet.servingCount('v2')).toBe(20);
    expect(staged.actions.filter((a) => a.type === 'set-desired')[0]).toMatchObject({ version: 'v2', variants: { v1: 1, v2: 0 } });
    // the switch goes out in one decide, ignoring the rate limit
    const switchTick = staged.log.at(-1)!;
    expect(switchTick.actions.filter((a) => a.type === 'set-desired' && a.variants?.v2 === 1)).toHaveLength(20);
    fleet.profiles = { v2: { errorRate: 0.5, p99Ms: 10 } };
    const r = run(spec, fleet, { start: staged.state, t0: staged.now + 1000 });
    expect(r.state.status.phase).toBe('rolled-back');
    // switch-back is a weight flip: v2 stays kept
    expect(r.actions.filter((a) => a.type === 'set-desired').every((a) => a.type === 'set-desired' && a.version === 'v2' && a.variants?.v1 === 1)).toBe(true);
    expect(fleet.servingCount('v1')).toBe(20);
  });

  it('blue/green promotes after the switch bakes (gated against the baseline snapshot)', () => {
    const spec = mk({ kind: 'blue-green', bakeMs: 30_000 }, { alarms: [{ metric: 'error-rate', threshold: 0.05, minRequests: 100 }] });
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const r = run(spec, fleet);
    expect(r.state.status.phase).toBe('promoted');
    expect(fleet.servingCount('v2')).toBe(20);
  });

  const shadowSpec = () =>
    mk(
      { kind: 'shadow' },
      {
        alarms: [
          { metric: 'agreement', threshold: 0.9, minRequests: 100 },
          { metric: 'p99-latency', threshold: 2, minRequests: 100 },
        ],
      },
    );
  it('shadow: candidate as shadow variant until promoted', () => {
    const spec = shadowSpec();
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    fleet.profiles = { v1: { errorRate: 0, p99Ms: 10 }, v2: { errorRate: 0, p99Ms: 12, agreement: 0.97 } };
    const waiting = run(spec, fleet, { maxTicks: 20, until: () => false });
    expect(waiting.state.status).toMatchObject({ phase: 'baking', step: 0, until: null });
    expect(waiting.actions.find((a) => a.type === 'set-desired')).toMatchObject({ version: 'v1', shadowVersion: 'v2' });
    expect(fleet.servingCount('v1')).toBe(20);
    const r = run(spec, fleet, { start: waiting.state, t0: waiting.now + 1000, commands: { 0: { kind: 'promote' } } });
    expect(r.state.status.phase).toBe('promoted');
    expect(fleet.servingCount('v2')).toBe(20);
  });
  it('shadow: dropped by a rollback command, or automatically on low agreement', () => {
    const spec = shadowSpec();
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    fleet.profiles = { v2: { errorRate: 0, p99Ms: 10, agreement: 0.97 } };
    const dropped = run(spec, fleet, { commands: { 5: { kind: 'rollback', reason: 'drop' } } });
    expect(dropped.state.status.phase).toBe('rolled-back');
    expect([...fleet.devices.values()].every((d) => d.shadow === undefined)).toBe(true);
    const fleet2 = new SimulatedFleet('kws', spec.devices, 'v1');
    fleet2.profiles = { v2: { errorRate: 0, p99Ms: 10, agreement: 0.6 } };
    const auto = run(spec, fleet2);
    expect(auto.state.status).toMatchObject({ phase: 'rolled-back', reason: 'alarm: agreement' });
    const m = auto.state.status.phase === 'rolled-back' ? auto.state.status.metrics.find((x) => x.metric === 'agreement') : undefined;
    expect(m).toMatchObject({ outcome: 'fire', candidate: 0.6, threshold: 0.9 });
  });
});

describe('BAD CALL: invalid specs', () => {
  it('lists every problem in one error', async () => {
    const err = await expectKilnError(
      () =>
        validateSpec({
          id: 'x',
          model: 'm',
          fromVersion: 'v1',
          toVersion: 'v1',
          devices: ['a', 'a'],
          strategy: { kind: 'canary', steps: [20, 10, 50], bakeMs: -1 },
          guardrails: { alarms: [{ metric: 'vibes', threshold: 1 }], extra: 1 },
        }),
      'BAD_DEPLOYMENT_SPEC',
      'strictly increasing',
      'must end at 100',
      'bakeMs',
      'duplicates',
      'must differ',
      "'vibes'",
      "unknown key 'extra'",
    );
    expect(err).toBeInstanceOf(RolloutSpecError);
    expect((err as RolloutSpecError).problems.length).toBe(7);
  });
  it('rejects an unknown strategy', async () => {
    await expectKilnError(() => mk({ kind: 'yolo' }), 'BAD_DEPLOYMENT_SPEC', "strategy.kind 'yolo' is unknown", 'canary');
  });
});
