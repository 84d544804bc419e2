/**
 * The telemetry the model-aware gates read: the agent's per-minute aggregates carry an output histogram
 * and shadow comparison and failure counts, and the gateway's registry sums them per device and version over a
 * window (`outputHistogramWindow`, `shadowWindow`). Pure SQLite, no broker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Database } from '../../src/sqlite.js';
import { DeviceRegistry } from '../../src/cloud/gateway/index.js';
import { OUTPUT_HISTOGRAM_BUCKETS, outputBucket } from '../../src/protocol/sync.js';
import { MinuteAggregator, OUTBOX_KINDS, type Outbox } from '../../src/edge-agent/outbox.js';
import { outputBuckets } from '../../src/edge-agent/variants.js';

/** An outbox stand-in that keeps what the aggregator writes. */
function memoryOutbox(): { outbox: Outbox; rows: { kind: string; payload: Record<string, unknown> }[] } {
  const rows: { kind: string; payload: Record<string, unknown> }[] = [];
  return {
    rows,
    outbox: {
      add: (kind: string, payload: unknown) => (rows.push({ kind, payload: payload as Record<string, unknown> }), String(rows.length)),
    } as unknown as Outbox,
  };
}

describe('output histogram buckets', () => {
  it('one bucket per class up to 32 classes, proportional bins beyond', () => {
    expect(OUTPUT_HISTOGRAM_BUCKETS).toBe(32);
    expect(outputBucket(9, 10)).toBe(9);
    expect(outputBucket(999, 1000)).toBe(31);
    expect(outputBucket(500, 1000)).toBe(16);
    const t = { dims: [2, 3], data: Float32Array.from([0, 2, 1, 5, 0, 1]) };
    expect(outputBuckets(t)).toEqual([1, 0]);
    expect(outputBuckets(undefined)).toEqual([]);
  });
});

describe('MinuteAggregator', () => {
  it('writes top1 counts with the minute metrics, and comparison counts and shadow latency with the shadow minute', () => {
    const { outbox, rows } = memoryOutbox();
    const agg = new MinuteAggregator(outbox, () => 0);
    const ok = { ok: true, modelSeconds: 0.002, overheadSeconds: 0.001, batch: 1 };
    agg.record('cnn', '1.0.0', { ...ok, top1: [3] });
    agg.record('cnn', '1.0.0', { ...ok, top1: [3, 5] });
    agg.record('cnn', '1.0.0', { ok: false, modelSeconds: 0, overheadSeconds: 0, batch: 1 });
    agg.recordShadow('cnn', '1.0.0', '2.0.0', { rows: 2, top1Agree: 1, maxAbsDiff: 0.5, shadowSeconds: 0.004, servingSeconds: 0.002 });
    expect(agg.flush(true)).toBe(2);
    const m = rows.find((r) => r.kind === OUTBOX_KINDS.metrics)!.payload;
    expect(m).toMatchObject({ invocations: 2, errors: 1 });
    expect((m.top1 as number[]).length).toBe(32);
    expect((m.top1 as number[])[3]).toBe(2);
    expect((m.top1 as number[])[5]).toBe(1);
    expect(m.modelLatency).toMatchObject({ p95LeMs: expect.any(Number), p99LeMs: expect.any(Number) });
    expect((m.modelLatency as { p99LeMs: number }).p99LeMs).toBeGreaterThanOrEqual((m.modelLatency as { p95LeMs: number }).p95LeMs);
    expect(rows.find((r) => r.kind === OUTBOX_KINDS.shadow)!.payload).toMatchObject({
      comparisons: 1,
      errors: 0,
      rows: 2,
      top1Agree: 1,
      top1Agreement: 0.5,
      shadowLatency: { p95LeMs: 5 },
    });
  });

  it('counts failed shadow runs as errors beside the comparisons, per serving and shadow version', () => {
    const { outbox, rows } = memoryOutbox();
    const agg = new MinuteAggregator(outbox, () => 0);
    const c = { rows: 1, top1Agree: 1, maxAbsDiff: 0, shadowSeconds: 0.002, servingSeconds: 0.001 };
    agg.recordShadow('cnn', '1.0.0', '2.0.0', c);
    agg.recordShadowFailure('cnn', '1.0.0', '2.0.0');
    agg.recordShadowFailure('cnn', '1.0.0', '2.0.0');
    // Failures only: nothing compared, so no latency, and no division by zero.
    agg.recordShadowFailure('cnn', '1.0.0', '3.0.0');
    expect(agg.flush(true)).toBe(2);
    const byShadow = Object.fromEntries(rows.filter((r) => r.kind === OUTBOX_KINDS.shadow).map((r) => [r.payload.shadow, r.payload]));
    expect(byShadow['2.0.0']).toMatchObject({ model: 'cnn', version: '1.0.0', comparisons: 1, errors: 2, rows: 1, top1Agree: 1, top1Agreement: 1 });
    expect(byShadow['3.0.0']).toMatchObject({
      model: 'cnn',
      version: '1.0.0',
      comparisons: 0,
      errors: 1,
      rows: 0,
      top1Agreement: null,
      meanServingMs: null,
      meanShadowMs: null,
      shadowLatency: null,
    });
    // Survives the outbox's JSON round trip as written.
    expect(JSON.parse(JSON.stringify(byShadow['3.0.0']))).toEqual(byShadow['3.0.0']);
    expect(rows.filter((r) => r.kind === OUTBOX_KINDS.metrics)).toEqual([]);
  });
});

