/**
 * The device gateway: credentials, per-device topic ACLs (embedded aedes), malformed and oversize
 * messages dropped and counted, telemetry stored exactly once and acknowledged by id, desired state
 * retained. Each suite runs against aedes, and Mosquitto when KILN_TEST_MQTT_URL is set.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceGateway } from '../../src/cloud/gateway/index.js';
import { deviceTopics, encodeMessage, MAX_PAYLOAD_BYTES, parseMessage, type TelemetryRecord } from '../../src/protocol/index.js';
import { tempDir } from '../edge-agent/helpers.js';
import { BROKERS, gatewayFor, rawClient, uniqueId, waitUntil } from './helpers.js';

const rec = (i: number): TelemetryRecord => ({
  id: `rec-${String(i).padStart(6, '0')}-abcdef`,
  kind: 'test.count',
  createdAt: new Date().toISOString(),
  payload: { i },
});

for (const b of BROKERS) {
  describe(`gateway (${b.name})`, () => {
    let dir: string;
    let gw: DeviceGateway;
    beforeAll(async () => {
      dir = tempDir('kiln-gw-');
      gw = await gatewayFor(b, dir);
    });
    afterAll(async () => {
      await gw?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('stores telemetry once per record id and acknowledges every id, duplicates included', async () => {
      const dev = gw.addDevice('sensor', { id: uniqueId('gw'), group: 'lab', tags: ['a'] });
      const c = await rawClient(gw.brokerUrl, dev.id, dev.secret);
      const acks: string[][] = [];
      c.on('message', (topic, payload) => {
        const r = parseMessage(topic, payload);
        if (r.ok && r.message.kind === 'telemetry/ack') acks.push(r.message.payload.ids);
      });
      await c.subscribeAsync(deviceTopics(dev.id).telemetryAck, { qos: 1 });
      const first = Array.from({ length: 50 }, (_, i) => rec(i));
      const second = Array.from({ length: 50 }, (_, i) => rec(i + 25)); // 25 repeats, 25 new
      await c.publishAsync(deviceTopics(dev.id).telemetry, encodeMessage('telemetry', { v: 1, records: first }), { qos: 1 });
      await c.publishAsync(deviceTopics(dev.id).telemetry, encodeMessage('telemetry', { v: 1, records: first }), { qos: 1 });
      await c.publishAsync(deviceTopics(dev.id).telemetry, encodeMessage('telemetry', { v: 1, records: second }), { qos: 1 });
      // What arrives together is acknowledged together (one ack per device per store): 150 ids in all.
      await waitUntil(() => acks.flat().length === 150, 10_000, '150 acknowledged ids');
      expect(gw.registry.telemetryCount(dev.id)).toBe(75);
      expect(new Set(acks.flat()).size).toBe(75);
      expect(acks.length).toBeLessThanOrEqual(3);
      expect(gw.device(dev.id)).toMatchObject({ group: 'lab', tags: ['a'] });
      await c.endAsync();
    });

    it('drops malformed and oversize messages, counts them, and keeps working', async () => {
      const dev = gw.addDevice('noisy', { id: uniqueId('gw') });
      const c = await rawClient(gw.brokerUrl, dev.id, dev.secret);
      const t = deviceTopics(dev.id);
      const before = gw.stats().dropped;
      await c.publishAsync(t.telemetry, 'not json', { qos: 1 });
      await c.publishAsync(t.telemetry, JSON.stringify({ v: 1, records: [{ id: 'x' }] }), { qos: 1 });
      await c.publishAsync(t.reported, JSON.stringify({ v: 7 }), { qos: 1 });
      await c.publishAsync(t.telemetry, Buffer.alloc(MAX_PAYLOAD_BYTES + 10, 0x20), { qos: 1 });
      await c.publishAsync(t.telemetry, encodeMessage('telemetry', { v: 1, records: [rec(1)] }), { qos: 1 });
      await waitUntil(() => gw.registry.telemetryCount(dev.id) === 1, 10_000, 'the good record');
      const d = gw.stats().dropped;
      const delta = (k: string) => (d[k] ?? 0) - (before[k] ?? 0);
      expect([delta('bad-json'), delta('bad-schema'), delta('bad-version'), delta('too-large')]).toEqual([1, 1, 1, 1]);
      await c.endAsync();
    });

    it('tracks presence: online, then offline by Last Will when the link dies', async () => {
      const dev = gw.addDevice('lwt', { id: uniqueId('gw') });
      const t = deviceTopics(dev.id);
      const c = await rawClient(gw.brokerUrl, dev.id, dev.secret, {
        keepalive: 1,
        will: { topic: t.presence, payload: encodeMessage('presence', { v: 1, state: 'offline' }), qos: 1, retain: true },
      });
      await c.publishAsync(t.presence, encodeMessage('presence', { v: 1, state: 'online' }), { qos: 1, retain: true });
      await waitUntil(() => gw.device(dev.id)?.online === true, 10_000, 'online');
      c.stream.destroy(); // no DISCONNECT: the broker publishes the will
      await waitUntil(() => gw.device(dev.id)?.online === false, 15_000, 'offline by will');
      c.end(true);
    });

    it('publishes desired state retained: a device connecting later gets it', async () => {
      const dev = gw.addDevice('late', { id: uniqueId('gw') });
      const doc = await gw.setDesiredState(dev.id, {
        m: {
          version: '1',
          artifact: { url: 'http://127.0.0.1:1/m.tgz', sha256: 'b'.repeat(64), signature: { algorithm: 'ed25519', keyId: 'abcdefabcdefabcd' } },
        },
      });
      expect(doc.version).toBe(1);
      const c = await rawClient(gw.brokerUrl, dev.id, dev.secret);
      const got = new Promise<unknown>((resolve) => c.on('message', (topic, p) => resolve(parseMessage(topic, p))));
      await c.subscribeAsync(deviceTopics(dev.id).desired, { qos: 1 });
      expect(await got).toMatchObject({ ok: true, message: { kind: 'desired', payload: { version: 1, models: { m: { version: '1' } } } } });
      await c.endAsync();
    });

    if (b.name === 'aedes') {
      it('BAD CALL: a wrong secret, a client id that is not the username, and an unknown device are refused', async () => {
        const dev = gw.addDevice('x', { id: uniqueId('gw') });
        const before = gw.stats().refused.connect;
        await expect(rawClient(gw.brokerUrl, dev.id, 'wrong')).rejects.toThrow(/Bad username or password|Not authorized/i);
        await expect(rawClient(gw.brokerUrl, dev.id, dev.secret, { username: 'someone-else' })).rejects.toThrow();
        await expect(rawClient(gw.brokerUrl, 'nobody', 'x')).rejects.toThrow();
        expect(gw.stats().refused.connect - before).toBe(3);
      });

      it("BAD CALL: a device publishing or subscribing on another device's topics is refused, counted, and nothing is stored", async () => {
        const a = gw.addDevice('a', { id: uniqueId('gw') });
        const v = gw.addDevice('victim', { id: uniqueId('gw') });
        const before = gw.stats().refused;
        const c = await rawClient(gw.brokerUrl, a.id, a.secret);
        // A negative SUBACK (0x80): mqtt.js rejects the subscribe; the connection stays up.
        await expect(c.subscribeAsync(deviceTopics(v.id).desired, { qos: 1 })).rejects.toThrow(/Subscribe error/);
        const own = await c.subscribeAsync(deviceTopics(a.id).desired, { qos: 1 });
        expect(own[0].qos).toBe(1);
        const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
        c.publish(deviceTopics(v.id).telemetry, encodeMessage('telemetry', { v: 1, records: [rec(9)] }), { qos: 1 });
        await closed; // aedes closes the connection of a client whose publish is not authorized
        const after = gw.stats().refused;
        expect(after.publish - before.publish).toBe(1);
        expect(after.subscribe - before.subscribe).toBe(1);
        expect(gw.registry.telemetryCount(v.id)).toBe(0);
        expect(gw.registry.counters('refused.')['refused.publish']).toBeGreaterThanOrEqual(1);
        // Devices may not write desired state either (even their own).
        const c2 = await rawClient(gw.brokerUrl, a.id, a.secret);
        const closed2 = new Promise<void>((resolve) => c2.once('close', () => resolve()));
        c2.publish(deviceTopics(a.id).desired, '{}', { qos: 1 });
        await closed2;
        expect(gw.stats().refused.publish - before.publish).toBe(2);
        c.end(true);
        c2.end(true);
      });
    }
  });
}
