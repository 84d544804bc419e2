/**
 * Model-aware deployment gates end to end with real agents on each broker (aedes; Mosquitto when
 * KILN_TEST_MQTT_URL is set), three devices, real /infer traffic over a few different inputs:
 *
 * - shadow: the candidate (same weights) installed beside v1 on every device, serving nothing; its
 *   agreement and latency reach the cloud as 'shadow.minute' telemetry; promoted on command;
 * - shadow: a candidate with other weights disagrees with the serving version and is dropped by the
 *   agreement alarm, without a command;
 * - shadow: a candidate that fails on every request (it takes 16×16 inputs, the traffic is 32×32)
 *   compares nothing; its failed shadow runs reach the cloud as 'shadow.minute' errors and the
 *   error-rate alarm drops it, while the serving version answers every request;
 * - canary: a bad version's top-1 output distribution on the canary device differs from the baseline
 *   devices' (output-shift), and the canary is rolled back;
 * - canary with an agreement alarm: the canary device shadows the baseline, and the disagreement rolls
 *   it back.
 *
 * Seeds: 1 answers classes 4–6 over the inputs, 2 answers class 9 for every one of them.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentManager } from '../../src/cloud/deployments/index.js';
import type { AlarmResult } from '../../src/cloud/rollout/index.js';
import { BROKERS, buildArtifact, startFleet, tempDir, waitUntil, type Fleet } from './deploy-helpers.js';

/** version → seed: 2.0.0 agrees with 1.0.0; 3.0.0, 4.0.0 and 5.0.0 do not. */
const SEEDS: Record<string, number> = { '1.0.0': 1, '2.0.0': 1, '3.0.0': 2, '4.0.0': 2, '5.0.0': 2 };
/** A version whose model takes 16×16 inputs: it passes probation, then fails on every 32×32 request. */
const BROKEN = '6.0.0';
let artifactsRoot: string;
let artifacts: { dir: string; tgz: string }[];

beforeAll(async () => {
  artifactsRoot = tempDir('kiln-model-aware-artifacts-');
  artifacts = [];
  for (const [v, seed] of Object.entries(SEEDS)) artifacts.push(await buildArtifact(artifactsRoot, 'cnn', v, seed));
  artifacts.push(await buildArtifact(artifactsRoot, 'cnn', BROKEN, 1, 16));
}, 240_000);
afterAll(() => rmSync(artifactsRoot, { recursive: true, force: true }));

const minute = () => new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();

