/**
 * The tfjs backend: a TF.js layers model made here (tf.sequential, saved to a temporary folder through
 * a file IOHandler) loads from its model.json and gives what TF.js's own predict gives; the same model
 * converted to ONNX gives the same on ort-node. Without @tensorflow/tfjs-node the wasm backend runs it.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertTfjsModel, tfjsDirectory } from '../../src/importers/tfjs.js';
import { buildMlp } from '../../src/onnx/builder.js';
import { serializeModel } from '../../src/onnx/model.js';
import type { NamedTensors } from '../../src/runtime/backend.js';
import { createOrtNodeBackend } from '../../src/runtime/ort-node-backend.js';
import { createTfjsBackend } from '../../src/runtime/tfjs-backend.js';
import { expectKilnError, maxAbsDiff, randomTensor, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
let modelJson: string;
let expected: NamedTensors;
const x = randomTensor([2, 8, 8, 3], 21);

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('kiln-tfjs-runtime-'));
  await tf.setBackend('cpu');
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 6, activation: 'softmax' }),
    ],
  });
  model.setWeights(model.weights.map((w, i) => tf.randomNormal(w.shape as number[], 0, 0.5, 'float32', 100 + i)));
  await model.save(tfjsDirectory(join(dir, 'cnn')));
  modelJson = join(dir, 'cnn', 'model.json');
  const y = model.predict(tf.tensor(x.data as Float32Array, [...x.dims])) as tf.Tensor;
  expected = { [model.outputNames[0]]: { type: 'float32', dims: y.shape, data: y.dataSync() as Float32Array } };
  model.dispose();
});
afterAll(() => cleanup());

const backend = createTfjsBackend();

describe('tfjs backend', () => {
  it('is available here, on wasm (no tfjs-node installed)', async () => {
    expect(backend.modelKind).toBe('tfjs');
    expect(await backend.available()).toEqual({ ok: true });
    expect(await backend.available({ executionProviders: ['wasm'] })).toEqual({ ok: true });
    const native = await backend.available({ executionProviders: ['tensorflow'] });
    expect(native).toEqual({ ok: false, reason: '@tensorflow/tfjs-node is not installed (npm install @tensorflow/tfjs-node for native TensorFlow)' });
  });

  it.each([['wasm'], ['cpu']])('gives what TF.js predict gives, on %s', async (provider) => {
    const handle = await backend.load(modelJson, provider === 'wasm' ? {} : { executionProviders: ['cpu'] });
    try {
      expect(handle.backend).toBe('tfjs');
      expect(handle.provider).toBe(provider);
      expect(handle.inputs).toEqual([{ name: expect.any(String), type: 'float32', shape: [null, 8, 8, 3] }]);
      expect(handle.outputs).toEqual([{ name: Object.keys(expected)[0], type: 'float32', shape: [null, 6] }]);
      const out = await handle.run({ [handle.inputs[0].name]: x });
      expect(maxAbsDiff(expected, out)).toBeLessThanOrEqual(1e-4);
    } finally {
      await handle.release();
    }
  });

  it('loads from the folder as from its model.json, and agrees with the model converted to ONNX on ort-node', async () => {
    const handle = await backend.load(join(dir, 'cnn'));
    const onnx = await createOrtNodeBackend().load(serializeModel(await convertTfjsModel(modelJson)));
    try {
      // The same input and output names: the importer names them after the layers too.
      expect(handle.inputs.map((i) => i.name)).toEqual(onnx.inputs.map((i) => i.name));
      expect(handle.outputs.map((o) => o.name)).toEqual(onnx.outputs.map((o) => o.name));
      const feeds = { [handle.inputs[0].name]: x };
      expect(maxAbsDiff(await handle.run(feeds), await onnx.run(feeds))).toBeLessThanOrEqual(1e-4);
    } finally {
      await handle.release();
      await onnx.release();
    }
  });
});

describe('BAD CALL', () => {
  it('an .onnx file is refused: the tfjs backend loads model.json', async () => {
    const onnxPath = join(dir, 'mlp.onnx');
    writeFileSync(onnxPath, serializeModel(buildMlp()));
    await expectKilnError(() => backend.load(onnxPath), 'WRONG_BACKEND', 'mlp.onnx is an ONNX model', 'ort-node or ort-web');
    // Same bytes under a .json name: still not a model.json.
    const disguised = join(dir, 'disguised.json');
    copyFileSync(onnxPath, disguised);
    await expectKilnError(() => backend.load(disguised), 'WRONG_BACKEND', 'is not a model.json');
    await expectKilnError(() => backend.load(serializeModel(buildMlp())), 'WRONG_BACKEND', 'given bytes');
  });

  it('a missing file, a graph model and missing weights are clear errors', async () => {
    await expectKilnError(() => backend.load(join(dir, 'none', 'model.json')), 'FILE_NOT_FOUND', 'model.json');
    const graph = join(dir, 'graph');
    mkdirSync(graph);
    writeFileSync(join(graph, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }));
    await expectKilnError(() => backend.load(join(graph, 'model.json')), 'RUNTIME_LOAD', 'graph model', 'layers models only');
    const noWeights = join(dir, 'no-weights');
    mkdirSync(noWeights);
    copyFileSync(modelJson, join(noWeights, 'model.json'));
    await expectKilnError(() => backend.load(join(noWeights, 'model.json')), 'RUNTIME_LOAD', 'is missing');
  });

  it('an unknown TF.js backend is a reason, and load says why', async () => {
    const answer = await backend.available({ executionProviders: ['webgl'] });
    expect(answer).toEqual({ ok: false, reason: "TF.js has no backend 'webgl' in Node (kiln knows tensorflow, wasm, cpu)" });
    await expectKilnError(() => backend.load(modelJson, { executionProviders: ['tensorflow'] }), 'BACKEND_UNAVAILABLE', 'tfjs-node is not installed');
  });

  it('feeds that do not fit are BAD_SHAPE', async () => {
    const handle = await backend.load(modelJson);
    try {
      await expectKilnError(() => handle.run({ [handle.inputs[0].name]: randomTensor([2, 8, 8, 4]) }), 'BAD_SHAPE', '[?, 8, 8, 3]');
    } finally {
      await handle.release();
    }
  });
});
