/**
 * Dynamic batching: concurrent requests to a model with a free batch dimension share model runs,
 * and each gets exactly the rows onnxruntime gives for its own input.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { isBatchable } from '../../src/edge-agent/batcher.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { decodeBinaryResponse, encodeBinaryRequest } from '../../src/edge-agent/http/oip.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir } from './helpers.js';

let agent: Agent;
let server: AgentServer;
afterAll(async () => {
  await server?.close();
  await agent?.close();
});

describe('dynamic batching', () => {
  it('which models batch', () => {
    const spec = (shape: (number | string)[]) => ({ name: 'x', dtype: 'float32', shape });
    expect(isBatchable([spec(['N', 3])], [spec(['N', 10])])).toBe(true);
    expect(isBatchable([spec([-1, 3])], [spec([-1])])).toBe(true);
    expect(isBatchable([spec([1, 3])], [spec(['N', 10])])).toBe(false);
    expect(isBatchable([spec(['N', 3])], [spec([10])])).toBe(false);
  });

  it('16 concurrent requests share runs; every answer equals its own onnxruntime run', async () => {
    const root = tempDir();
    const art = await makeArtifact(root, 'dyn', '1', { inputShape: ['N', 3, 32, 32] });
    agent = new Agent({ dataDir: join(root, 'data'), models: [art.dir], kilnHome, batching: { maxBatchSize: 8, maxQueueDelayMs: 20 } });
    await agent.start();
    server = await serveAgent(agent, { port: 0 });
    const session = await createOrtNodeSession(readFileSync(join(art.dir, 'model.onnx')));

    // Requests of 1 and 2 rows, sent at once.
    const inputs = Array.from({ length: 16 }, (_, i) => ({ rows: i % 3 === 0 ? 2 : 1, data: randomInput((i % 3 === 0 ? 2 : 1) * 3072, 100 + i) }));
    const answers = await Promise.all(
      inputs.map(async ({ rows, data }) => {
        const { body, headerLength } = encodeBinaryRequest({ input: { type: 'float32', dims: [rows, 3, 32, 32], data } }, { binaryOutputs: true });
        const res = await http(`${server.url}/v2/models/dyn/infer`, { body, headers: { 'Inference-Header-Content-Length': headerLength } });
        expect(res.status).toBe(200);
        return decodeBinaryResponse(res.body, Number(res.headers['inference-header-content-length'])).outputs.output;
      }),
    );
    for (const [i, { rows, data }] of inputs.entries()) {
      const want = (await session.run({ input: new ort.Tensor('float32', data, [rows, 3, 32, 32]) })).output;
      expect(answers[i].dims).toEqual([rows, 10]);
      const got = answers[i].data as Float32Array;
      const exp = want.data as Float32Array;
      for (let k = 0; k < exp.length; k++) expect(got[k]).toBeCloseTo(exp[k], 5);
    }
    await session.release();
    // Fewer model runs than requests: batches formed (22 rows in at most 8 per run → ≥ 3 runs).
    const runs = agent.metrics.batchSize.count({ model: 'dyn', version: '1' });
    expect(runs).toBeLessThan(16);
    expect(runs).toBeGreaterThanOrEqual(3);
    const text = agent.renderMetrics();
    expect(text).toMatch(/kiln_agent_batch_size_bucket\{model="dyn",version="1",le="1"\} \d+/);
    expect(agent.metrics.invocations.get({ model: 'dyn', version: '1' })).toBe(16);
  });
});
