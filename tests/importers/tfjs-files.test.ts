/**
 * The model.json side of the TF.js importer: sharded and quantized weights, model.json files as
 * Keras (Python) and Keras 3 write them, and the directory IOHandler.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { convertTfjsModel, tfjsDirectory } from '../../src/importers/tfjs.js';
import { serializeModel } from '../../src/onnx/model.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';
import { initTf, randomizeWeights, tempDir } from './tfjs-helpers.js';

const TOL = 1e-4;

beforeAll(initTf);

let cleanups: (() => void)[] = [];
afterEach(() => {
  cleanups.forEach((c) => c());
  cleanups = [];
});
const folder = (): string => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return dir;
};

/** Run a converted model.json in onnxruntime on named float32 inputs; returns the first output. */
async function runOnnx(
  modelJson: string,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
): Promise<{ name: string; data: Float32Array; dims: readonly number[] }> {
  const onnx = await convertTfjsModel(modelJson);
  const session = await createOrtNodeSession(serializeModel(onnx));
  const tensors = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)]));
  const out = await session.run(tensors);
  const name = session.outputNames[0];
  await session.release();
  return { name, data: out[name].data as Float32Array, dims: out[name].dims };
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

function cnn(): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [7, 7, 2], filters: 4, kernelSize: 3, activation: 'relu', name: 'conv' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 3, name: 'out' }),
    ],
  });
  randomizeWeights(m, 21);
  return m;
}

/** IEEE half from a float (round to nearest; enough for test data in normal range). */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const bits = new Uint32Array(f.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = ((bits >>> 23) & 0xff) - 127 + 15;
  const mant = bits & 0x7fffff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | Math.round(mant / 8192);
}

describe('weights', () => {
  it('weights split into many shards are read in manifest order', async () => {
    const dir = folder();
    const model = cnn();
    await model.save(tfjsDirectory(dir, { shardBytes: 100 }));
    const shards = readdirSync(dir).filter((f) => f.endsWith('.bin'));
    expect(shards.length).toBeGreaterThan(5);
    const x = tf.randomNormal([2, 7, 7, 2], 0, 1, 'float32', 3);
    const got = await runOnnx(join(dir, 'model.json'), { conv_input: { data: x.dataSync() as Float32Array, dims: [2, 7, 7, 2] } });
    expect(got.name).toBe('out');
    expect(maxAbsDiff(got.data, (model.predict(x) as tf.Tensor).dataSync())).toBeLessThanOrEqual(TOL);
  });

  it.each(['uint8', 'uint16', 'float16'] as const)('%s-quantized weights decode as TF.js decodes them', async (dtype) => {
    const dir = folder();
    await cnn().save(tfjsDirectory(dir));
    const path = join(dir, 'model.json');
    const json = JSON.parse(readFileSync(path, 'utf8'));
    const raw = readFileSync(join(dir, json.weightsManifest[0].paths[0]));
    const floats = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const w of json.weightsManifest[0].weights) {
      const n = w.shape.reduce((a: number, b: number) => a * b, 1);
      const values = floats.subarray(offset, offset + n);
      offset += n;
      if (dtype === 'float16') {
        chunks.push(Buffer.from(new Uint16Array(Array.from(values, toHalf)).buffer));
        w.quantization = { dtype };
      } else {
        const levels = dtype === 'uint8' ? 255 : 65535;
        const min = Math.min(...values);
        const scale = (Math.max(...values) - min) / levels || 1;
        const q = Array.from(values, (v) => Math.round((v - min) / scale));
        chunks.push(Buffer.from((dtype === 'uint8' ? new Uint8Array(q) : new Uint16Array(q)).buffer));
        w.quantization = { dtype, scale, min };
      }
    }
    writeFileSync(join(dir, json.weightsManifest[0].paths[0]), Buffer.concat(chunks));
    writeFileSync(path, JSON.stringify(json));
    // TF.js decodes the quantized weights itself: its predictions are the reference.
    const reloaded = await tf.loadLayersModel(tfjsDirectory(dir));
    const x = tf.randomNormal([2, 7, 7, 2], 0, 1, 'float32', 5);
    const got = await runOnnx(path, { conv_input: { data: x.dataSync() as Float32Array, dims: [2, 7, 7, 2] } });
    expect(maxAbsDiff(got.data, (reloaded.predict(x) as tf.Tensor).dataSync())).toBeLessThanOrEqual(TOL);
    // ...and they are not the float weights (the test would not notice a decoder that ignored quantization otherwise).
    expect(maxAbsDiff(got.data, (cnn().predict(x) as tf.Tensor).dataSync())).toBeGreaterThan(0);
  });
});

