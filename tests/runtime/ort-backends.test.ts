/**
 * ort-node and ort-web behind the InferenceBackend interface: both load the same tiny built models
 * (from bytes and from a path), describe the same inputs and outputs, and agree within 1e-4.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCnn, buildMlp } from '../../src/onnx/builder.js';
import { serializeModel } from '../../src/onnx/model.js';
import type { InferenceBackend, LoadedModelHandle, NamedTensors } from '../../src/runtime/backend.js';
import { createOrtNodeBackend } from '../../src/runtime/ort-node-backend.js';
import { createOrtWebBackend } from '../../src/runtime/ort-web-backend.js';
import { expectKilnError, maxAbsDiff, randomTensor, tempDir } from './helpers.js';

const ortNode = createOrtNodeBackend();
const ortWeb = createOrtWebBackend();

const models = {
  mlp: { bytes: serializeModel(buildMlp({ inputSize: 16, hidden: [32, 24], outputs: 10, seed: 3 })), feeds: { input: randomTensor([4, 16], 7) } },
  cnn: { bytes: serializeModel(buildCnn({ residual: true, depthwise: true, seed: 5 })), feeds: { input: randomTensor([2, 3, 32, 32], 11) } },
} satisfies Record<string, { bytes: Uint8Array; feeds: NamedTensors }>;

let dir: string;
let cleanup: () => void;
beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  writeFileSync(join(dir, 'cnn.onnx'), models.cnn.bytes);
});
afterAll(() => cleanup());

async function runOnce(backend: InferenceBackend, model: string | Uint8Array, feeds: NamedTensors): Promise<{ handle: LoadedModelHandle; out: NamedTensors }> {
  const handle = await backend.load(model, { threads: 1 });
  try {
    return { handle, out: await handle.run(feeds) };
  } finally {
    await handle.release();
  }
}

describe('ort-node and ort-web', () => {
  it('are available on this host with their default options', async () => {
    expect(await ortNode.available()).toEqual({ ok: true });
    expect(await ortWeb.available()).toEqual({ ok: true });
    expect(ortNode.modelKind).toBe('onnx');
    expect(ortWeb.modelKind).toBe('onnx');
    expect(ortNode.describe()).toMatch(/^onnxruntime-node \d+\.\d+\.\d+/);
    expect(ortWeb.describe()).toMatch(/^onnxruntime-web \d+\.\d+\.\d+/);
  });

  it.each(Object.keys(models) as (keyof typeof models)[])('give the same %s outputs within 1e-4', async (name) => {
    const { bytes, feeds } = models[name];
    const node = await runOnce(ortNode, bytes, feeds);
    const web = await runOnce(ortWeb, bytes, feeds);
    expect(node.handle.provider).toBe('cpu');
    expect(web.handle.provider).toBe('wasm (1 thread)');
    expect(web.handle.inputs).toEqual(node.handle.inputs);
    expect(web.handle.outputs).toEqual(node.handle.outputs);
    expect(node.out.output.type).toBe('float32');
    expect(maxAbsDiff(node.out, web.out)).toBeLessThanOrEqual(1e-4);
    // Not all zeros: a broken feed would also "agree".
    expect(Math.max(...Array.from(node.out.output.data as Float32Array, Math.abs))).toBeGreaterThan(0.01);
  });

  it('describe inputs and outputs with symbolic dims', async () => {
    const handle = await ortNode.load(models.cnn.bytes);
    try {
      expect(handle.backend).toBe('ort-node');
      expect(handle.inputs).toEqual([{ name: 'input', type: 'float32', shape: ['N', 3, 32, 32] }]);
      expect(handle.outputs).toEqual([{ name: 'output', type: 'float32', shape: ['N', 10] }]);
    } finally {
      await handle.release();
    }
  });

  it('load from a path as from bytes, with threads and spinning options', async () => {
    const path = join(dir, 'cnn.onnx');
    const fromBytes = await runOnce(ortNode, models.cnn.bytes, models.cnn.feeds);
    const node = await ortNode.load(path, { threads: 2, allowSpinning: false, optimization: 'basic' });
    const web = await runOnce(ortWeb, path, models.cnn.feeds);
    try {
      const out = await node.run(models.cnn.feeds);
      expect(maxAbsDiff(fromBytes.out, out)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(fromBytes.out, web.out)).toBeLessThanOrEqual(1e-4);
    } finally {
      await node.release();
    }
  });
});

describe('BAD CALL', () => {
  it('a missing model file is FILE_NOT_FOUND in both', async () => {
    await expectKilnError(() => ortNode.load(join(dir, 'nope.onnx')), 'FILE_NOT_FOUND', 'nope.onnx');
    await expectKilnError(() => ortWeb.load(join(dir, 'nope.onnx')), 'FILE_NOT_FOUND', 'nope.onnx');
  });

  it('bytes that are not ONNX are RUNTIME_LOAD in both', async () => {
    const junk = new TextEncoder().encode('this is not a model');
    await expectKilnError(() => ortNode.load(junk), 'RUNTIME_LOAD', 'could not load the model');
    await expectKilnError(() => ortWeb.load(junk), 'RUNTIME_LOAD', 'could not load the model');
  });

  it('bad options are BAD_OPTION quoting the value', async () => {
    await expectKilnError(() => ortNode.load(models.mlp.bytes, { threads: -1 }), 'BAD_OPTION', 'threads', '-1');
    await expectKilnError(() => ortNode.available({ executionProviders: [] }), 'BAD_OPTION', 'executionProviders');
    await expectKilnError(() => ortWeb.load(models.mlp.bytes, { optimization: 'max' as 'all' }), 'BAD_OPTION', "'max'");
  });

  it('feeds that do not fit are BAD_SHAPE naming the input', async () => {
    for (const backend of [ortNode, ortWeb]) {
      const handle = await backend.load(models.mlp.bytes);
      try {
        await expectKilnError(() => handle.run({}), 'BAD_SHAPE', "input 'input' is missing");
        await expectKilnError(() => handle.run({ ...models.mlp.feeds, extra: randomTensor([1]) }), 'BAD_SHAPE', "no input 'extra'");
        await expectKilnError(() => handle.run({ input: randomTensor([4, 15]) }), 'BAD_SHAPE', '[N, 16]', '[4, 15]');
        await expectKilnError(() => handle.run({ input: { type: 'int32', dims: [1, 16], data: new Int32Array(16) } }), 'BAD_SHAPE', 'float32', 'int32');
        await expectKilnError(() => handle.run({ input: { type: 'float32', dims: [2, 16], data: new Float32Array(16) } }), 'BAD_SHAPE', 'hold 32 values');
      } finally {
        await handle.release();
      }
    }
  });

  it('a released handle refuses to run', async () => {
    const handle = await ortNode.load(models.mlp.bytes);
    await handle.release();
    await handle.release(); // twice is fine
    await expect(handle.run(models.mlp.feeds)).rejects.toThrow(/after release/);
  });
});
