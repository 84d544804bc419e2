/**
 * Per-version telemetry time series: DeviceRegistry.metricsSeries over 'metrics.minute' records as
 * agents send them (several partial records per device and minute, errors outside `invocations`, a
 * p95 past the top bucket sent as null), and GET /api/models/:name/metrics on the real cloud API.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloudApi, modelMetrics } from '../../src/cloud/api/index.js';
import { startGateway, type DeviceGateway } from '../../src/cloud/gateway/gateway.js';
import { DeviceRegistry } from '../../src/cloud/gateway/registry.js';
import { openModelRegistry, type ModelRegistry } from '../../src/cloud/registry/registry.js';
import type { TelemetryRecord } from '../../src/protocol/sync.js';
import { tempDir } from './registry-helpers.js';

let seq = 0;
/** A 'metrics.minute' record shaped like MinuteAggregator's (only the fields the series reads vary). */
const minuteRecord = (
  minute: string,
  version: string,
  invocations: number,
  errors: number,
  meanMs: number | null,
  p95LeMs: number | null,
  model = 'cnn',
  kind = 'metrics.minute',
): TelemetryRecord => ({
  id: `r-${++seq}`,
  kind,
  createdAt: minute,
  payload: {
    minute,
    model,
    version,
    invocations,
    errors,
    batchItems: invocations,
    modelLatency: { meanMs, maxMs: 0, p50LeMs: 0, p95LeMs },
    overheadLatency: { meanMs: 0, maxMs: 0, p50LeMs: 0, p95LeMs: 0 },
  },
});
const iso = (hhmm: string) => `2025-01-01T${hhmm}:00.000Z`;

describe('DeviceRegistry.metricsSeries', () => {
  const reg = new DeviceRegistry(':memory:');
  afterAll(() => reg.close());
  reg.addDevice('a', { id: 'dev-a' });
  reg.addDevice('b', { id: 'dev-b' });
  reg.ingest('dev-a', [
    minuteRecord(iso('11:59'), '1.0.0', 7, 0, 1, 1), // before the window
    // Two partial records of one device's minute (the agent flushed the open minute twice): summed.
    minuteRecord(iso('12:00'), '1.0.0', 90, 10, 2, 5),
    minuteRecord(iso('12:00'), '1.0.0', 10, 0, 4, 10),
    minuteRecord(iso('12:00'), '1.0.0', 5, 0, 1, 1, 'other-model'),
    minuteRecord(iso('12:03'), '2.0.0', 9, 0, 1, 1), // the window's end is exclusive
  ]);
  reg.ingest('dev-b', [
    minuteRecord(iso('12:00'), '1.0.0', 100, 0, 1, 2.5),
    // p95 past the top bucket: JSON turns the agent's Infinity into null.
    minuteRecord(iso('12:01'), '2.0.0', 50, 50, 3, null),
    // Only failed requests: the agent's summary says p95 0 and mean null; neither is a latency.
    minuteRecord(iso('12:02'), '2.0.0', 0, 5, null, 0),
    minuteRecord(iso('12:02'), '2.0.0', 3, 0, 1, 1, 'cnn', 'metrics.shadow'),
  ]);

  it('sums per minute and version: requests = invocations + errors, the largest p95, the invocation-weighted mean, devices', () => {
    expect(reg.metricsSeries('cnn', iso('12:00'), iso('12:03'))).toEqual([
      {
        minute: iso('12:00'),
        version: '1.0.0',
        requests: 210,
        errors: 10,
        errorRate: 10 / 210,
        p95LeMs: 10,
        meanMs: (2 * 90 + 4 * 10 + 1 * 100) / 200,
        devices: 2,
      },
      { minute: iso('12:01'), version: '2.0.0', requests: 100, errors: 50, errorRate: 0.5, p95LeMs: null, meanMs: 3, devices: 1 },
      { minute: iso('12:02'), version: '2.0.0', requests: 5, errors: 5, errorRate: 1, p95LeMs: null, meanMs: null, devices: 1 },
    ]);
  });

  it('without an end takes everything from the start; another model or none at all gives no points', () => {
    expect(reg.metricsSeries('cnn', iso('12:02')).map((p) => [p.minute, p.version, p.requests])).toEqual([
      [iso('12:02'), '2.0.0', 5],
      [iso('12:03'), '2.0.0', 9],
    ]);
    expect(reg.metricsSeries('other-model', iso('00:00'))).toEqual([
      { minute: iso('12:00'), version: '1.0.0', requests: 5, errors: 0, errorRate: 0, p95LeMs: 1, meanMs: 1, devices: 1 },
    ]);
    expect(reg.metricsSeries('nope', iso('00:00'))).toEqual([]);
  });
});

