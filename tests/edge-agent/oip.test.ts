/**
 * The Open Inference Protocol over real HTTP on 127.0.0.1: health, metadata, inference with JSON
 * and binary tensors (outputs equal onnxruntime's own run), and every error case.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { decodeBinaryResponse, encodeBinaryRequest } from '../../src/edge-agent/http/oip.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir, type TestArtifact } from './helpers.js';

let agent: Agent;
let server: AgentServer;
let art: TestArtifact;
let expected: Float32Array;
const input = randomInput(3 * 32 * 32, 7);

beforeAll(async () => {
  const root = tempDir();
  art = await makeArtifact(root, 'cnn', '1');
  agent = new Agent({ dataDir: join(root, 'data'), models: [art.dir], kilnHome });
  await agent.start();
  server = await serveAgent(agent, { port: 0, maxRequestBytes: 1 << 20 });
  const session = await createOrtNodeSession(readFileSync(join(art.dir, 'model.onnx')));
  const out = await session.run({ input: new ort.Tensor('float32', input, [1, 3, 32, 32]) });
  expected = out.output.data as Float32Array;
  await session.release();
});

afterAll(async () => {
  await server?.close();
  await agent?.close();
});

const jsonBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(input) }], ...extra });

describe('OIP endpoints', () => {
  it('health, server and model metadata', async () => {
    expect((await http(`${server.url}/v2/health/live`)).status).toBe(200);
    const ready = await http(`${server.url}/v2/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ ready: true });
    expect((await http(`${server.url}/v2`)).json()).toMatchObject({ name: 'kiln-agent', extensions: ['binary_tensor_data'] });
    const meta = (await http(`${server.url}/v2/models/cnn`)).json();
    expect(meta).toEqual({
      name: 'cnn',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 10] }],
      // Beside OIP's fields: how this version runs here.
      runtime: { target: 'x86_64', backend: 'ort-node', provider: 'cpu' },
    });
    expect((await http(`${server.url}/v2/models/cnn/versions/1`)).json().versions).toEqual(['1']);
    expect((await http(`${server.url}/v2/models/cnn/ready`)).status).toBe(200);
    expect((await http(`${server.url}/v2/models/cnn/versions/1/ready`)).status).toBe(200);
  });

  it('JSON inference equals onnxruntime run directly (flat and nested data, with id)', async () => {
    const res = await http(`${server.url}/v2/models/cnn/infer`, { body: jsonBody({ id: 'req-1' }), headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    const doc = res.json();
    expect(doc).toMatchObject({ model_name: 'cnn', model_version: '1', id: 'req-1', outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 10] }] });
    expect(Float32Array.from(doc.outputs[0].data)).toEqual(expected);
    // Nested data (as numpy's tolist() gives) is accepted too.
    const nested: number[][][][] = [
      [0, 1, 2].map((c) => Array.from({ length: 32 }, (_, y) => Array.from(input.subarray(c * 1024 + y * 32, c * 1024 + y * 32 + 32)))),
    ];
    const res2 = await http(`${server.url}/v2/models/cnn/versions/1/infer`, {
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: nested }] }),
    });
    expect(Float32Array.from(res2.json().outputs[0].data)).toEqual(expected);
  });

  it('binary inference (binary in, binary out) equals onnxruntime run directly', async () => {
    const { body, headerLength } = encodeBinaryRequest({ input: { type: 'float32', dims: [1, 3, 32, 32], data: input } }, { binaryOutputs: true });
    const res = await http(`${server.url}/v2/models/cnn/infer`, {
      body,
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': headerLength },
    });
    expect(res.status).toBe(200);
    const hl = Number(res.headers['inference-header-content-length']);
    expect(hl).toBeGreaterThan(0);
    const { doc, outputs } = decodeBinaryResponse(res.body, hl);
    expect((doc.outputs as { parameters: unknown }[])[0].parameters).toEqual({ binary_data_size: 40 });
    expect(outputs.output.data).toEqual(expected);
  });

  it('binary in, JSON out; and per-output binary_data', async () => {
    const { body, headerLength } = encodeBinaryRequest({ input: { type: 'float32', dims: [1, 3, 32, 32], data: input } });
    const res = await http(`${server.url}/v2/models/cnn/infer`, { body, headers: { 'Inference-Header-Content-Length': headerLength } });
    expect(res.headers['inference-header-content-length']).toBeUndefined();
    expect(Float32Array.from(res.json().outputs[0].data)).toEqual(expected);
    const perOutput = encodeBinaryRequest({ input: { type: 'float32', dims: [1, 3, 32, 32], data: input } }, { outputs: ['output'], binaryOutputs: true });
    const res2 = await http(`${server.url}/v2/models/cnn/infer`, {
      body: perOutput.body,
      headers: { 'Inference-Header-Content-Length': perOutput.headerLength },
    });
    expect(decodeBinaryResponse(res2.body, Number(res2.headers['inference-header-content-length'])).outputs.output.data).toEqual(expected);
  });

  it('counts requests in /metrics', async () => {
    const text = (await http(`${server.url}/metrics`)).body.toString();
    expect(text).toMatch(/kiln_agent_inference_requests_total\{model="cnn",version="1"\} [1-9]/);
  });
});

describe('OIP error cases: clear 4xx JSON errors', () => {
  const post = (path: string, body: string | Uint8Array, headers: Record<string, string | number> = {}) => http(`${server.url}${path}`, { body, headers });
  const expectError = async (p: Promise<{ status: number; json(): any }>, status: number, pattern: RegExp) => {
    const res = await p;
    expect(res.status).toBe(status);
    const doc = res.json();
    expect(Object.keys(doc)).toEqual(['error']);
    expect(doc.error).toMatch(pattern);
  };

  it('BAD CALL: unknown model, unknown version, unknown endpoint', async () => {
    await expectError(post('/v2/models/nope/infer', jsonBody()), 404, /unknown model 'nope'; this agent serves 'cnn'/);
    await expectError(post('/v2/models/cnn/versions/9/infer', jsonBody()), 404, /model 'cnn' has no version '9'; available: '1'/);
    await expectError(http(`${server.url}/v2/models/nope`), 404, /unknown model 'nope'/);
    await expectError(http(`${server.url}/v2/models/cnn/versions/9/ready`), 404, /no version '9'/);
    await expectError(http(`${server.url}/v3/whatever`), 404, /no such endpoint/);
    await expectError(http(`${server.url}/v2/models/cnn/infer`), 405, /takes POST/);
  });

  it('BAD CALL: bad JSON, not an object, no inputs', async () => {
    await expectError(post('/v2/models/cnn/infer', '{"inputs": ['), 400, /not valid JSON/);
    await expectError(post('/v2/models/cnn/infer', '[1,2]'), 400, /must be a JSON object/);
    await expectError(post('/v2/models/cnn/infer', '{"inputs": []}'), 400, /"inputs" must be a non-empty array.*takes 'input'/);
  });

  it('BAD CALL: wrong input name, missing input, duplicate input', async () => {
    await expectError(
      post('/v2/models/cnn/infer', JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] })),
      400,
      /has no input 'x'; its inputs are 'input'/,
    );
    const one = { name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(input) };
    await expectError(post('/v2/models/cnn/infer', JSON.stringify({ inputs: [one, one] })), 400, /given twice/);
  });

  it('BAD CALL: wrong shape, wrong dtype, wrong element count, bad element', async () => {
    const req = (o: Record<string, unknown>) =>
      JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(input), ...o }] });
    await expectError(
      post('/v2/models/cnn/infer', req({ shape: [1, 3, 16, 64] })),
      400,
      /shape \[1, 3, 16, 64\], the model expects \[1, 3, 32, 32\] \(axis 2 must be 32\)/,
    );
    await expectError(post('/v2/models/cnn/infer', req({ shape: [3, 32, 32] })), 400, /has 3 dimensions/);
    await expectError(post('/v2/models/cnn/infer', req({ datatype: 'FP64' })), 400, /datatype FP64, the model expects FP32/);
    await expectError(post('/v2/models/cnn/infer', req({ data: [1, 2, 3] })), 400, /has 3 elements in "data", but shape \[1, 3, 32, 32\] needs 3072/);
    await expectError(post('/v2/models/cnn/infer', req({ data: ['a', ...Array.from(input).slice(1)] })), 400, /element 0 \("a"\) is not a number/);
    await expectError(post('/v2/models/cnn/infer', req({ data: undefined })), 400, /has no "data"/);
  });

  it('BAD CALL: binary data of the wrong size, missing header, trailing bytes, unknown output', async () => {
    const good = encodeBinaryRequest({ input: { type: 'float32', dims: [1, 3, 32, 32], data: input } });
    const short = encodeBinaryRequest({ input: { type: 'float32', dims: [1, 3, 32, 32], data: input.subarray(0, 100) } });
    await expectError(
      post('/v2/models/cnn/infer', short.body, { 'Inference-Header-Content-Length': short.headerLength }),
      400,
      /400 bytes of binary data, but shape \[1, 3, 32, 32\] of FP32 needs 12288/,
    );
    await expectError(post('/v2/models/cnn/infer', good.body), 400, /not valid JSON|no Inference-Header-Content-Length/);
    await expectError(
      post('/v2/models/cnn/infer', Buffer.concat([good.body, Buffer.alloc(8)]), { 'Inference-Header-Content-Length': good.headerLength }),
      400,
      /8 bytes after the inputs' data/,
    );
    await expectError(post('/v2/models/cnn/infer', good.body, { 'Inference-Header-Content-Length': 'abc' }), 400, /must be a byte count/);
    await expectError(
      post('/v2/models/cnn/infer', good.body, { 'Inference-Header-Content-Length': good.body.length + 5 }),
      400,
      /Inference-Header-Content-Length is/,
    );
    await expectError(post('/v2/models/cnn/infer', jsonBody({ outputs: [{ name: 'logits' }] })), 400, /has no output 'logits'; its outputs are 'output'/);
  });

  it('BAD CALL: oversize payload → 413 (Content-Length and chunked), and the connection still answers', async () => {
    const big = Buffer.alloc((1 << 20) + 10, 0x20);
    await expectError(post('/v2/models/cnn/infer', big), 413, /larger than the limit of 1048576 bytes/);
    // Chunked upload without Content-Length: the limit holds while streaming.
    const res = await new Promise<{ status: number; json(): any }>((resolve, reject) => {
      const req = request(`${server.url}/v2/models/cnn/infer`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, json: () => JSON.parse(Buffer.concat(chunks).toString()) }));
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write(Buffer.alloc(100_000, 0x20));
      req.end();
    });
    expect(res.status).toBe(413);
    expect((await post('/v2/models/cnn/infer', jsonBody())).status).toBe(200);
  });
});
