/**
 * Deployments end to end with real agents: the manager drives a canary 34 → 100 to `promoted` with
 * every device on v2, then a bad v3 (a model for 16×16 inputs, so the fleet's 32×32 traffic fails on
 * it) trips the error-rate alarm on the agents' own telemetry and rolls back exactly the devices that
 * took it. A refused deployment (no artifact for the version) and the command path are checked too.
 * On each broker: the embedded aedes, and Mosquitto when KILN_TEST_MQTT_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentManager } from '../../src/cloud/deployments/index.js';
import { BROKERS, buildArtifact, startFleet, tempDir, waitUntil, type Fleet } from './deploy-helpers.js';

describe.each(BROKERS)('DeploymentManager with real agents ($name)', (broker) => {
  let fleet: Fleet;
  let mgr: DeploymentManager;

  beforeAll(async () => {
    const root = tempDir('kiln-deploy-');
    const v1 = await buildArtifact(root, 'cnn', '1.0.0', 1);
    const v2 = await buildArtifact(root, 'cnn', '2.0.0', 2);
    const v3 = await buildArtifact(root, 'cnn', '3.0.0', 3, 16);
    fleet = await startFleet({ root, artifacts: [v1, v2, v3], v1Tgz: v1.tgz, devices: 3, prefix: `dep-${process.pid}`, broker });
    await fleet.ready();
    mgr = fleet.manager();
  }, 240_000);
  afterAll(async () => {
    await fleet?.close();
  });

  const phase = (id: string) => mgr.get(id)?.state.status.phase;

  it('refuses a version with no artifact for the devices’ target, naming them', async () => {
    await expect(
      mgr.create({
        id: 'nope',
        model: 'cnn',
        fromVersion: '1.0.0',
        toVersion: '9.9.9',
        devices: fleet.ids(),
        strategy: { kind: 'all-at-once' },
        guardrails: {},
      }),
    ).rejects.toThrow(/no artifact[\s\S]*x86_64/);
    expect(mgr.get('nope')).toBeUndefined();
    await expect(
      mgr.create({ id: 'bad', model: 'cnn', fromVersion: '1.0.0', toVersion: '1.0.0', devices: fleet.ids(), strategy: { kind: 'canary' } }),
    ).rejects.toThrow(/must differ/);
  });

  it('a canary 34 → 100 with a short bake reaches promoted with every device on v2', async () => {
    const d = await mgr.create({
      id: 'to-v2',
      model: 'cnn',
      fromVersion: '1.0.0',
      toVersion: '2.0.0',
      devices: fleet.ids(),
      strategy: { kind: 'canary', steps: [34, 100], bakeMs: 300 },
      guardrails: {},
    });
    expect(d.summary).toMatchObject({ phase: 'rolling', devices: 3 });
    // Step 0 sends 2 of 3 (ceil 34%): exactly those have a desired state before the first bake ends.
    expect(Object.keys(d.state.devices)).toHaveLength(2);
    await waitUntil(() => phase('to-v2') === 'promoted', 90_000, 'to-v2 promoted');
    for (const a of fleet.agents) {
      expect(fleet.gw.device(a.id)?.reported?.models.cnn).toMatchObject({ version: '2.0.0', status: 'current', serving: '2.0.0' });
      expect(a.agent.versions('cnn')[0].version).toBe('2.0.0');
    }
    const events = mgr.get('to-v2')!.events.map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['created', 'started', 'step-started', 'step-installed', 'step-passed', 'promoted']));
    expect(events.filter((e) => e === 'step-passed')).toHaveLength(2);
    expect(mgr.list().find((s) => s.id === 'to-v2')).toMatchObject({ phase: 'promoted', tookNew: 3, fromVersion: '1.0.0', toVersion: '2.0.0' });
    // A finished deployment ignores commands (recorded).
    const after = await mgr.pause('to-v2');
    expect(after.events.at(-1)).toMatchObject({ event: 'command-ignored' });
  }, 120_000);

  it('a bad v3 trips the error-rate alarm and rolls back exactly the devices that took it', async () => {
    const traffic = fleet.traffic();
    try {
      // Baseline traffic on v2 reaches the cloud before the deployment starts.
      await waitUntil(
        () => fleet.gw.registry.metricsWindow('cnn', '1970-01-01T00:00:00.000Z').filter((r) => r.version === '2.0.0').length === 3,
        30_000,
        'v2 telemetry from every device',
      );
      await mgr.create({
        id: 'to-v3',
        model: 'cnn',
        fromVersion: '2.0.0',
        toVersion: '3.0.0',
        devices: fleet.ids(),
        strategy: { kind: 'canary', steps: [30, 100], bakeMs: 120_000 },
        guardrails: { alarms: [{ metric: 'error-rate', threshold: 0.2, minRequests: 5 }] },
      });
      await waitUntil(() => phase('to-v3') === 'rolled-back', 90_000, 'to-v3 rolled back');
    } finally {
      await traffic.stop();
    }
    const d = mgr.get('to-v3')!;
    const took = Object.entries(d.state.devices)
      .filter(([, a]) => a.tookNew)
      .map(([id]) => id);
    expect(took).toHaveLength(1);
    const status = d.state.status as Extract<typeof d.state.status, { phase: 'rolled-back' }>;
    expect(status.reason).toMatch(/^alarm: error-rate/);
    const er = status.metrics.find((m) => m.metric === 'error-rate')!;
    expect(er.outcome).toBe('fire');
    expect(er.candidate!).toBeGreaterThan(0.2);
    expect(er.baseline).toBe(0);
    const alarm = d.events.find((e) => e.event === 'alarm')!;
    expect(alarm.detail).toMatchObject({ devices: took });
    expect(alarm.metrics?.find((m) => m.metric === 'error-rate')?.outcome).toBe('fire');
    // Every device serves v2 again; the ones that never took v3 were never sent it.
    for (const a of fleet.agents) {
      expect(fleet.gw.device(a.id)?.reported?.models.cnn).toMatchObject({ version: '2.0.0', status: 'current', serving: '2.0.0' });
      expect(a.agent.versions('cnn')[0].version).toBe('2.0.0');
      if (!took.includes(a.id)) expect(fleet.gw.device(a.id)?.desired?.models.cnn?.version).toBe('2.0.0');
    }
    // The v3 device's errors reached the cloud as its own telemetry.
    const v3rows = fleet.gw.registry.metricsWindow('cnn', '1970-01-01T00:00:00.000Z').filter((r) => r.version === '3.0.0');
    expect(v3rows.map((r) => r.deviceId)).toEqual(took);
    expect(v3rows[0].errors).toBeGreaterThanOrEqual(5);
  }, 120_000);

  it('manual pause, resume and rollback go through decide', async () => {
    await mgr.create({
      id: 'manual',
      model: 'cnn',
      fromVersion: '2.0.0',
      toVersion: '1.0.0',
      devices: fleet.ids(),
      strategy: { kind: 'canary', steps: [30, 100], bakeMs: 60_000 },
      guardrails: {},
    });
    expect((await mgr.pause('manual', 'operator')).state.status).toMatchObject({ phase: 'paused', reason: 'operator' });
    expect((await mgr.resume('manual')).state.status.phase).not.toBe('paused');
    await mgr.rollback('manual', 'changed my mind');
    await waitUntil(() => phase('manual') === 'rolled-back', 60_000, 'manual rolled back');
    expect((mgr.get('manual')!.state.status as { reason: string }).reason).toBe('manual: changed my mind');
    for (const a of fleet.agents) expect(fleet.gw.device(a.id)?.reported?.models.cnn).toMatchObject({ version: '2.0.0', status: 'current' });
  }, 90_000);
});
