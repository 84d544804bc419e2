/**
 * Broker outage during steady telemetry and inference: the agent keeps serving, and once the broker
 * is back every outbox record reaches the cloud exactly once (stored once, deleted from the outbox
 * only on the cloud's ack). aedes: the broker process part really stops (sessions and retained
 * messages lost); Mosquitto: the network to it is cut by a TCP proxy.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceGateway } from '../../src/cloud/gateway/index.js';
import { Agent } from '../../src/edge-agent/agent.js';
import { SyncClient } from '../../src/edge-agent/sync/index.js';
import { kilnHome, makeArtifact, randomInput, tempDir, type TestArtifact } from '../edge-agent/helpers.js';
import { BROKERS, brokerAddress, gatewayFor, TcpProxy, uniqueId, waitUntil } from './helpers.js';

let root: string;
let art: TestArtifact;
beforeAll(async () => {
  root = tempDir('kiln-sync-outage-');
  art = await makeArtifact(root, 'cnn', '1.0.0');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

for (const b of BROKERS) {
  describe(`telemetry across a broker outage (${b.name})`, () => {
    let gw: DeviceGateway;
    let agent: Agent;
    let sync: SyncClient;
    let proxy: TcpProxy | undefined;
    afterAll(async () => {
      const t0 = Date.now();
      await sync?.stop();
      // Bounded anyway; a clean stop after the outage must not be waiting on lost PUBACKs.
      expect(Date.now() - t0).toBeLessThan(1500);
      await agent?.close();
      await proxy?.close();
      await gw?.close();
    });

    it('every record arrives exactly once; inference never stops', async () => {
      const dir = tempDir('kiln-sync-o-');
      gw = await gatewayFor(b, dir);
      const dev = gw.addDevice('edge', { id: uniqueId('out') });
      agent = new Agent({ dataDir: `${dir}/agent`, models: [art.tgz], kilnHome });
      await agent.start();
      const baseInstallRows = agent.outbox.count();
      let url = gw.brokerUrl;
      if (b.name === 'mosquitto') {
        proxy = new TcpProxy(brokerAddress(gw.brokerUrl));
        await proxy.start();
        url = proxy.url;
      }
      sync = new SyncClient(agent, {
        url,
        deviceId: dev.id,
        deviceSecret: dev.secret,
        pollMs: 50,
        reconnectMinMs: 100,
        reconnectMaxMs: 800,
        resendAfterMs: 3000,
        batchSize: 25,
      });
      sync.start();
      const ids: string[] = [];
      const produce = (n: number) => {
        for (let i = 0; i < n; i++) ids.push(agent.outbox.add('test.count', { i: ids.length }));
      };
      const cloudCount = () => gw.registry.telemetryCount(dev.id, 'test.count');

      produce(200);
      await waitUntil(() => cloudCount() === 200, 20_000, '200 records before the outage');

      // The outage.
      if (b.name === 'aedes') await gw.stopBroker();
      else await proxy!.cut();
      await waitUntil(() => !sync.connected, 20_000, 'the agent to notice the outage');
      let served = 0;
      const input = { input: { type: 'float32', dims: [1, 3, 32, 32], data: randomInput(3 * 32 * 32) } };
      for (let k = 0; k < 6; k++) {
        produce(50);
        const res = await agent.infer('cnn', input as never);
        expect(res.version).toBe('1.0.0');
        served++;
      }
      expect(sync.connected).toBe(false);
      // The 300 new rows wait in the outbox (plus any of the first 200 whose ack the outage cut off).
      expect(agent.outbox.count('test.count')).toBeGreaterThanOrEqual(300);

      // Back.
      if (b.name === 'aedes') await gw.startBroker();
      else await proxy!.restore();
      produce(100);
      await waitUntil(() => cloudCount() === 600 && agent.outbox.count('test.count') === 0, 30_000, 'all 600 records stored and acknowledged');

      expect(served).toBe(6);
      expect(cloudCount()).toBe(600);
      const stored = gw.registry
        .telemetry(dev.id, 'test.count')
        .map((r) => r.id)
        .sort();
      expect(stored).toEqual([...ids].sort());
      expect(new Set(stored).size).toBe(600);
      // The install result of the model went too.
      await waitUntil(() => gw.registry.telemetryCount(dev.id, 'install.result') === baseInstallRows, 10_000, 'install result');
      expect(sync.stats().connects).toBeGreaterThanOrEqual(2);
    });
  });
}
