import { describe, expect, it } from 'vitest';
import { deviceTopics, encodeMessage, MAX_PAYLOAD_BYTES, parseMessage, parseTopic, type DesiredState } from '../../src/protocol/index.js';

const desired: DesiredState = {
  v: 1,
  version: 3,
  updatedAt: '2026-01-01T00:00:00.000Z',
  models: {
    cnn: {
      version: '2.0.0',
      artifact: {
        url: 'http://127.0.0.1:9/cnn-2.0.0.tgz',
        sha256: 'a'.repeat(64),
        sizeBytes: 1000,
        signature: { algorithm: 'ed25519', keyId: '0123456789abcdef' },
      },
      weights: { '1.0.0': 1, '2.0.0': 9 },
      shadowVersion: '1.0.0',
    },
  },
};

describe('sync topics', () => {
  it('are versioned per device', () => {
    const t = deviceTopics('dev-1');
    expect(t).toEqual({
      desired: 'kiln/v1/devices/dev-1/desired',
      reported: 'kiln/v1/devices/dev-1/reported',
      telemetry: 'kiln/v1/devices/dev-1/telemetry',
      telemetryAck: 'kiln/v1/devices/dev-1/telemetry/ack',
      presence: 'kiln/v1/devices/dev-1/presence',
    });
    expect(parseTopic(t.telemetryAck)).toEqual({ deviceId: 'dev-1', kind: 'telemetry/ack' });
  });
  it('BAD CALL: ids with wildcards or slashes are refused', () => {
    for (const id of ['a/b', '+', '#', '', 'x'.repeat(65), '.hidden']) expect(() => deviceTopics(id)).toThrow(RangeError);
    expect(parseTopic('kiln/v1/devices/+/desired')).toBeUndefined();
    expect(parseTopic('kiln/v2/devices/d/desired')).toBeUndefined();
    expect(parseTopic('kiln/v1/devices/d/other')).toBeUndefined();
  });
});

describe('parseMessage', () => {
  it('round-trips every kind', () => {
    const t = deviceTopics('d1');
    const cases = [
      [t.desired, 'desired', desired],
      [
        t.reported,
        'reported',
        { v: 1, desiredVersion: 3, models: { cnn: { status: 'failed', version: '2.0.0', serving: '1.0.0', reason: 'sha256 mismatch' } }, at: 'now' },
      ],
      [
        t.telemetry,
        'telemetry',
        { v: 1, records: [{ id: '3f1e2d4c-0000-4000-8000-000000000000', kind: 'metrics.minute', createdAt: 'x', payload: { n: 1 } }] },
      ],
      [t.telemetryAck, 'telemetry/ack', { v: 1, ids: ['3f1e2d4c-0000-4000-8000-000000000000'] }],
      [t.presence, 'presence', { v: 1, state: 'offline' }],
    ] as const;
    for (const [topic, kind, payload] of cases) {
      const r = parseMessage(topic, encodeMessage(kind, payload as never));
      expect(r).toEqual({ ok: true, message: { kind, deviceId: 'd1', payload } });
    }
  });
  it('never throws on hostile input, and says why', () => {
    const t = deviceTopics('d1');
    const bad: [string, Uint8Array | string, string][] = [
      ['nope', '{}', 'bad-topic'],
      [t.desired, Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 32), 'too-large'],
      [t.desired, '{"v":1,', 'bad-json'],
      [t.desired, Buffer.from([0xff, 0xfe, 0x00]), 'bad-json'],
      [t.desired, '{"v":2}', 'bad-version'],
      [t.desired, 'null', 'bad-schema'],
      [t.desired, '[]', 'bad-schema'],
      [t.desired, JSON.stringify({ ...desired, extra: 1 }), 'bad-schema'],
      [
        t.desired,
        JSON.stringify({ ...desired, models: { cnn: { ...desired.models.cnn, artifact: { ...desired.models.cnn.artifact, url: 'file:///etc/passwd' } } } }),
        'bad-schema',
      ],
      [
        t.desired,
        JSON.stringify({ ...desired, models: { cnn: { ...desired.models.cnn, artifact: { ...desired.models.cnn.artifact, sha256: 'xyz' } } } }),
        'bad-schema',
      ],
      [t.telemetry, JSON.stringify({ v: 1, records: [] }), 'bad-schema'],
      [t.telemetry, JSON.stringify({ v: 1, records: [{ id: '../../etc', kind: 'k', createdAt: 'x', payload: 1 }] }), 'bad-schema'],
      [t.reported, JSON.stringify({ v: 1, desiredVersion: 1, models: { m: { status: 'exploded', version: '1' } }, at: 'x' }), 'bad-schema'],
      [t.presence, '"online"', 'bad-schema'],
    ];
    for (const [topic, bytes, code] of bad) {
      const r = parseMessage(topic, bytes);
      expect(r.ok, `${topic} ${String(bytes).slice(0, 40)}`).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe(code);
        expect(r.error.length).toBeGreaterThan(5);
      }
    }
  });
  it('BAD CALL: encodeMessage refuses an invalid payload', () => {
    expect(() => encodeMessage('presence', { v: 1, state: 'maybe' } as never)).toThrow(TypeError);
  });
});
