import { describe, expect, it } from 'vitest';
import { decide, deviceOrder, initialState, validateSpec, type DeploymentSpec } from '../../src/cloud/rollout/index.js';
import { SimulatedFleet, ids, run } from './rollout-simulated-fleet.js';

const base = (over: Partial<DeploymentSpec> = {}): DeploymentSpec =>
  validateSpec({
    id: 'dep-1',
    model: 'kws',
    fromVersion: 'v1',
    toVersion: 'v2',
    devices: ids(40),
    strategy: { kind: 'canary', steps: [5, 20, 100], bakeMs: 10_000 },
    guardrails: {
      alarms: [
        { metric: 'error-rate', threshold: 0.02, minRequests: 100 },
        { metric: 'p99-latency', threshold: 1.5, minRequests: 100 },
      ],
    },
    ...over,
  });

describe('canary rollout over a simulated fleet', () => {
  it('goes 5 → 20 → 100 with bakes, then promotes', () => {
    const spec = base();
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const r = run(spec, fleet);
    expect(r.state.status.phase).toBe('promoted');
    const started = r.actions.filter((a) => a.type === 'record' && a.event === 'step-started').map((a) => a.type === 'record' && a.detail?.percent);
    expect(started).toEqual([5, 20, 100]);
    // each step dispatches the next devices in the deterministic order: 2, 6, 32
    const perStep = [0, 1, 2].map((s) => Object.values(r.state.devices).filter((d) => d.step === s).length);
    expect(perStep).toEqual([2, 6, 32]);
    const order = deviceOrder(spec);
    expect(
      Object.entries(r.state.devices)
        .filter(([, d]) => d.step === 0)
        .map(([id]) => id)
        .sort(),
    ).toEqual(order.slice(0, 2).sort());
    // bakes: three of 10 s each at least
    expect(r.now).toBeGreaterThanOrEqual(30_000);
    expect(fleet.servingCount('v2')).toBe(40);
  });

  it('rate limit spreads a step over minutes', () => {
    const spec = base({ strategy: { kind: 'all-at-once' }, guardrails: { rateLimitPerMinute: 10 } });
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const r = run(spec, fleet, { tickMs: 5_000 });
    expect(r.state.status.phase).toBe('promoted');
    const sends = r.log.flatMap((l) => l.actions.filter((a) => a.type === 'set-desired').map(() => l.now));
    expect(sends).toHaveLength(40);
    for (const t of sends) expect(sends.filter((u) => u > t - 60_000 && u <= t).length).toBeLessThanOrEqual(10);
    expect(Math.max(...sends)).toBeGreaterThanOrEqual(3 * 60_000);
  });

  it('aborts on failed installs past the threshold, after the minimum devices', () => {
    const spec = base({ strategy: { kind: 'all-at-once' }, guardrails: { rateLimitPerMinute: 5, abort: { failedPercent: 30, minDevices: 5 } } });
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    for (const id of deviceOrder(spec).slice(0, 3)) fleet.devices.get(id)!.failInstall = true;
    const r = run(spec, fleet, { tickMs: 1_000 });
    expect(r.state.status).toMatchObject({ phase: 'aborted', failed: 3, finished: 5 });
    expect(fleet.servingCount('v2')).toBe(0);
  });

  it('an error-rate alarm rolls back exactly the devices that took the bad version, recording the metrics', () => {
    const spec = base();
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    fleet.profiles = { v1: { errorRate: 0.01, p99Ms: 10 }, v2: { errorRate: 0.2, p99Ms: 11 } };
    const r = run(spec, fleet);
    expect(r.state.status.phase).toBe('rolled-back');
    const took = Object.entries(r.state.devices)
      .filter(([, d]) => d.tookNew)
      .map(([id]) => id)
      .sort();
    expect(took).toEqual(deviceOrder(spec).slice(0, 2).sort());
    const alarm = r.actions.find((a) => a.type === 'record' && a.event === 'alarm');
    expect(alarm?.type === 'record' && alarm.detail?.devices).toEqual(deviceOrder(spec).slice(0, 2));
    const er = alarm?.type === 'record' ? alarm.metrics?.find((m) => m.metric === 'error-rate') : undefined;
    expect(er).toMatchObject({ outcome: 'fire', candidate: 0.2, baseline: 0.01, threshold: 0.02 });
    if (r.state.status.phase === 'rolled-back') expect(r.state.status.reason).toContain('error-rate');
    const backs = r.actions
      .filter((a) => a.type === 'set-desired' && a.version === 'v1')
      .map((a) => a.type === 'set-desired' && a.deviceId)
      .sort();
    expect(backs).toEqual(took);
    expect(fleet.servingCount('v2')).toBe(0);
  });

  it('"no data" holds the rollout (canary devices offline) and resumes when data arrives', () => {
    const spec = base();
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const first = deviceOrder(spec).slice(0, 2);
    for (const id of first) fleet.devices.get(id)!.online = false;
    const held = run(spec, fleet, { maxTicks: 60 });
    expect(held.state.status).toMatchObject({ phase: 'rolling', step: 0 });
    expect(held.state.hold?.why[0]).toContain('offline');
    expect(held.actions.filter((a) => a.type === 'record' && a.event === 'hold')).toHaveLength(1);
    for (const id of first) fleet.devices.get(id)!.online = true;
    fleet.converge();
    const r = run(spec, fleet, { start: held.state, t0: held.now + 1000 });
    expect(r.state.status.phase).toBe('promoted');
    expect(r.actions.some((a) => a.type === 'record' && a.event === 'hold-released')).toBe(true);
  });

  it('"no data" at a gate (too few requests) holds baking, neither passing nor failing', () => {
    const spec = base();
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    fleet.requestsPerDevice = 10; // 2 canary devices × 10 < 100
    const held = run(spec, fleet, { maxTicks: 100 });
    expect(held.state.status).toMatchObject({ phase: 'baking', step: 0 });
    expect(held.state.hold?.why.join()).toContain('not enough data');
    fleet.requestsPerDevice = 200;
    expect(run(spec, fleet, { start: held.state, t0: held.now + 1000 }).state.status.phase).toBe('promoted');
  });

  it('is deterministic, and resumes from JSON mid-canary with the same next actions', () => {
    const spec = base();
    const a = run(spec, new SimulatedFleet('kws', spec.devices, 'v1'));
    const b = run(spec, new SimulatedFleet('kws', spec.devices, 'v1'));
    expect(b.log).toEqual(a.log);
    const fleet = new SimulatedFleet('kws', spec.devices, 'v1');
    const mid = run(spec, fleet, { until: (s) => s.status.phase === 'baking' && s.status.step === 1 });
    const obs = fleet.observe();
    const t = mid.now + 20_000;
    const direct = decide(spec, mid.state, obs, t);
    const resumed = decide(spec, JSON.parse(JSON.stringify(mid.state)), obs, t);
    expect(resumed).toEqual(direct);
    expect(direct.actions.filter((x) => x.type === 'set-desired')).toHaveLength(32);
  });

  it('does not mutate its inputs', () => {
    const spec = base();
    const s0 = initialState(spec);
    const obs = new SimulatedFleet('kws', spec.devices, 'v1').observe();
    const snap = JSON.stringify([s0, obs]);
    decide(spec, s0, obs, 0);
    expect(JSON.stringify([s0, obs])).toBe(snap);
  });
});
