/**
 * Every serving strategy end to end with real agents (Agent + SyncClient + HTTP server, real /infer
 * traffic) on each broker (aedes; Mosquitto when KILN_TEST_MQTT_URL is set), one fleet of two devices
 * walked through them in turn:
 *
 * - `deploy()` on a freshly started fleet finds the baseline from what the agents report on connect,
 *   and an all-at-once rollout takes every device to v2;
 * - linear 50 % steps to v3;
 * - blue/green to v4: staged beside v3 (no v4 answer before the switch), switched at once, then an
 *   instant switch-back (a weight flip: v4 stays kept, nothing downloaded); a second one is promoted;
 * - on-device A/B 70/30 to v5: the weights reach every device, both versions answer on each, then
 *   promote puts everyone on v5 alone.
 *
 * The versions share weights (same outputs), so every gate passes; the model-aware gates are in
 * deploy-model-aware.test.ts.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentManager } from '../../src/cloud/deployments/index.js';
import { BROKERS, buildArtifact, startFleet, tempDir, waitUntil, type Fleet } from './deploy-helpers.js';

const VERSIONS = ['1.0.0', '2.0.0', '3.0.0', '4.0.0', '5.0.0'];
let artifactsRoot: string;
let artifacts: { dir: string; tgz: string }[];

beforeAll(async () => {
  artifactsRoot = tempDir('kiln-strategies-artifacts-');
  artifacts = [];
  for (const v of VERSIONS) artifacts.push(await buildArtifact(artifactsRoot, 'cnn', v, 1));
}, 240_000);
afterAll(() => rmSync(artifactsRoot, { recursive: true, force: true }));

describe.each(BROKERS)('deployment strategies with real agents ($name)', (broker) => {
  let fleet: Fleet;
  let mgr: DeploymentManager;

  beforeAll(async () => {
    fleet = await startFleet({ root: tempDir('kiln-strategies-'), artifacts, v1Tgz: artifacts[0].tgz, devices: 2, prefix: `str-${process.pid}`, broker });
    await waitUntil(
      () => fleet.agents.every((a) => fleet.gw.device(a.id)?.online && fleet.gw.device(a.id)?.reported?.models.cnn !== undefined),
      30_000,
      'devices online, reporting what they serve',
    );
    mgr = fleet.manager();
  }, 120_000);
  afterAll(async () => {
    await fleet?.close();
  });

  const phase = (id: string) => mgr.get(id)?.state.status.phase;
  const reported = (id: string) => fleet.gw.device(id)?.reported?.models.cnn;

  it('deploy() on a fresh fleet finds the baseline the agents report on connect; all-at-once promotes v2', async () => {
    // No desired state was ever written: the report comes from the agents' connect alone.
    for (const id of fleet.ids()) {
      expect(fleet.gw.device(id)?.desired).toBeNull();
      expect(fleet.gw.device(id)?.reported).toMatchObject({ desiredVersion: null, models: { cnn: { status: 'current', version: '1.0.0', serving: '1.0.0' } } });
    }
    const d = await mgr.deploy({ model: 'cnn', version: '2.0.0', group: 'fleet', strategy: { kind: 'all-at-once' }, id: 'aao' });
    expect(d.spec).toMatchObject({ fromVersion: '1.0.0', toVersion: '2.0.0' });
    expect(d.spec.devices.slice().sort()).toEqual(fleet.ids().slice().sort());
    // Every device was sent v2 in the first step.
    expect(Object.keys(d.state.devices)).toHaveLength(2);
    await waitUntil(() => phase('aao') === 'promoted', 60_000, 'aao promoted');
    for (const a of fleet.agents) {
      expect(reported(a.id)).toMatchObject({ version: '2.0.0', status: 'current', serving: '2.0.0' });
      expect(a.agent.versions('cnn')[0].version).toBe('2.0.0');
    }
    expect(mgr.get('aao')!.events.filter((e) => e.event === 'step-started')).toHaveLength(1);
  }, 90_000);

  it('linear: 50 % steps, each baked, to v3', async () => {
    const d = await mgr.create({
      id: 'lin',
      model: 'cnn',
      fromVersion: '2.0.0',
      toVersion: '3.0.0',
      devices: fleet.ids(),
      strategy: { kind: 'linear', stepPercent: 50, intervalMs: 300 },
      guardrails: {},
    });
    expect(Object.keys(d.state.devices)).toHaveLength(1);
    await waitUntil(() => phase('lin') === 'promoted', 60_000, 'lin promoted');
    const events = mgr.get('lin')!.events;
    expect(events.filter((e) => e.event === 'step-started').map((e) => e.detail?.percent)).toEqual([50, 100]);
    expect(events.filter((e) => e.event === 'step-passed')).toHaveLength(2);
    for (const a of fleet.agents) expect(reported(a.id)).toMatchObject({ version: '3.0.0', status: 'current', serving: '3.0.0' });
  }, 90_000);

  it('blue/green: staged beside v3, switched at once, then switched back instantly', async () => {
    const traffic = fleet.traffic();
    let switchedAt: number;
    try {
      await mgr.create({
        id: 'bg',
        model: 'cnn',
        fromVersion: '3.0.0',
        toVersion: '4.0.0',
        devices: fleet.ids(),
        strategy: { kind: 'blue-green', bakeMs: 120_000 },
        guardrails: {},
      });
      await waitUntil(() => mgr.get('bg')?.state.status.phase === 'baking', 60_000, 'bg switched and baking');
      const bg = mgr.get('bg')!;
      expect(bg.state.status).toMatchObject({ phase: 'baking', step: 1 });
      switchedAt = bg.events.find((e) => e.event === 'step-started' && e.detail?.step === 1)!.at;
      // Both devices serve v4 after the switch (v4 answers), and none answered before it.
      await waitUntil(() => (traffic.versions['4.0.0'] ?? 0) >= 4, 30_000, 'v4 answers after the switch');
      expect(traffic.firstSeen['4.0.0']).toBeGreaterThanOrEqual(switchedAt);
      for (const a of fleet.agents) expect(fleet.gw.device(a.id)?.desired?.models.cnn).toMatchObject({ version: '4.0.0', weights: { '4.0.0': 1, '3.0.0': 0 } });

      const before = { ...traffic.versions };
      await mgr.rollback('bg', 'switch back');
      await waitUntil(() => phase('bg') === 'rolled-back', 30_000, 'bg switched back');
      await waitUntil(() => (traffic.versions['3.0.0'] ?? 0) >= (before['3.0.0'] ?? 0) + 6, 30_000, 'v3 answers after the switch-back');
      const v4After = traffic.versions['4.0.0'];
      await waitUntil(() => (traffic.versions['3.0.0'] ?? 0) >= (before['3.0.0'] ?? 0) + 12, 30_000, 'more v3 answers');
      // No v4 answer once every device had switched back.
      expect(traffic.versions['4.0.0']).toBe(v4After);
    } finally {
      await traffic.stop();
    }
    for (const a of fleet.agents) {
      // A weight flip: v4 stays kept beside v3 (nothing reinstalled), v3 serves.
      expect(fleet.gw.device(a.id)?.desired?.models.cnn).toMatchObject({ version: '4.0.0', weights: { '3.0.0': 1, '4.0.0': 0 } });
      expect(reported(a.id)).toMatchObject({ version: '4.0.0', status: 'current', serving: '3.0.0' });
      expect(a.agent.versions('cnn').map((r) => r.version)).toEqual(expect.arrayContaining(['3.0.0', '4.0.0']));
    }
    expect((mgr.get('bg')!.state.status as { reason: string }).reason).toBe('manual: switch back');

    // Again, and through: promoted with every device serving v4.
    await mgr.create({
      id: 'bg-2',
      model: 'cnn',
      fromVersion: '3.0.0',
      toVersion: '4.0.0',
      devices: fleet.ids(),
      strategy: { kind: 'blue-green', bakeMs: 200 },
      guardrails: {},
    });
    await waitUntil(() => phase('bg-2') === 'promoted', 60_000, 'bg-2 promoted');
    for (const a of fleet.agents) expect(reported(a.id)).toMatchObject({ version: '4.0.0', status: 'current', serving: '4.0.0' });
  }, 150_000);

  it('on-device A/B 70/30: weights on every device, both versions answer on each, then promote', async () => {
    const traffic = fleet.traffic();
    const since = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
    try {
      const d = await mgr.create({
        id: 'ab',
        model: 'cnn',
        fromVersion: '4.0.0',
        toVersion: '5.0.0',
        devices: fleet.ids(),
        strategy: { kind: 'ab', percent: 30 },
        guardrails: {},
      });
      expect(d.summary.strategy).toBe('ab');
      await waitUntil(() => phase('ab') === 'baking', 60_000, 'ab installed and baking');
      for (const a of fleet.agents) {
        expect(fleet.gw.device(a.id)?.desired?.models.cnn).toMatchObject({ version: '5.0.0', weights: { '4.0.0': 70, '5.0.0': 30 } });
        expect(a.agent.variantsOf('cnn')).toEqual({ weights: { '4.0.0': 70, '5.0.0': 30 } });
        expect(reported(a.id)).toMatchObject({ version: '5.0.0', status: 'current', serving: '4.0.0' });
      }
      // Both versions reach the cloud as each device's own telemetry.
      const both = () => {
        const rows = fleet.gw.registry.metricsWindow('cnn', since);
        return fleet.ids().every((id) => ['4.0.0', '5.0.0'].every((v) => rows.some((r) => r.deviceId === id && r.version === v && r.invocations > 0)));
      };
      await waitUntil(both, 60_000, 'telemetry of both versions from every device');
      await waitUntil(() => (traffic.versions['4.0.0'] ?? 0) + (traffic.versions['5.0.0'] ?? 0) >= 60, 60_000, '60 answers');
    } finally {
      await traffic.stop();
    }
    const share = traffic.versions['5.0.0'] / (traffic.versions['4.0.0'] + traffic.versions['5.0.0']);
    expect(share).toBeGreaterThan(0.1);
    expect(share).toBeLessThan(0.55);
    // It bakes until a command.
    expect(phase('ab')).toBe('baking');
    await mgr.promote('ab');
    await waitUntil(() => phase('ab') === 'promoted', 60_000, 'ab promoted');
    for (const a of fleet.agents) {
      expect(fleet.gw.device(a.id)?.desired?.models.cnn?.weights).toBeUndefined();
      expect(a.agent.variantsOf('cnn')).toBeUndefined();
      expect(reported(a.id)).toMatchObject({ version: '5.0.0', status: 'current', serving: '5.0.0' });
    }
  }, 150_000);
});
