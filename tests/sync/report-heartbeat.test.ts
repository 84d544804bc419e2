/**
 * A device publishes its reported state again every `reportEveryMs` even when nothing changed, so a
 * report the broker dropped (Mosquitto drops messages to a subscriber whose queue is full) cannot
 * hold a rollout for ever: the cloud's copy is repaired by the next one.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { SyncClient } from '../../src/edge-agent/sync/index.js';
import { kilnHome, makeArtifact, tempDir, type TestArtifact } from '../edge-agent/helpers.js';
import { BROKERS, gatewayFor, uniqueId, waitUntil } from './helpers.js';

let root: string;
let v1: TestArtifact;

beforeAll(async () => {
  root = tempDir('kiln-sync-heartbeat-');
  v1 = await makeArtifact(root, 'cnn', '1.0.0', { seed: 1 });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

for (const b of BROKERS) {
  describe(`reported-state heartbeat (${b.name})`, () => {
    it('re-publishes an unchanged report on its interval, and the cloud’s lost copy comes back', async () => {
      const gw = await gatewayFor(b, join(root, `gw-${b.name}`));
      const dev = gw.addDevice('edge', { id: uniqueId('hb') });
      const agent = new Agent({ dataDir: join(root, `agent-${b.name}`), models: [v1.tgz], kilnHome });
      await agent.start();
      const sync = new SyncClient(agent, { url: gw.brokerUrl, deviceId: dev.id, deviceSecret: dev.secret, reportEveryMs: 150 });
      try {
        let reports = 0;
        gw.on('reported', (r) => void (r.deviceId === dev.id && reports++));
        sync.start();
        await waitUntil(() => gw.device(dev.id)?.reported?.models.cnn?.serving === '1.0.0', 15_000, 'first report');
        const after = reports;
        await waitUntil(() => reports >= after + 3, 5_000, 'three more reports with nothing changed');
        // As if the cloud had missed the device's last report: its copy says nothing about cnn.
        gw.registry.setReported(dev.id, { v: 1, desiredVersion: null, models: {}, at: new Date().toISOString() });
        expect(gw.device(dev.id)?.reported?.models.cnn).toBeUndefined();
        await waitUntil(() => gw.device(dev.id)?.reported?.models.cnn !== undefined, 5_000, 'the report to come back');
        expect(gw.device(dev.id)?.reported?.models.cnn).toMatchObject({ status: 'current', serving: '1.0.0' });
      } finally {
        await sync.stop();
        await agent.close();
        await gw.close();
      }
    });
  });
}

describe('BAD OPTION', () => {
  it('a report interval that is not a positive number of ms is refused, naming it', () => {
    const agent = {} as never;
    expect(() => new SyncClient(agent, { url: 'mqtt://127.0.0.1:1', deviceId: 'dev-1', deviceSecret: 's', reportEveryMs: 0 })).toThrow(
      /reportEveryMs must be a number of ms ≥ 10 \(got 0\)/,
    );
    expect(() => new SyncClient(agent, { url: 'mqtt://127.0.0.1:1', deviceId: 'dev-1', deviceSecret: 's', reportEveryMs: Number.NaN })).toThrow(
      /reportEveryMs/,
    );
  });
});
