/**
 * TF.js → ONNX for functional models (tf.model): residual branches, concatenation, several inputs
 * and outputs, shared layers; and the model-level contract (names, layout, opset, IR, producer).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { convertLayersModel } from '../../src/importers/tfjs.js';
import { serializeModel } from '../../src/onnx/model.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';
import { declaredDims, initTf, opTypes, randomizeWeights, roundTrip } from './tfjs-helpers.js';

const TOL = 1e-4;

beforeAll(initTf);

const sym = (layer: tf.layers.Layer, input: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor => layer.apply(input) as tf.SymbolicTensor;

/** A small residual CNN with two outputs: class probabilities and an NHWC feature map. */
function residualNet(): tf.LayersModel {
  const image = tf.input({ shape: [12, 10, 3], name: 'image' });
  const stem = sym(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'stem' }), image);
  const bn = sym(tf.layers.batchNormalization({ name: 'stem_bn' }), stem);
  const act = sym(tf.layers.activation({ activation: 'relu', name: 'stem_relu' }), bn);
  const branch = sym(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'branch' }), act);
  const sum = sym(tf.layers.add({ name: 'residual' }), [act, branch]);
  const pooled = sym(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }), sum);
  const side = sym(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'side' }), pooled);
  const cat = sym(tf.layers.concatenate({ axis: -1, name: 'cat' }), [pooled, side]);
  const gap = sym(tf.layers.globalAveragePooling2d({ name: 'gap' }), cat);
  const probs = sym(tf.layers.dense({ units: 4, activation: 'softmax', name: 'probs' }), gap);
  return tf.model({ inputs: image, outputs: [probs, cat], name: 'resnetish' });
}

describe('functional models', () => {
  it('a residual CNN with Add, Concatenate and two outputs matches TF.js, outputs in NHWC', async () => {
    const model = residualNet();
    randomizeWeights(model, 3);
    const x = tf.randomNormal([2, 12, 10, 3], 0, 1, 'float32', 11);
    const rt = await roundTrip(model, [x]);
    expect(rt.maxDiff).toBeLessThanOrEqual(TOL);
    expect(rt.onnx.graph!.input.map((v) => v.name)).toEqual(['image']);
    expect(rt.onnx.graph!.output.map((v) => v.name)).toEqual(['probs', 'cat']);
    expect(rt.outputs.probs.dims).toEqual([2, 4]);
    expect(rt.outputs.cat.dims).toEqual([2, 6, 5, 16]);
    expect(declaredDims(rt.onnx, 1)).toEqual([null, 6, 5, 16]);
    // One Transpose in, then NCHW all the way: the feature-map output gets one Transpose back.
    expect(opTypes(rt.onnx).filter((o) => o === 'Transpose')).toHaveLength(2);
  });

  it('several inputs, a shared layer and every merge layer', async () => {
    const a = tf.input({ shape: [5], name: 'a' });
    const b = tf.input({ shape: [5], name: 'b' });
    const shared = tf.layers.dense({ units: 4, activation: 'tanh', name: 'shared' });
    const fa = sym(shared, a);
    const fb = sym(shared, b);
    const fc = sym(tf.layers.dense({ units: 4 }), b);
    const merged = [
      sym(tf.layers.add({}), [fa, fb]),
      sym(tf.layers.add({}), [fa, fb, fc]),
      sym(tf.layers.multiply({}), [fa, fb, fc]),
      sym(tf.layers.average({}), [fa, fb]),
      sym(tf.layers.maximum({}), [fa, fb]),
      sym(tf.layers.minimum({}), [fa, fb]),
    ];
    const cat = sym(tf.layers.concatenate({ name: 'all' }), merged);
    const out = sym(tf.layers.dense({ units: 3, name: 'head' }), cat);
    const model = tf.model({ inputs: [a, b], outputs: [out, fb] });
    randomizeWeights(model, 5);
    const rt = await roundTrip(model, [tf.randomNormal([3, 5], 0, 1, 'float32', 1), tf.randomNormal([3, 5], 0, 1, 'float32', 2)]);
    expect(rt.maxDiff).toBeLessThanOrEqual(TOL);
    expect(rt.onnx.graph!.input.map((v) => v.name)).toEqual(['a', 'b']);
    // The shared layer's second call is an output too, named after the layer as TF.js names it.
    expect(rt.onnx.graph!.output.map((v) => v.name)).toEqual(['head', 'shared']);
    // Shared weights are stored once.
    expect(rt.onnx.graph!.initializer.filter((t) => t.name.startsWith('shared/kernel'))).toHaveLength(1);
  });

  it('concatenation along H of NCHW feature maps, and an Add of NCHW with NHWC-derived values', async () => {
    const x = tf.input({ shape: [6, 4, 2], name: 'x' });
    const c1 = sym(tf.layers.conv2d({ filters: 3, kernelSize: 1 }), x);
    const c2 = sym(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }), x);
    const h = sym(tf.layers.concatenate({ axis: 1 }), [c1, c2]);
    const r = sym(tf.layers.reshape({ targetShape: [12, 4, 3] }), h);
    const s = sym(tf.layers.add({}), [r, h]);
    const model = tf.model({ inputs: x, outputs: s });
    randomizeWeights(model, 9);
    const rt = await roundTrip(model, [tf.randomNormal([2, 6, 4, 2], 0, 1, 'float32', 4)]);
    expect(rt.maxDiff).toBeLessThanOrEqual(TOL);
    expect(rt.outputs[rt.onnx.graph!.output[0].name].dims).toEqual([2, 12, 4, 3]);
  });
});

