/**
 * Telemetry re-sends back off and what is in flight is bounded: a cloud that stores nothing and
 * acknowledges nothing (a plain aedes broker, the "cloud" a raw subscriber that only counts) gets
 * the outbox in at most maxInflightBatches batches, then re-sends whose waits double; once acks come
 * the wait is short again and everything drains.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { SyncClient } from '../../src/edge-agent/sync/index.js';
import { deviceTopics, encodeMessage, SYNC_PROTOCOL_VERSION, type TelemetryBatch } from '../../src/protocol/sync.js';
import { StandInOutbox } from '../../bench/standin-agent.js';
import { bareAedes, standInSyncAgent, uniqueId, waitUntil } from './helpers.js';

let broker: Awaited<ReturnType<typeof bareAedes>>;
let url: string;
beforeAll(async () => {
  broker = await bareAedes();
  url = broker.url;
});
afterAll(() => broker.close());

const agentWith = (outbox: StandInOutbox) => standInSyncAgent(outbox, '/nonexistent');

describe('sync: telemetry re-sends back off, in-flight is bounded', () => {
  it('bounded batches, doubling re-send waits without acks, a short wait again once acked, and the outbox drains', async () => {
    const id = uniqueId('backoff');
    const t = deviceTopics(id);
    const outbox = new StandInOutbox();
    for (let i = 0; i < 500; i++) outbox.add('test.count', { i });
    const cloud = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: `cloud-${id}` });
    const got: { at: number; ids: string[] }[] = [];
    let acking = false;
    cloud.on('message', (_topic, payload) => {
      const b = JSON.parse(payload.toString()) as TelemetryBatch;
      got.push({ at: Date.now(), ids: b.records.map((r) => r.id) });
      if (acking) cloud.publish(t.telemetryAck, encodeMessage('telemetry/ack', { v: SYNC_PROTOCOL_VERSION, ids: b.records.map((r) => r.id) }), { qos: 1 });
    });
    await cloud.subscribeAsync(t.telemetry, { qos: 1 });
    // SyncClient types its agent as the real Agent's shape; this one has only what the sync path uses.
    const sync = new SyncClient(agentWith(outbox) as never, {
      url,
      deviceId: id,
      deviceSecret: 'x',
      batchSize: 10,
      maxInflightBatches: 3,
      pollMs: 20,
      resendAfterMs: 400,
      resendMaxMs: 3200,
    });
    try {
      sync.start();
      await waitUntil(() => got.length >= 3, 5000, 'the first batches');
      await new Promise((r) => setTimeout(r, 100));
      // Nothing acknowledged: three batches of ten, no more, before the first re-send is due.
      expect(got.length).toBe(3);
      expect(new Set(got.flatMap((g) => g.ids)).size).toBe(30);
      await new Promise((r) => setTimeout(r, 4000));
      // The same 30 records again and again, each round after about twice the wait of the one before
      // (400, 800, 1600 ms ± 25 %): a fixed 400 ms would have sent ~10 rounds in this time.
      // A round: batches sent together (in one pump), apart from the next round by more than 100 ms.
      const starts = got.filter((g, i) => i === 0 || g.at - got[i - 1].at > 100).map((g) => g.at);
      const rounds = starts.length;
      expect(new Set(got.flatMap((g) => g.ids)).size).toBe(30);
      expect(got.length).toBe(rounds * 3);
      expect(rounds).toBeGreaterThanOrEqual(3);
      expect(rounds).toBeLessThanOrEqual(6);
      const gaps = starts.slice(1).map((at, i) => at - starts[i]);
      for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThan(gaps[i - 1] * 1.1);
      expect(sync.stats().resent).toBeGreaterThanOrEqual(60);
      // The cloud answers now: the next re-send is acked, the wait resets, and the rest drains quickly.
      acking = true;
      await waitUntil(() => outbox.count() === 0, 10_000, 'the outbox to drain');
      expect(sync.stats().acked).toBe(500);
    } finally {
      await sync.stop();
      await cloud.endAsync();
    }
  });
});
