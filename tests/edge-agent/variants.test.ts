/**
 * Production variants over real HTTP: weighted A/B between kept versions (sticky by the
 * Kiln-Routing-Key header), and a shadow version that gets a copy of each request, whose answer is
 * compared (top-1 agreement, max abs difference, latency) and never returned; a shadow run that fails
 * is counted as the shadow's error, a copy skipped is not.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { OUTBOX_KINDS } from '../../src/edge-agent/outbox.js';
import { compareOutputs, pickVersion } from '../../src/edge-agent/variants.js';
import type { NamedTensors } from '../../src/runtime/backend.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir } from './helpers.js';

let agent: Agent;
let server: AgentServer;
const body = (seed: number) =>
  JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(randomInput(3072, seed)) }] });

beforeAll(async () => {
  const root = tempDir();
  const v1 = await makeArtifact(root, 'cnn', '1', { seed: 1 });
  const v2 = await makeArtifact(root, 'cnn', '2', { seed: 2 });
  const v3 = await makeArtifact(root, 'cnn', '3', { seed: 1, classes: 10 });
  agent = new Agent({ dataDir: join(root, 'data'), models: [v1.dir, v2.dir, v3.dir], kilnHome });
  await agent.start();
  server = await serveAgent(agent, { port: 0 });
});
afterAll(async () => {
  await server?.close();
  await agent?.close();
});

describe('A/B', () => {
  it('splits by weight, sticks by key, and an explicit version wins', async () => {
    agent.setVariants('cnn', { weights: { '1': 1, '2': 1 } });
    const seen: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const v = (await http(`${server.url}/v2/models/cnn/infer`, { body: body(i) })).json().model_version as string;
      seen[v] = (seen[v] ?? 0) + 1;
    }
    expect(Object.keys(seen).sort()).toEqual(['1', '2']);
    for (const key of ['alice', 'bob', 'carol']) {
      const versions = new Set<string>();
      for (let i = 0; i < 5; i++)
        versions.add((await http(`${server.url}/v2/models/cnn/infer`, { body: body(i), headers: { 'Kiln-Routing-Key': key } })).json().model_version);
      expect(versions.size).toBe(1);
      expect([...versions][0]).toBe(pickVersion({ '1': 1, '2': 1 }, key));
    }
    expect((await http(`${server.url}/v2/models/cnn/versions/3/infer`, { body: body(1) })).json().model_version).toBe('3');
    agent.setVariants('cnn', undefined);
    expect((await http(`${server.url}/v2/models/cnn/infer`, { body: body(1) })).json().model_version).toBe('3');
  });

  it('pickVersion is deterministic per key and follows the weights', () => {
    const w = { a: 9, b: 1 };
    let a = 0;
    for (let i = 0; i < 2000; i++) if (pickVersion(w, `user-${i}`) === 'a') a++;
    expect(a / 2000).toBeGreaterThan(0.85);
    expect(a / 2000).toBeLessThan(0.95);
    expect(pickVersion(w, 'x')).toBe(pickVersion(w, 'x'));
  });
});

describe('shadow', () => {
  it('copies each request to the shadow, compares, never returns its answer', async () => {
    // Current is 3 (same weights as 1: seed 1), shadow 1 agrees fully; then shadow 2 (other weights).
    agent.setVariants('cnn', { shadow: '1' });
    for (let i = 0; i < 6; i++) {
      const res = await http(`${server.url}/v2/models/cnn/infer`, { body: body(i) });
      expect(res.json().model_version).toBe('3');
      await new Promise((r) => setTimeout(r, 20));
    }
    const same = { model: 'cnn', version: '3', shadow: '1' };
    await expect.poll(() => agent.metrics.shadowRuns.get(same)).toBeGreaterThanOrEqual(5);
    expect(agent.metrics.shadowTop1Agree.get(same)).toBe(agent.metrics.shadowRows.get(same));

    agent.setVariants('cnn', { shadow: '2' });
    for (let i = 0; i < 6; i++) {
      await http(`${server.url}/v2/models/cnn/infer`, { body: body(100 + i) });
      await new Promise((r) => setTimeout(r, 20));
    }
    const other = { model: 'cnn', version: '3', shadow: '2' };
    await expect.poll(() => agent.metrics.shadowRuns.get(other)).toBeGreaterThanOrEqual(5);
    const text = agent.renderMetrics();
    expect(text).toMatch(/kiln_agent_shadow_max_abs_diff_count\{model="cnn",version="3",shadow="2"\} [5-6]/);
    agent.flushMetrics(true);
    const rows = agent.outbox
      .peek(100, OUTBOX_KINDS.shadow)
      .map((r) => r.payload as { shadow: string; top1Agreement: number; maxAbsDiff: number; comparisons: number });
    const s1 = rows.find((r) => r.shadow === '1')!;
    expect(s1.top1Agreement).toBe(1);
    expect(s1.maxAbsDiff).toBe(0);
    const s2 = rows.find((r) => r.shadow === '2')!;
    expect(s2.maxAbsDiff).toBeGreaterThan(0);
    agent.setVariants('cnn', undefined);
  });

  it('a shadow run that fails is an error of the shadow version; a copy skipped is not', async () => {
    // Version 4 takes 16×16 inputs: it passes probation on its own (zero) inputs, and every copy of a
    // 32×32 request fails in the model, while version 3 answers every request.
    const v4 = await makeArtifact(tempDir(), 'cnn', '4', { seed: 1, inputShape: [1, 3, 16, 16] });
    expect((await agent.install(v4.dir, { serve: false })).state).toBe('kept');
    const bad = { model: 'cnn', version: '3', shadow: '4' };
    agent.flushMetrics(true);
    const before = agent.outbox.count(OUTBOX_KINDS.shadow);
    agent.setVariants('cnn', { shadow: '4' });
    for (let i = 0; i < 6; i++) {
      const res = await http(`${server.url}/v2/models/cnn/infer`, { body: body(200 + i) });
      expect(res.status).toBe(200);
      expect(res.json().model_version).toBe('3');
      await new Promise((r) => setTimeout(r, 20));
    }
    await expect.poll(() => agent.metrics.shadowFailed.get(bad)).toBeGreaterThanOrEqual(5);
    expect(agent.metrics.shadowRuns.get(bad)).toBe(0);

    // Skipped copies — one already running, the version not kept — are not the shadow's failures.
    const failed = agent.metrics.shadowFailed.get(bad);
    const served = agent.route('cnn');
    const inputs: NamedTensors = { input: { type: 'float32', dims: [1, 3, 32, 32], data: randomInput(3072, 7) } };
    const outputs: NamedTensors = { output: { type: 'float32', dims: [1, 10], data: new Float32Array(10) } };
    const busy = agent.metrics.shadowSkipped.get({ model: 'cnn', reason: 'busy' });
    await Promise.all([agent.shadow(served, inputs, outputs, 0), agent.shadow(served, inputs, outputs, 0)]);
    expect(agent.metrics.shadowSkipped.get({ model: 'cnn', reason: 'busy' })).toBe(busy + 1);
    expect(agent.metrics.shadowFailed.get(bad)).toBe(failed + 1);
    agent.setVariants('cnn', { shadow: '99' });
    expect((await http(`${server.url}/v2/models/cnn/infer`, { body: body(300) })).status).toBe(200);
    await expect.poll(() => agent.metrics.shadowSkipped.get({ model: 'cnn', reason: 'version-missing' })).toBeGreaterThanOrEqual(1);
    agent.setVariants('cnn', undefined);

    agent.flushMetrics(true);
    const rows = agent.outbox
      .peek(1000, OUTBOX_KINDS.shadow)
      .slice(before)
      .map((r) => r.payload as { shadow: string; comparisons: number; errors: number; shadowLatency: unknown });
    expect(rows.some((r) => r.shadow === '99')).toBe(false);
    const four = rows.filter((r) => r.shadow === '4');
    expect(four.reduce((n, r) => n + r.errors, 0)).toBe(failed + 1);
    expect(four.every((r) => r.comparisons === 0 && r.shadowLatency === null)).toBe(true);
    expect(agent.renderMetrics()).toMatch(/kiln_agent_shadow_failures_total\{model="cnn",version="3",shadow="4"\} \d+/);
  });

  it('compareOutputs', () => {
    const t = (d: number[]) => ({ type: 'float32', dims: [2, 2], data: Float32Array.from(d) });
    expect(compareOutputs({ y: t([1, 0, 0, 1]) }, { y: t([1, 0, 1, 0]) })).toEqual({ top1Agree: 1, rows: 2, maxAbsDiff: 1 });
    expect(compareOutputs({ y: t([1, 0, 0, 1]) }, { y: { type: 'float32', dims: [4], data: new Float32Array(4) } }).maxAbsDiff).toBe(Infinity);
  });

  it('BAD CALL: bad variant configs', () => {
    expect(() => agent.setVariants('cnn', { weights: { '1': -1 } })).toThrow(/variants\.cnn\.weights\.1 must be a number ≥ 0/);
    expect(() => agent.setVariants('cnn', { weights: { '1': 0 } })).toThrow(/at least one version a weight > 0/);
    expect(() => agent.setVariants('cnn', { weights: {} })).toThrow(/must map versions to weights/);
    expect(() => agent.setVariants('cnn', { shade: '1' } as never)).toThrow(/unknown key 'shade'/);
  });
});
