/**
 * A cloud restart mid-canary: the manager is closed while step 0 bakes, a new one is created on the
 * same database, and it resumes from the persisted state (no second 'started', the same canary
 * devices) and finishes the rollout with every device on v2. On each broker (aedes; Mosquitto when
 * KILN_TEST_MQTT_URL is set).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKERS, buildArtifact, startFleet, tempDir, waitUntil, type Fleet } from './deploy-helpers.js';

describe.each(BROKERS)('cloud restart mid-canary ($name)', (broker) => {
  let fleet: Fleet;

  beforeAll(async () => {
    const root = tempDir('kiln-deploy-restart-');
    const v1 = await buildArtifact(root, 'cnn', '1.0.0', 1);
    const v2 = await buildArtifact(root, 'cnn', '2.0.0', 2);
    fleet = await startFleet({ root, artifacts: [v1, v2], v1Tgz: v1.tgz, devices: 3, prefix: `rst-${process.pid}`, broker });
    await fleet.ready();
  }, 240_000);
  afterAll(async () => {
    await fleet?.close();
  });

  it('a manager restart mid-canary resumes where it was and finishes', async () => {
    const first = fleet.manager();
    await first.create({
      id: 'rs',
      model: 'cnn',
      fromVersion: '1.0.0',
      toVersion: '2.0.0',
      devices: fleet.ids(),
      strategy: { kind: 'canary', steps: [34, 100], bakeMs: 1500 },
      guardrails: {},
    });
    await waitUntil(() => first.get('rs')?.state.status.phase === 'baking', 60_000, 'step 0 baking');
    const before = first.get('rs')!;
    expect(before.state.status).toMatchObject({ phase: 'baking', step: 0 });
    const canary = Object.keys(before.state.devices).sort();
    expect(canary).toHaveLength(2);
    await first.close();

    const second = fleet.manager();
    // Picked up from the database as it was left.
    expect(second.get('rs')!.state).toEqual(before.state);
    await waitUntil(() => second.get('rs')?.state.status.phase === 'promoted', 60_000, 'rs promoted after the restart');
    const d = second.get('rs')!;
    const events = d.events.map((e) => e.event);
    expect(events.filter((e) => e === 'started')).toHaveLength(1);
    expect(d.events.filter((e) => e.event === 'step-started').map((e) => e.detail?.step)).toEqual([0, 1]);
    // The canary devices were sent v2 once (at step 0, before the restart), the third at step 1.
    for (const id of canary) expect(d.state.devices[id].step).toBe(0);
    for (const a of fleet.agents) {
      expect(fleet.gw.device(a.id)?.reported?.models.cnn).toMatchObject({ version: '2.0.0', status: 'current', serving: '2.0.0' });
      expect(a.agent.versions('cnn')[0].version).toBe('2.0.0');
      expect(fleet.gw.device(a.id)?.desired?.version).toBe(1);
    }
  }, 120_000);
});