describe('the model-level contract', () => {
  it('IR 8, opset 13 by default, producer kiln, names sanitised, batch dynamic by default', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, name: 'out.v-1' })] });
    const onnx = await convertLayersModel(model);
    expect(onnx.irVersion).toBe(8);
    expect(onnx.opsetImport).toEqual([{ domain: '', version: 13 }]);
    expect(onnx.producerName).toBe('kiln');
    expect(onnx.graph!.input[0].name).toBe('out.v-1_input');
    expect(onnx.graph!.output[0].name).toBe('out.v-1');
    expect(onnx.graph!.input[0].type!.tensorType!.shape!.dim[0]).toEqual({ dimParam: 'batch', denotation: '' });
    expect(onnx.graph!.input[0].type!.tensorType!.elemType).toBe(1);
    expect(onnx.metadataProps).toContainEqual({ key: 'source_format', value: 'tfjs-layers-model' });
  });

  it('batchSize fixes the batch dimension and opset 17 is accepted; the model runs with that batch', async () => {
    const model = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 2, name: 'c' })] });
    const onnx = await convertLayersModel(model, { batchSize: 2, opset: 17 });
    expect(onnx.opsetImport[0].version).toBe(17);
    expect(declaredDims(onnx, 0)).toEqual([2, 3, 3, 2]);
    expect(onnx.graph!.input[0].type!.tensorType!.shape!.dim.map((d) => d.dimValue)).toEqual([2, 4, 4, 1]);
    const session = await createOrtNodeSession(serializeModel(onnx));
    const x = tf.randomNormal([2, 4, 4, 1]);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, [2, 4, 4, 1]) });
    const want = (model.predict(x) as tf.Tensor).dataSync();
    const got = out.c.data as Float32Array;
    expect(Math.max(...Array.from(want, (v, i) => Math.abs(v - got[i])))).toBeLessThanOrEqual(TOL);
    await session.release();
  });

  it('BAD CALL - opset 12 and batchSize 0 are refused with BAD_OPTION', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })] });
    await expect(convertLayersModel(model, { opset: 12 })).rejects.toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/opset 12.*13 to 17/) });
    await expect(convertLayersModel(model, { batchSize: 0 })).rejects.toMatchObject({ code: 'BAD_OPTION', message: expect.stringMatching(/batchSize 0/) });
  });
});
