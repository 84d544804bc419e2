/**
 * The cloud's store fails for a while (a STAND-IN fault: the device registry's batch write throws,
 * as a full disk or a lost database would): the gateway keeps running, acknowledges nothing it could
 * not store, says what is wrong (stats().health.lastError, which GET /api/status shows, and its log),
 * and once the store works again every record the device sent is stored exactly once.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway, type DeviceGateway } from '../../src/cloud/gateway/index.js';
import { SyncClient } from '../../src/edge-agent/sync/index.js';
import { StandInOutbox } from '../../bench/standin-agent.js';
import { tempDir } from '../edge-agent/helpers.js';
import { standInSyncAgent, uniqueId, waitUntil } from './helpers.js';

const dir = tempDir('kiln-gw-fault-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const agentWith = (outbox: StandInOutbox) => standInSyncAgent(outbox, join(dir, 'agent'));

describe('gateway: the store fails for a while (stand-in fault)', () => {
  it('keeps serving, says what is wrong, acknowledges nothing unstored, and loses nothing', async () => {
    const errors: string[] = [];
    const gw: DeviceGateway = await startGateway({
      dbPath: join(dir, 'cloud.db'),
      logger: { debug() {}, info() {}, warn() {}, error: (msg) => void errors.push(msg) },
    });
    const dev = gw.addDevice('edge', { id: uniqueId('fault') });
    const outbox = new StandInOutbox();
    const sync = new SyncClient(agentWith(outbox) as never, {
      url: gw.brokerUrl,
      deviceId: dev.id,
      deviceSecret: dev.secret,
      pollMs: 20,
      resendAfterMs: 300,
      resendMaxMs: 600,
    });
    const write = gw.registry.writeMany.bind(gw.registry);
    let failing = true;
    gw.registry.writeMany = (...args) => {
      if (failing) throw new Error('disk I/O error (stand-in)');
      return write(...args);
    };
    try {
      sync.start();
      for (let i = 0; i < 50; i++) outbox.add('test.count', { i });
      await waitUntil(() => gw.stats().telemetry.failed >= 2, 10_000, 'failed stores');
      const s = gw.stats();
      expect(s.health.lastError).toMatchObject({ what: 'store', error: expect.stringContaining('disk I/O error') });
      expect(s.health.connected).toBe(true);
      expect(errors).toContain('gateway store failed');
      expect(outbox.count()).toBe(50); // nothing acknowledged
      expect(gw.registry.telemetryCount(dev.id)).toBe(0);
      failing = false;
      for (let i = 50; i < 80; i++) outbox.add('test.count', { i });
      await waitUntil(() => outbox.count() === 0, 15_000, 'the outbox to drain');
      expect(gw.registry.telemetryCount(dev.id)).toBe(80);
      expect(
        gw.registry
          .telemetry(dev.id)
          .map((r) => (r.payload as { i: number }).i)
          .sort((a, b) => a - b),
      ).toEqual(Array.from({ length: 80 }, (_, i) => i));
      // The device's report (sent on connect) was kept through the failures and stored after.
      await waitUntil(() => gw.device(dev.id)?.reported !== null, 5000, 'the report stored');
    } finally {
      await sync.stop();
      await gw.close();
    }
  });
});
