/**
 * /metrics is valid Prometheus text (every line parses, histograms are consistent) and counts
 * invocations, latency, overhead, errors and batch sizes per model and version; the outbox keeps
 * per-minute aggregates and drops the oldest aggregates first past its bound, counting the drops.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { MinuteAggregator, Outbox, OUTBOX_KINDS } from '../../src/edge-agent/outbox.js';
import { StateDb } from '../../src/edge-agent/store/state-db.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir } from './helpers.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict parser of the Prometheus text format 0.0.4: throws on any line it does not accept. */
function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleRe = new RegExp(`^(${NAME})(\\{(.*)\\})? (\\S+)$`);
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) continue;
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      if (types.has(t[1])) throw new Error(`TYPE twice for ${t[1]}`);
      types.set(t[1], t[2]);
      continue;
    }
    const m = sampleRe.exec(line);
    if (!m) throw new Error(`unparseable line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      labelRe.lastIndex = 0;
      let l: RegExpExecArray | null;
      let consumed = 0;
      while ((l = labelRe.exec(m[3]))) {
        labels[l[1]] = l[2];
        consumed = labelRe.lastIndex;
        if (l[3] === '') break;
      }
      if (consumed !== m[3].length) throw new Error(`bad labels: ${line}`);
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== 'NaN') throw new Error(`bad value: ${line}`);
    const base = m[1].replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1]) && !types.has(base)) throw new Error(`sample before its TYPE: ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  return { types, samples };
}

let agent: Agent;
let server: AgentServer;

beforeAll(async () => {
  const root = tempDir();
  const art = await makeArtifact(root, 'cnn', '1');
  agent = new Agent({ dataDir: join(root, 'data'), models: [art.dir], kilnHome });
  await agent.start();
  server = await serveAgent(agent, { port: 0 });
});
afterAll(async () => {
  await server?.close();
  await agent?.close();
});

describe('metrics', () => {
  it('parses, and counts per model and version', async () => {
    const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(randomInput(3072)) }] });
    for (let i = 0; i < 3; i++) expect((await http(`${server.url}/v2/models/cnn/infer`, { body })).status).toBe(200);
    expect((await http(`${server.url}/v2/models/cnn/infer`, { body: '{' })).status).toBe(400);
    const { types, samples } = parsePrometheus((await http(`${server.url}/metrics`)).body.toString());
    const get = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    const mv = { model: 'cnn', version: '1' };
    expect(get('kiln_agent_inference_requests_total', mv)).toBe(3);
    expect(get('kiln_agent_inference_errors_total', { ...mv, status: '400' })).toBe(1);
    expect(types.get('kiln_agent_model_latency_seconds')).toBe('histogram');
    for (const h of [
      'kiln_agent_model_latency_seconds',
      'kiln_agent_overhead_latency_seconds',
      'kiln_agent_request_latency_seconds',
      'kiln_agent_batch_size',
    ]) {
      expect(get(`${h}_count`, mv)).toBe(3);
      expect(get(`${h}_bucket`, { ...mv, le: '+Inf' })).toBe(3);
      const buckets = samples.filter((s) => s.name === `${h}_bucket` && s.labels.model === 'cnn').map((s) => s.value);
      expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    }
    expect(get('kiln_agent_batch_size_bucket', { ...mv, le: '1' })).toBe(3);
    expect(get('kiln_agent_model_latency_seconds_sum', mv)!).toBeGreaterThan(0);
    expect(get('kiln_agent_installs_total', { model: 'cnn', result: 'promoted' })).toBe(1);
    expect(get('kiln_agent_outbox_rows', { kind: OUTBOX_KINDS.install })).toBe(1);
  });

  it('per-minute aggregates go to the outbox when the minute closes', () => {
    agent.flushMetrics(true);
    const rows = agent.outbox.peek(10, OUTBOX_KINDS.metrics);
    expect(rows).toHaveLength(1);
    expect(rows[0].payload).toMatchObject({ model: 'cnn', version: '1', invocations: 3, errors: 1, batchItems: 3 });
  });
});

describe('outbox retention', () => {
  it('drops the oldest aggregates first, keeps install results, counts drops (persisted)', () => {
    const db = new StateDb(join(tempDir(), 'state.db'));
    const drops: Record<string, number> = {};
    const outbox = new Outbox(db, { maxRows: 5, onDrop: (k, n) => (drops[k] = (drops[k] ?? 0) + n) });
    outbox.add(OUTBOX_KINDS.install, { n: 0 });
    let clock = 0;
    const agg = new MinuteAggregator(outbox, () => clock);
    for (let minute = 0; minute < 8; minute++) {
      clock = minute * 60_000;
      agg.record('m', '1', { ok: true, modelSeconds: 0.01, overheadSeconds: 0.001, batch: 1 });
      clock += 60_000;
      agg.flush();
    }
    outbox.add(OUTBOX_KINDS.install, { n: 1 });
    const rows = outbox.peek(100);
    expect(rows).toHaveLength(5);
    expect(rows.filter((r) => r.kind === OUTBOX_KINDS.install).map((r) => (r.payload as { n: number }).n)).toEqual([0, 1]);
    expect(rows.filter((r) => r.kind === OUTBOX_KINDS.metrics).map((r) => (r.payload as { minute: string }).minute)).toEqual([
      '1970-01-01T00:05:00.000Z',
      '1970-01-01T00:06:00.000Z',
      '1970-01-01T00:07:00.000Z',
    ]);
    expect(drops).toEqual({ [OUTBOX_KINDS.metrics]: 5 });
    expect(outbox.dropped()).toEqual({ [OUTBOX_KINDS.metrics]: 5 });
    // Acknowledged rows leave.
    expect(outbox.ack(rows.slice(0, 2).map((r) => r.id))).toBe(2);
    expect(outbox.count()).toBe(3);
    db.close();
  });
});