describe('DeviceRegistry gate windows', () => {
  const rec = (id: string, kind: string, payload: Record<string, unknown>) => ({ id, kind, createdAt: '2025-01-01T00:00:00.000Z', payload });
  it('sums histograms and shadow comparisons per device and version from a minute on', () => {
    const reg = new DeviceRegistry(':memory:');
    reg.addDevice('a', { id: 'dev-a' });
    const h = (i: number, n: number) => Object.assign(new Array<number>(32).fill(0), { [i]: n });
    reg.ingest('dev-a', [
      rec('rec-00001', 'metrics.minute', { minute: '2025-01-01T00:00:00.000Z', model: 'cnn', version: '1.0.0', invocations: 5, errors: 0, top1: h(3, 5) }),
      rec('rec-00002', 'metrics.minute', { minute: '2025-01-01T00:01:00.000Z', model: 'cnn', version: '1.0.0', invocations: 4, errors: 0, top1: h(4, 4) }),
      rec('rec-00003', 'metrics.minute', { minute: '2025-01-01T00:01:00.000Z', model: 'cnn', version: '2.0.0', invocations: 4, errors: 0 }),
      rec('rec-00004', 'shadow.minute', {
        minute: '2025-01-01T00:01:00.000Z',
        model: 'cnn',
        version: '1.0.0',
        shadow: '2.0.0',
        comparisons: 4,
        rows: 4,
        top1Agree: 3,
        shadowLatency: { p95LeMs: 5 },
      }),
      // An older agent: no row counts, only the ratio.
      rec('rec-00005', 'shadow.minute', {
        minute: '2025-01-01T00:02:00.000Z',
        model: 'cnn',
        version: '1.0.0',
        shadow: '2.0.0',
        comparisons: 2,
        top1Agreement: 0.5,
      }),
      rec('rec-00006', 'shadow.minute', {
        minute: '2024-12-31T23:59:00.000Z',
        model: 'cnn',
        version: '1.0.0',
        shadow: '2.0.0',
        comparisons: 100,
        rows: 100,
        top1Agree: 0,
      }),
    ]);
    const hist = reg.outputHistogramWindow('cnn', '2025-01-01T00:00:00.000Z');
    expect(hist).toHaveLength(1);
    expect(hist[0]).toMatchObject({ deviceId: 'dev-a', version: '1.0.0' });
    expect(hist[0].histogram[3]).toBe(5);
    expect(hist[0].histogram[4]).toBe(4);
    expect(reg.outputHistogramWindow('cnn', '2025-01-01T00:01:00.000Z')[0].histogram[3]).toBe(0);
    expect(reg.shadowWindow('cnn', '2025-01-01T00:00:00.000Z')).toEqual([
      { deviceId: 'dev-a', version: '1.0.0', shadow: '2.0.0', comparisons: 6, errors: 0, rows: 6, agreed: 4, maxP99Ms: 5 },
    ]);
    reg.close();
  });

  it('sums failed shadow runs (errors) per device, serving and shadow version; minutes of failures only report no latency', () => {
    const reg = new DeviceRegistry(':memory:');
    reg.addDevice('a', { id: 'dev-a' });
    reg.addDevice('b', { id: 'dev-b' });
    const m = (minute: number) => `2025-01-01T00:0${minute}:00.000Z`;
    const shadow = (minute: number, extra: Record<string, unknown>) => ({ minute: m(minute), model: 'cnn', version: '1.0.0', shadow: '2.0.0', ...extra });
    reg.ingest('dev-a', [
      rec('rec-a1', 'shadow.minute', shadow(0, { comparisons: 3, errors: 2, rows: 3, top1Agree: 3, shadowLatency: { p95LeMs: 10 } })),
      rec('rec-a2', 'shadow.minute', shadow(1, { comparisons: 0, errors: 7, rows: 0, top1Agree: 0, shadowLatency: null, meanShadowMs: null })),
      // Another shadow version of the same serving version is its own window.
      rec('rec-a3', 'shadow.minute', { ...shadow(1, { comparisons: 0, errors: 4, rows: 0, top1Agree: 0, shadowLatency: null }), shadow: '3.0.0' }),
    ]);
    reg.ingest('dev-b', [rec('rec-b1', 'shadow.minute', shadow(1, { comparisons: 0, errors: 5, rows: 0, top1Agree: 0, shadowLatency: null }))]);
    const w = reg.shadowWindow('cnn', m(0)).sort((x, y) => `${x.deviceId}${x.shadow}`.localeCompare(`${y.deviceId}${y.shadow}`));
    expect(w).toEqual([
      { deviceId: 'dev-a', version: '1.0.0', shadow: '2.0.0', comparisons: 3, errors: 9, rows: 3, agreed: 3, maxP99Ms: 10 },
      { deviceId: 'dev-a', version: '1.0.0', shadow: '3.0.0', comparisons: 0, errors: 4, rows: 0, agreed: 0, maxP99Ms: null },
      { deviceId: 'dev-b', version: '1.0.0', shadow: '2.0.0', comparisons: 0, errors: 5, rows: 0, agreed: 0, maxP99Ms: null },
    ]);
    // From minute 1 on: dev-a's first minute (with latency) is out of the window.
    expect(reg.shadowWindow('cnn', m(1)).find((r) => r.deviceId === 'dev-a' && r.shadow === '2.0.0')).toMatchObject({
      comparisons: 0,
      errors: 7,
      maxP99Ms: null,
    });
    reg.close();
  });

  it("one model's window is read through an index, not a scan of every device's telemetry", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-gate-index-'));
    try {
      new DeviceRegistry(join(dir, 'cloud.db')).close();
      const db = new Database(join(dir, 'cloud.db'), { readonly: true });
      const plan = (
        db
          .prepare(`EXPLAIN QUERY PLAN SELECT device_id, version FROM telemetry WHERE kind = 'metrics.minute' AND model = ? AND minute >= ?`)
          .all('cnn', '2025') as { detail: string }[]
      )
        .map((r) => r.detail)
        .join('; ');
      db.close();
      expect(plan).toMatch(/USING INDEX telemetry_model_window/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the latency gate reads p99 bucket bounds, and p95 from agents that send no p99', () => {
    const reg = new DeviceRegistry(':memory:');
    reg.addDevice('a', { id: 'dev-a' });
    reg.addDevice('b', { id: 'dev-b' });
    const minute = '2025-01-01T00:00:00.000Z';
    reg.ingest('dev-a', [
      {
        id: 'rec-p99-1',
        kind: 'metrics.minute',
        createdAt: minute,
        payload: { minute, model: 'cnn', version: '1.0.0', invocations: 100, errors: 0, modelLatency: { p95LeMs: 10, p99LeMs: 40 } },
      },
    ]);
    reg.ingest('dev-b', [
      {
        id: 'rec-p99-2',
        kind: 'metrics.minute',
        createdAt: minute,
        payload: { minute, model: 'cnn', version: '1.0.0', invocations: 100, errors: 0, modelLatency: { p95LeMs: 25 } },
      },
    ]);
    const w = reg.metricsWindow('cnn', minute);
    expect(w.find((r) => r.deviceId === 'dev-a')?.maxP99Ms).toBe(40);
    expect(w.find((r) => r.deviceId === 'dev-b')?.maxP99Ms).toBe(25);
    reg.close();
  });
});