describe.each(BROKERS)('model-aware gates with real agents ($name)', (broker) => {
  let fleet: Fleet;
  let mgr: DeploymentManager;

  beforeAll(async () => {
    fleet = await startFleet({ root: tempDir('kiln-model-aware-'), artifacts, v1Tgz: artifacts[0].tgz, devices: 3, prefix: `mdl-${process.pid}`, broker });
    await fleet.ready();
    mgr = fleet.manager();
  }, 120_000);
  afterAll(async () => {
    await fleet?.close();
  });

  const phase = (id: string) => mgr.get(id)?.state.status.phase;
  const reported = (id: string) => fleet.gw.device(id)?.reported?.models.cnn;
  const fired = (id: string, metric: string): AlarmResult | undefined => {
    const st = mgr.get(id)!.state.status;
    return st.phase === 'rolled-back' ? st.metrics.find((m) => m.metric === metric) : undefined;
  };

  it('shadow: the candidate serves nothing, its agreement and latency are reported, then it is promoted', async () => {
    const since = minute();
    const traffic = fleet.traffic();
    try {
      await mgr.create({
        id: 'sh-good',
        model: 'cnn',
        fromVersion: '1.0.0',
        toVersion: '2.0.0',
        devices: fleet.ids(),
        strategy: { kind: 'shadow' },
        guardrails: { alarms: [{ metric: 'agreement', threshold: 0.9, minRequests: 10 }] },
      });
      await waitUntil(() => phase('sh-good') === 'baking', 60_000, 'shadow installed everywhere');
      for (const a of fleet.agents) {
        expect(reported(a.id)).toMatchObject({ version: '1.0.0', status: 'current', serving: '1.0.0', shadow: { version: '2.0.0', status: 'current' } });
        // Installed beside, serving nothing: kept, not current.
        expect(a.agent.versions('cnn')[0].version).toBe('1.0.0');
        expect(a.agent.versions('cnn').map((r) => r.version)).toContain('2.0.0');
      }
      const compared = () => fleet.gw.registry.shadowWindow('cnn', since).filter((r) => r.version === '1.0.0' && r.shadow === '2.0.0');
      await waitUntil(
        () => fleet.ids().every((id) => compared().some((r) => r.deviceId === id && r.rows >= 5)),
        60_000,
        'shadow comparisons from every device',
      );
    } finally {
      await traffic.stop();
    }
    for (const r of fleet.gw.registry.shadowWindow('cnn', since).filter((x) => x.shadow === '2.0.0')) {
      expect(r.agreed).toBe(r.rows);
      expect(r.maxP99Ms).toBeGreaterThan(0);
    }
    expect(traffic.versions['2.0.0']).toBeUndefined();
    expect(traffic.sent.failed).toBe(0);
    expect(phase('sh-good')).toBe('baking');
    await mgr.promote('sh-good');
    await waitUntil(() => phase('sh-good') === 'promoted', 60_000, 'sh-good promoted');
    for (const a of fleet.agents) {
      expect(reported(a.id)).toMatchObject({ version: '2.0.0', status: 'current', serving: '2.0.0' });
      expect(reported(a.id)?.shadow).toBeUndefined();
      expect(a.agent.versions('cnn')[0].version).toBe('2.0.0');
    }
  }, 150_000);

  it('shadow: a candidate that disagrees is dropped by the agreement alarm', async () => {
    const traffic = fleet.traffic();
    try {
      await mgr.create({
        id: 'sh-bad',
        model: 'cnn',
        fromVersion: '2.0.0',
        toVersion: '3.0.0',
        devices: fleet.ids(),
        strategy: { kind: 'shadow' },
        guardrails: { alarms: [{ metric: 'agreement', threshold: 0.9, minRequests: 10 }] },
      });
      await waitUntil(() => phase('sh-bad') === 'rolled-back', 90_000, 'sh-bad dropped');
    } finally {
      await traffic.stop();
    }
    expect((mgr.get('sh-bad')!.state.status as { reason: string }).reason).toBe('alarm: agreement');
    const m = fired('sh-bad', 'agreement')!;
    expect(m.outcome).toBe('fire');
    expect(m.candidate!).toBeLessThan(0.9);
    expect(m.samples.candidateRequests).toBeGreaterThanOrEqual(10);
    expect(traffic.versions['3.0.0']).toBeUndefined();
    for (const a of fleet.agents) {
      expect(reported(a.id)).toMatchObject({ version: '2.0.0', status: 'current', serving: '2.0.0' });
      expect(reported(a.id)?.shadow).toBeUndefined();
      expect(fleet.gw.device(a.id)?.desired?.models.cnn?.shadowVersion).toBeUndefined();
      expect(a.agent.variantsOf('cnn')).toBeUndefined();
    }
  }, 150_000);

  it('shadow: a candidate that fails on every request is dropped by the error-rate alarm, the serving version answering meanwhile', async () => {
    const since = minute();
    const failedBefore = fleet.agents.map((a) => a.agent.metrics.shadowFailed.get({ model: 'cnn', version: '2.0.0', shadow: BROKEN }));
    const traffic = fleet.traffic();
    try {
      await mgr.create({
        id: 'sh-broken',
        model: 'cnn',
        fromVersion: '2.0.0',
        toVersion: BROKEN,
        devices: fleet.ids(),
        strategy: { kind: 'shadow' },
        // Agreement alone would hold for ever: a shadow that never answers compares nothing.
        guardrails: {
          alarms: [
            { metric: 'agreement', threshold: 0.9, minRequests: 10 },
            { metric: 'error-rate', threshold: 0.5, minRequests: 10 },
          ],
        },
      });
      await waitUntil(() => phase('sh-broken') === 'rolled-back', 90_000, 'sh-broken dropped');
    } finally {
      await traffic.stop();
    }
    expect((mgr.get('sh-broken')!.state.status as { reason: string }).reason).toBe('alarm: error-rate');
    const m = fired('sh-broken', 'error-rate')!;
    expect(m).toMatchObject({ outcome: 'fire', candidate: 1, baseline: 0 });
    expect(m.samples.candidateRequests).toBeGreaterThanOrEqual(10);
    expect(m.samples.baselineRequests).toBeGreaterThanOrEqual(10);
    // The serving version answered every request; the broken one never answered a client.
    expect(traffic.sent.failed).toBe(0);
    expect(traffic.sent.ok).toBeGreaterThan(0);
    expect(traffic.versions[BROKEN]).toBeUndefined();
    // The failures reached the cloud as the shadow's errors, with nothing compared.
    const w = fleet.gw.registry.shadowWindow('cnn', since).filter((r) => r.version === '2.0.0' && r.shadow === BROKEN);
    expect(w.length).toBeGreaterThanOrEqual(1);
    for (const r of w) expect(r).toMatchObject({ comparisons: 0, rows: 0, maxP99Ms: null });
    expect(w.reduce((n, r) => n + r.errors, 0)).toBeGreaterThanOrEqual(10);
    fleet.agents.forEach((a, i) => {
      expect(a.agent.metrics.shadowFailed.get({ model: 'cnn', version: '2.0.0', shadow: BROKEN })).toBeGreaterThan(failedBefore[i]);
      expect(a.agent.metrics.shadowRuns.get({ model: 'cnn', version: '2.0.0', shadow: BROKEN })).toBe(0);
    });
    await waitUntil(
      () => fleet.agents.every((a) => reported(a.id)?.shadow === undefined && a.agent.variantsOf('cnn') === undefined),
      30_000,
      'shadow dropped everywhere',
    );
    for (const a of fleet.agents) {
      expect(reported(a.id)).toMatchObject({ version: '2.0.0', status: 'current', serving: '2.0.0' });
      expect(fleet.gw.device(a.id)?.desired?.models.cnn?.shadowVersion).toBeUndefined();
    }
  }, 150_000);

  it('canary: output-shift against the baseline devices rolls a bad version back', async () => {
    const traffic = fleet.traffic();
    try {
      await mgr.create({
        id: 'shift',
        model: 'cnn',
        fromVersion: '2.0.0',
        toVersion: '4.0.0',
        devices: fleet.ids(),
        strategy: { kind: 'canary', steps: [30, 100], bakeMs: 120_000 },
        guardrails: { alarms: [{ metric: 'output-shift', threshold: 0.5, minRequests: 10 }] },
      });
      await waitUntil(() => phase('shift') === 'rolled-back', 90_000, 'shift rolled back');
    } finally {
      await traffic.stop();
    }
    const d = mgr.get('shift')!;
    const took = Object.entries(d.state.devices)
      .filter(([, a]) => a.tookNew)
      .map(([id]) => id);
    expect(took).toHaveLength(1);
    expect((d.state.status as { reason: string }).reason).toBe('alarm: output-shift');
    const m = fired('shift', 'output-shift')!;
    expect(m).toMatchObject({ outcome: 'fire', samples: { candidateDevices: 1 } });
    expect(m.candidate!).toBeGreaterThan(0.5);
    expect(m.samples.baselineDevices).toBeGreaterThanOrEqual(2);
    for (const a of fleet.agents) expect(reported(a.id)).toMatchObject({ version: '2.0.0', status: 'current', serving: '2.0.0' });
  }, 150_000);

  it('canary with an agreement alarm: the canary shadows the baseline, and disagreement rolls it back', async () => {
    const traffic = fleet.traffic();
    try {
      const d = await mgr.create({
        id: 'agree',
        model: 'cnn',
        fromVersion: '2.0.0',
        toVersion: '5.0.0',
        devices: fleet.ids(),
        strategy: { kind: 'canary', steps: [30, 100], bakeMs: 120_000 },
        guardrails: { alarms: [{ metric: 'agreement', threshold: 0.9, minRequests: 10 }] },
      });
      const [canary] = Object.keys(d.state.devices);
      expect(fleet.gw.device(canary)?.desired?.models.cnn).toMatchObject({ version: '5.0.0', shadowVersion: '2.0.0' });
      await waitUntil(() => phase('agree') === 'rolled-back', 90_000, 'agree rolled back');
    } finally {
      await traffic.stop();
    }
    expect((mgr.get('agree')!.state.status as { reason: string }).reason).toBe('alarm: agreement');
    expect(fired('agree', 'agreement')!.candidate!).toBeLessThan(0.9);
    for (const a of fleet.agents) {
      expect(reported(a.id)).toMatchObject({ version: '2.0.0', status: 'current', serving: '2.0.0' });
      expect(a.agent.variantsOf('cnn')).toBeUndefined();
    }
  }, 150_000);
});
