/**
 * TF.js → ONNX, layer by layer: each case builds a small Sequential model with random weights,
 * saves it to disk, converts the model.json, runs it in onnxruntime-node and compares with
 * TF.js's own predictions.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { declaredDims, initTf, opTypes, randomizeWeights, roundTrip } from './tfjs-helpers.js';

const TOL = 1e-4;

beforeAll(initTf);

type Build = () => tf.LayersModel;

function seq(inputShape: number[], layers: tf.layers.Layer[]): tf.Sequential {
  const m = tf.sequential();
  layers.forEach((l, i) => {
    if (i === 0) {
      m.add(tf.layers.inputLayer({ inputShape }));
    }
    m.add(l);
  });
  return m;
}

async function check(build: Build, inputShape: number[], batch = 3): Promise<{ ops: string[]; dims: readonly number[] }> {
  const model = build();
  randomizeWeights(model);
  const x = tf.randomNormal([batch, ...inputShape], 0, 1, 'float32', 7);
  const rt = await roundTrip(model, [x]);
  expect(rt.maxDiff).toBeLessThanOrEqual(TOL);
  // The output must be laid out as TF.js lays it out, and be what the graph declares.
  const out = Object.values(rt.outputs)[0];
  expect(out.dims).toEqual(rt.expectedDims[0]);
  expect(declaredDims(rt.onnx, 0)).toEqual(rt.expectedDims[0].map((d, i) => (i === 0 ? null : d)));
  return { ops: opTypes(rt.onnx), dims: out.dims };
}

describe('Dense and activations', () => {
  it('a Dense stack with and without bias', async () => {
    const { ops } = await check(
      () =>
        seq(
          [6],
          [
            tf.layers.dense({ units: 8, activation: 'relu' }),
            tf.layers.dense({ units: 4, useBias: false, activation: 'tanh' }),
            tf.layers.dense({ units: 3, activation: 'softmax' }),
          ],
        ),
      [6],
    );
    expect(ops).toEqual(['Gemm', 'Relu', 'Gemm', 'Tanh', 'Gemm', 'Softmax']);
  });

  const activations = [
    'linear',
    'relu',
    'relu6',
    'sigmoid',
    'hardSigmoid',
    'tanh',
    'softmax',
    'elu',
    'selu',
    'softplus',
    'softsign',
    'swish',
    'mish',
    'gelu',
    'gelu_new',
  ] as const;
  it.each(activations)('activation %s on Dense', async (activation) => {
    await check(() => seq([5], [tf.layers.dense({ units: 7, activation: activation as never })]), [5]);
  });

  it.each(['relu6', 'softmax', 'sigmoid', 'swish'] as const)('Activation layer %s on a conv feature map (NCHW inside)', async (activation) => {
    const { ops } = await check(
      () => seq([6, 5, 3], [tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }), tf.layers.activation({ activation })]),
      [6, 5, 3],
    );
    // The activation runs before the single Transpose back to NHWC.
    expect(ops[ops.length - 1]).toBe('Transpose');
  });

  it('Dense on a rank-3 input applies to the last axis (MatMul + Add)', async () => {
    const { ops } = await check(() => seq([4, 6], [tf.layers.dense({ units: 5, activation: 'elu' })]), [4, 6]);
    expect(ops).toEqual(['MatMul', 'Add', 'Elu']);
  });
});

describe('convolutions', () => {
  it('Conv2D valid, stride 1, relu', async () => {
    const { ops } = await check(() => seq([8, 8, 2], [tf.layers.conv2d({ filters: 5, kernelSize: 3, activation: 'relu' })]), [8, 8, 2]);
    expect(ops).toEqual(['Transpose', 'Conv', 'Relu', 'Transpose']);
  });

  it('Conv2D same padding with stride 2 on odd sizes (asymmetric pads)', async () => {
    await check(() => seq([9, 7, 3], [tf.layers.conv2d({ filters: 4, kernelSize: 4, strides: 2, padding: 'same' })]), [9, 7, 3]);
  });

  it('Conv2D with dilation, same padding, no bias, non-square kernel and strides', async () => {
    await check(
      () =>
        seq(
          [10, 9, 2],
          [
            tf.layers.conv2d({ filters: 3, kernelSize: 3, dilationRate: 2, padding: 'same', useBias: false }),
            tf.layers.conv2d({ filters: 2, kernelSize: [3, 2], strides: [2, 1], padding: 'valid', activation: 'sigmoid' }),
          ],
        ),
      [10, 9, 2],
    );
  });

  it('DepthwiseConv2D with a depth multiplier, and SeparableConv2D', async () => {
    const { ops } = await check(
      () =>
        seq(
          [9, 9, 3],
          [
            tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', activation: 'relu6' }),
            tf.layers.separableConv2d({ filters: 4, kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu' }),
          ],
        ),
      [9, 9, 3],
    );
    expect(ops.filter((o) => o === 'Conv')).toHaveLength(3);
  });
});

describe('pooling, flatten and reshape', () => {
  it('MaxPooling2D valid and same, AveragePooling2D same (TF excludes padding from the average)', async () => {
    await check(
      () =>
        seq(
          [11, 10, 2],
          [
            tf.layers.maxPooling2d({ poolSize: 2 }),
            tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
            tf.layers.maxPooling2d({ poolSize: [2, 1], strides: 1, padding: 'same' }),
          ],
        ),
      [11, 10, 2],
    );
  });

  it('GlobalAveragePooling2D and GlobalMaxPooling2D', async () => {
    await check(() => seq([6, 5, 3], [tf.layers.conv2d({ filters: 4, kernelSize: 2 }), tf.layers.globalAveragePooling2d({})]), [6, 5, 3]);
    await check(() => seq([6, 5, 3], [tf.layers.globalMaxPooling2d({}), tf.layers.dense({ units: 2 })]), [6, 5, 3]);
  });

  it('Flatten after a conv keeps TF.js element order (H, W, C) for the Dense that follows', async () => {
    // Weights of a Dense after Flatten are laid out for NHWC order: a wrong order changes the result.
    const { ops } = await check(
      () => seq([5, 4, 3], [tf.layers.conv2d({ filters: 6, kernelSize: 2 }), tf.layers.flatten(), tf.layers.dense({ units: 3 })]),
      [5, 4, 3],
    );
    expect(ops).toEqual(['Transpose', 'Conv', 'Transpose', 'Flatten', 'Gemm']);
  });

  it('Reshape (with and without -1) into a conv and back, and Permute', async () => {
    await check(
      () =>
        seq(
          [32],
          [
            tf.layers.reshape({ targetShape: [4, 4, 2] }),
            tf.layers.conv2d({ filters: 3, kernelSize: 2, padding: 'same' }),
            tf.layers.reshape({ targetShape: [-1, 3] }),
            tf.layers.permute({ dims: [2, 1] }),
          ],
        ),
      [32],
    );
  });

  it('Dropout and noise layers are identities and leave no node', async () => {
    const { ops } = await check(
      () => seq([6], [tf.layers.dense({ units: 5 }), tf.layers.dropout({ rate: 0.5 }), tf.layers.gaussianNoise({ stddev: 1 }), tf.layers.dense({ units: 2 })]),
      [6],
    );
    expect(ops).toEqual(['Gemm', 'Gemm']);
  });
});

describe('normalization and advanced activations', () => {
  it('BatchNormalization after a conv and after a Dense becomes BatchNormalization', async () => {
    const { ops } = await check(
      () =>
        seq(
          [6, 6, 2],
          [
            tf.layers.conv2d({ filters: 3, kernelSize: 3 }),
            tf.layers.batchNormalization({ epsilon: 0.01 }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 4 }),
            tf.layers.batchNormalization({}),
          ],
        ),
      [6, 6, 2],
    );
    expect(ops.filter((o) => o === 'BatchNormalization')).toHaveLength(2);
  });

  it('BatchNormalization of a rank-3 value, or of an NHWC input, without center/scale, folds into Mul + Add', async () => {
    const { ops } = await check(
      () =>
        seq(
          [24],
          [
            tf.layers.reshape({ targetShape: [4, 6] }),
            tf.layers.batchNormalization({ center: false }),
            tf.layers.reshape({ targetShape: [2, 3, 4] }),
            tf.layers.batchNormalization({ scale: false }),
          ],
        ),
      [24],
    );
    expect(ops).not.toContain('BatchNormalization');
    expect(ops.filter((o) => o === 'Mul')).toHaveLength(2);
  });

  it('ReLU(maxValue), LeakyReLU, ELU, ThresholdedReLU and Softmax layers', async () => {
    await check(
      () =>
        seq(
          [7],
          [
            tf.layers.dense({ units: 6 }),
            tf.layers.reLU({ maxValue: 0.4 }),
            tf.layers.dense({ units: 6 }),
            tf.layers.leakyReLU({ alpha: 0.2 }),
            tf.layers.elu({}),
            tf.layers.thresholdedReLU({ theta: 0.1 }),
            tf.layers.softmax({}),
          ],
        ),
      [7],
    );
  });

  it('PReLU after a conv (NCHW slopes) and after a Dense', async () => {
    await check(
      () =>
        seq(
          [5, 4, 2],
          [tf.layers.conv2d({ filters: 3, kernelSize: 2 }), tf.layers.prelu({}), tf.layers.flatten(), tf.layers.dense({ units: 4 }), tf.layers.prelu({})],
        ),
      [5, 4, 2],
    );
  });

  it('Softmax layer over the channels of a feature map', async () => {
    await check(() => seq([4, 3, 5], [tf.layers.conv2d({ filters: 4, kernelSize: 1 }), tf.layers.softmax({ axis: -1 })]), [4, 3, 5]);
  });
});

describe('padding, cropping, resizing, rescaling', () => {
  it('ZeroPadding2D, Cropping2D and UpSampling2D (nearest)', async () => {
    await check(
      () =>
        seq(
          [5, 6, 2],
          [
            tf.layers.zeroPadding2d({
              padding: [
                [1, 2],
                [0, 3],
              ],
            }),
            tf.layers.conv2d({ filters: 3, kernelSize: 3 }),
            tf.layers.cropping2D({
              cropping: [
                [1, 0],
                [2, 1],
              ],
            }),
            tf.layers.upSampling2d({ size: [2, 3] }),
          ],
        ),
      [5, 6, 2],
    );
  });

  it('Rescaling', async () => {
    await check(() => seq([4, 4, 1], [tf.layers.rescaling({ scale: 1 / 255, offset: -0.5 }), tf.layers.conv2d({ filters: 2, kernelSize: 2 })]), [4, 4, 1]);
  });
});