describe('model.json as other tools write it', () => {
  it('Keras (tensorflowjs_converter) layout: model_config wrapper, InputLayer in a Sequential, plain weight names', async () => {
    const dir = folder();
    const kernel = Float32Array.from({ length: 12 }, (_, i) => (i - 6) / 5);
    const bias = new Float32Array([0.5, -0.25, 0.125, 1]);
    const json = {
      format: 'layers-model',
      generatedBy: 'keras v2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      modelTopology: {
        keras_version: '2.15.0',
        backend: 'tensorflow',
        model_config: {
          class_name: 'Sequential',
          config: {
            name: 'sequential',
            layers: [
              { class_name: 'InputLayer', config: { batch_input_shape: [null, 3], dtype: 'float32', sparse: false, ragged: false, name: 'dense_input' } },
              { class_name: 'Dense', config: { name: 'dense', trainable: true, dtype: 'float32', units: 4, activation: 'sigmoid', use_bias: true } },
            ],
          },
        },
      },
      weightsManifest: [
        {
          paths: ['group1-shard1of1.bin'],
          weights: [
            { name: 'dense/kernel', shape: [3, 4], dtype: 'float32' },
            { name: 'dense/bias', shape: [4], dtype: 'float32' },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    writeFileSync(join(dir, 'group1-shard1of1.bin'), Buffer.concat([Buffer.from(kernel.buffer), Buffer.from(bias.buffer)]));
    const reference = await tf.loadLayersModel(tfjsDirectory(dir));
    const x = tf.tensor2d([
      [1, 2, 3],
      [-1, 0.5, 0],
    ]);
    const got = await runOnnx(join(dir, 'model.json'), { dense_input: { data: x.dataSync() as Float32Array, dims: [2, 3] } });
    expect(got.name).toBe('dense');
    expect(maxAbsDiff(got.data, (reference.predict(x) as tf.Tensor).dataSync())).toBeLessThanOrEqual(TOL);
  });

  it('Keras 3 layout: {args, kwargs} inbound nodes, scoped weight names, Subtract', async () => {
    const dir = folder();
    const kt = (name: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 2], dtype: 'float32', keras_history: [name, 0, 0] } });
    const json = {
      format: 'layers-model',
      modelTopology: {
        class_name: 'Functional',
        config: {
          name: 'diff',
          layers: [
            { class_name: 'InputLayer', name: 'a', config: { batch_shape: [null, 2], dtype: 'float32', name: 'a' }, inbound_nodes: [] },
            { class_name: 'InputLayer', name: 'b', config: { batch_shape: [null, 2], dtype: 'float32', name: 'b' }, inbound_nodes: [] },
            { class_name: 'Subtract', name: 'sub', config: { name: 'sub' }, inbound_nodes: [{ args: [[kt('a'), kt('b')]], kwargs: {} }] },
            {
              class_name: 'Dense',
              name: 'proj',
              config: {
                name: 'proj',
                units: 1,
                activation: { module: 'keras.activations', class_name: 'function', config: 'relu', registered_name: 'relu' },
                use_bias: true,
              },
              inbound_nodes: [{ args: [kt('sub')], kwargs: {} }],
            },
          ],
          input_layers: [
            ['a', 0, 0],
            ['b', 0, 0],
          ],
          output_layers: ['proj', 0, 0],
        },
      },
      weightsManifest: [
        {
          paths: ['w.bin'],
          weights: [
            { name: 'diff/proj/kernel', shape: [2, 1], dtype: 'float32' },
            { name: 'diff/proj/bias', shape: [1], dtype: 'float32' },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    writeFileSync(join(dir, 'w.bin'), Buffer.from(new Float32Array([2, -1, 0.5]).buffer));
    const a = new Float32Array([1, 2, 3, 4, 0, 0]);
    const b = new Float32Array([0, 1, 1, -1, 5, 0]);
    const got = await runOnnx(join(dir, 'model.json'), { a: { data: a, dims: [3, 2] }, b: { data: b, dims: [3, 2] } });
    // relu(2·(a0−b0) − (a1−b1) + 0.5)
    const want = [0, 1, 2].map((i) => Math.max(0, 2 * (a[2 * i] - b[2 * i]) - (a[2 * i + 1] - b[2 * i + 1]) + 0.5));
    expect(got.name).toBe('proj');
    expect(got.dims).toEqual([3, 1]);
    expect(Array.from(got.data)).toEqual(want);
  });
});

describe('tfjsDirectory', () => {
  it('saves model.json + shards that TF.js loads back to the same predictions', async () => {
    const dir = folder();
    const model = cnn();
    await model.save(tfjsDirectory(dir, { shardBytes: 256 }));
    expect(readdirSync(dir).some((f) => f.includes('.tmp-'))).toBe(false);
    const back = await tf.loadLayersModel(tfjsDirectory(dir));
    const x = tf.randomNormal([1, 7, 7, 2], 0, 1, 'float32', 8);
    expect(maxAbsDiff((back.predict(x) as tf.Tensor).dataSync(), (model.predict(x) as tf.Tensor).dataSync())).toBe(0);
  });

  it('BAD CALL - shardBytes 0 is a RangeError', () => {
    expect(() => tfjsDirectory('/tmp/x', { shardBytes: 0 })).toThrow(RangeError);
  });
});