describe('modelMetrics', () => {
  it('covers the `minutes` minutes up to and including the current one, versions in order of appearance', () => {
    const reg = new DeviceRegistry(':memory:');
    try {
      reg.addDevice('a', { id: 'dev-a' });
      reg.ingest('dev-a', [
        minuteRecord(iso('12:00'), '2.0.0', 10, 0, 1, 1),
        minuteRecord(iso('12:01'), '1.0.0', 10, 0, 1, 1),
        minuteRecord(iso('12:02'), '1.0.0', 10, 10, 1, 1),
      ]);
      const now = Date.parse(iso('12:02')) + 30_000;
      const two = modelMetrics(reg, 'cnn', 2, now);
      expect(two).toMatchObject({ model: 'cnn', minutes: 2, from: iso('12:01'), until: iso('12:03') });
      expect(two.versions).toEqual([
        {
          version: '1.0.0',
          requests: 30,
          errors: 10,
          errorRate: 1 / 3,
          maxP95LeMs: 1,
          devices: 1,
          points: [
            { minute: iso('12:01'), requests: 10, errors: 0, errorRate: 0, p95LeMs: 1, meanMs: 1, devices: 1 },
            { minute: iso('12:02'), requests: 20, errors: 10, errorRate: 0.5, p95LeMs: 1, meanMs: 1, devices: 1 },
          ],
        },
      ]);
      expect(modelMetrics(reg, 'cnn', 3, now).versions.map((v) => v.version)).toEqual(['2.0.0', '1.0.0']);
    } finally {
      reg.close();
    }
  });
});

describe('GET /api/models/:name/metrics', () => {
  const TOKEN = 'metrics-test-token-0123456789';
  let dir: string;
  let gateway: DeviceGateway;
  let registry: ModelRegistry;
  let app: ReturnType<typeof createCloudApi>;
  const minuteAgo = (n: number) => new Date((Math.floor(Date.now() / 60_000) - n) * 60_000).toISOString();
  const get = (url: string, token: string | null = TOKEN) => app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    dir = tempDir('kiln-metrics-');
    gateway = await startGateway({ dbPath: join(dir, 'cloud.db'), port: 0 });
    registry = await openModelRegistry({ dbPath: join(dir, 'cloud.db') });
    app = createCloudApi({ gateway, registry, token: TOKEN });
    for (const id of ['pi-1', 'pi-2']) gateway.addDevice(id, { id });
    gateway.registry.ingest('pi-1', [
      minuteRecord(minuteAgo(3), '1.0.0', 40, 0, 2, 5),
      minuteRecord(minuteAgo(2), '1.0.0', 40, 0, 2, 5),
      minuteRecord(minuteAgo(90), '1.0.0', 40, 0, 2, 5),
    ]);
    gateway.registry.ingest('pi-2', [
      minuteRecord(minuteAgo(3), '1.0.0', 20, 0, 4, 10),
      minuteRecord(minuteAgo(2), '2.0.0', 15, 5, 3, 5),
      minuteRecord(minuteAgo(1), '2.0.0', 20, 0, 3, 5),
    ]);
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await registry?.close();
    await gateway?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers per-version series with totals over the window (60 minutes by default)', async () => {
    const res = await get('/api/models/cnn/metrics');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ model: 'cnn', minutes: 60 });
    expect(Date.parse(body.until) - Date.parse(body.from)).toBe(60 * 60_000);
    expect(Date.parse(body.until)).toBeGreaterThan(Date.now() - 1000);
    expect(body.versions.map((v: { version: string }) => v.version)).toEqual(['1.0.0', '2.0.0']);
    const [v1, v2] = body.versions;
    // The record 90 minutes old is outside the window.
    expect(v1).toMatchObject({ requests: 100, errors: 0, errorRate: 0, maxP95LeMs: 10, devices: 2 });
    expect(v1.points).toEqual([
      { minute: minuteAgo(3), requests: 60, errors: 0, errorRate: 0, p95LeMs: 10, meanMs: (2 * 40 + 4 * 20) / 60, devices: 2 },
      { minute: minuteAgo(2), requests: 40, errors: 0, errorRate: 0, p95LeMs: 5, meanMs: 2, devices: 1 },
    ]);
    expect(v2).toMatchObject({ requests: 40, errors: 5, errorRate: 5 / 40, maxP95LeMs: 5, devices: 1 });
    expect(v2.points.map((p: { minute: string; errorRate: number }) => [p.minute, p.errorRate])).toEqual([
      [minuteAgo(2), 0.25],
      [minuteAgo(1), 0],
    ]);
  });

  it('a model with no telemetry has no versions', async () => {
    const none = await get('/api/models/unknown/metrics?minutes=1440');
    expect(none.statusCode).toBe(200);
    expect(none.json().versions).toEqual([]);
  });

  it('BAD CALL: no token (401), minutes out of range or not a number (400)', async () => {
    expect((await get('/api/models/cnn/metrics', null)).statusCode).toBe(401);
    for (const q of ['0', '1441', 'abc', '-5', '1.5']) {
      const res = await get(`/api/models/cnn/metrics?minutes=${q}`);
      expect(res.statusCode, q).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad-request', message: expect.stringMatching(/minutes/) });
    }
    expect((await get('/api/models/cnn/metrics?window=5')).statusCode).toBe(400);
  });
});
