/** The ready-made test models: they run in onnxruntime, compute what they claim, and follow their seed. */
import { describe, expect, it } from 'vitest';
import { buildCnn, buildMatMulAdd, buildMlp } from '../../src/onnx/builder.js';
import { attrInt } from '../../src/onnx/nodes.js';
import { serializeModel } from '../../src/onnx/model.js';
import type { ModelProto } from '../../src/onnx/proto-types.js';
import { tensorData } from '../../src/onnx/tensor.js';
import { randomFeed, runModel, type Feed } from './helpers.js';

const ops = (m: ModelProto) => m.graph!.node.map((n) => n.opType);
const weights = (m: ModelProto, name: string) => tensorData(m.graph!.initializer.find((t) => t.name === name)!) as Float32Array;

/** Plain-JS forward pass of buildMlp's model. */
function mlpReference(m: ModelProto, x: Float32Array, batch: number, sizes: number[]): Float32Array {
  let act = x;
  for (let l = 0; l < sizes.length - 1; l++) {
    const [fin, fout] = [sizes[l], sizes[l + 1]];
    const w = weights(m, `fc${l}.weight`);
    const b = weights(m, `fc${l}.bias`);
    const next = new Float32Array(batch * fout);
    for (let n = 0; n < batch; n++) {
      for (let o = 0; o < fout; o++) {
        let s = b[o];
        for (let i = 0; i < fin; i++) s += act[n * fin + i] * w[o * fin + i];
        next[n * fout + o] = l < sizes.length - 2 ? Math.max(0, s) : s;
      }
    }
    act = next;
  }
  return act;
}

/** Run a batch, then each sample alone: a model without batch coupling gives the same rows. */
async function expectBatchIndependent(m: ModelProto, feed: Feed, rowSize: number): Promise<void> {
  const all = await runModel(m, { input: feed });
  const batch = feed.dims[0];
  const per = (feed.data as Float32Array).length / batch;
  for (let n = 0; n < batch; n++) {
    const one = await runModel(m, { input: { data: (feed.data as Float32Array).slice(n * per, (n + 1) * per), dims: [1, ...feed.dims.slice(1)] } });
    const row = all.output.data.slice(n * rowSize, (n + 1) * rowSize);
    one.output.data.forEach((v, i) => expect(v).toBeCloseTo(row[i], 4));
  }
}

describe('buildMlp', () => {
  it('matches a plain-JS forward pass', async () => {
    const sizes = [12, 20, 8, 5];
    const m = buildMlp({ inputSize: 12, hidden: [20, 8], outputs: 5, seed: 4 });
    expect(ops(m)).toEqual(['Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm']);
    const feed = randomFeed([3, 12], 8);
    const out = await runModel(m, { input: feed });
    expect(out.output.dims).toEqual([3, 5]);
    const ref = mlpReference(m, feed.data as Float32Array, 3, sizes);
    out.output.data.forEach((v, i) => expect(v).toBeCloseTo(ref[i], 4));
  });

  it('takes any batch size on its symbolic batch dimension', async () => {
    const m = buildMlp();
    for (const batch of [1, 7]) expect((await runModel(m, { input: randomFeed([batch, 16]) })).output.dims).toEqual([batch, 10]);
  });
});

describe('buildCnn', () => {
  it('has the layers BN folding and quantization are tested on', () => {
    const plain = buildCnn();
    expect(ops(plain)).toEqual([
      'Conv',
      'BatchNormalization',
      'Relu',
      'MaxPool',
      'Conv',
      'BatchNormalization',
      'Relu',
      'MaxPool',
      'GlobalAveragePool',
      'Flatten',
      'Gemm',
    ]);
    expect(plain.graph!.node[0].input).toHaveLength(2); // no conv bias by default
    const full = buildCnn({ residual: true, depthwise: true, convBias: true });
    expect(ops(full)).toContain('Add');
    const depthwise = full.graph!.node.filter((n) => n.opType === 'Conv' && attrInt(n, 'group', 1) > 1);
    expect(depthwise).toHaveLength(1);
    expect(attrInt(depthwise[0], 'group')).toBe(16);
    expect(full.graph!.node[0].input).toHaveLength(3);
    expect(ops(full).filter((o) => o === 'BatchNormalization')).toHaveLength(6);
  });

  it.each([
    ['plain', {}],
    ['residual + depthwise + conv bias', { residual: true, depthwise: true, convBias: true }],
    ['one stage, 16×16, 4 classes', { channels: [4], inputShape: ['N', 1, 16, 16] as const, classes: 4 }],
  ])('%s runs, with finite, varied logits and no coupling across the batch', async (_name, options) => {
    const m = buildCnn({ seed: 9, ...options });
    const shape = (options as { inputShape?: readonly [string, number, number, number] }).inputShape ?? ['N', 3, 32, 32];
    const classes = (options as { classes?: number }).classes ?? 10;
    const feed = randomFeed([3, shape[1], shape[2], shape[3]], 21);
    const out = await runModel(m, { input: feed });
    expect(out.output.dims).toEqual([3, classes]);
    expect(out.output.data.every(Number.isFinite)).toBe(true);
    expect(new Set(out.output.data).size).toBeGreaterThan(classes);
    await expectBatchIndependent(m, feed, classes);
  });

  it('refuses a size the pooling stages cannot halve', () => {
    expect(() => buildCnn({ inputShape: ['N', 3, 30, 30] })).toThrow(/divide by 4/);
  });
});

describe('buildMatMulAdd', () => {
  it('is a transformer-ish block of MatMul + Add projections', () => {
    const m = buildMatMulAdd();
    const o = ops(m);
    expect(o.filter((x) => x === 'MatMul')).toHaveLength(8); // q, k, v, scores, context, proj, ff1, ff2
    expect(o).toEqual(expect.arrayContaining(['LayerNormalization', 'Softmax', 'Transpose', 'Relu', 'Add']));
    expect(ops(buildMatMulAdd({ attention: false })).filter((x) => x === 'MatMul')).toHaveLength(2);
  });

  it('runs with any batch and sequence length', async () => {
    const m = buildMatMulAdd({ layers: 2 });
    for (const [n, s] of [
      [1, 1],
      [2, 9],
    ]) {
      const out = await runModel(m, { input: randomFeed([n, s, 32]) });
      expect(out.output.dims).toEqual([n, s, 32]);
      expect(out.output.data.every(Number.isFinite)).toBe(true);
    }
  });

  it('attention mixes positions: changing one position changes the others', async () => {
    const m = buildMatMulAdd({ seed: 2 });
    const a = randomFeed([1, 4, 32], 5);
    const b = { ...a, data: (a.data as Float32Array).slice() };
    (b.data as Float32Array)[3 * 32] += 1; // position 3 only
    const [oa, ob] = [await runModel(m, { input: a }), await runModel(m, { input: b })];
    expect(Math.abs(oa.output.data[0] - ob.output.data[0])).toBeGreaterThan(1e-6);
    const ffOnly = buildMatMulAdd({ seed: 2, attention: false });
    const [fa, fb] = [await runModel(ffOnly, { input: a }), await runModel(ffOnly, { input: b })];
    expect(Array.from(fa.output.data.slice(0, 32))).toEqual(Array.from(fb.output.data.slice(0, 32)));
  });

  it('without LayerNormalization below opset 17 it still runs', async () => {
    const m = buildMatMulAdd({ opset: 13 });
    expect(ops(m)).not.toContain('LayerNormalization');
    expect((await runModel(m, { input: randomFeed([1, 3, 32]) })).output.dims).toEqual([1, 3, 32]);
  });
});

describe('determinism', () => {
  it.each([
    ['mlp', (seed: number) => buildMlp({ seed })],
    ['cnn', (seed: number) => buildCnn({ seed, residual: true, depthwise: true })],
    ['matmul-add', (seed: number) => buildMatMulAdd({ seed })],
  ])('%s: same seed → identical bytes; another seed → same structure, different weights', (_name, build) => {
    const a = serializeModel(build(1));
    expect(serializeModel(build(1))).toEqual(a);
    const [m1, m2] = [build(1), build(2)];
    expect(ops(m2)).toEqual(ops(m1));
    expect(m2.graph!.initializer.map((t) => t.dims)).toEqual(m1.graph!.initializer.map((t) => t.dims));
    const differing = m1.graph!.initializer.filter((t, i) => !Buffer.from(t.rawData!).equals(Buffer.from(m2.graph!.initializer[i].rawData!)));
    // Every random tensor differs; only the fixed attention scale 1/√d stays.
    const random = m1.graph!.initializer.filter((t) => !/^block\d+\.scale$/.test(t.name));
    expect(differing.map((t) => t.name)).toEqual(random.map((t) => t.name));
  });
});
