import { describe, expect, it } from 'vitest';
import { buildMatMulAdd, buildMlp } from '../../src/onnx/builder.js';
import { Graph } from '../../src/onnx/graph.js';
import { quantizeDynamic } from '../../src/compiler/quantize/dynamic.js';
import { cosineSimilarity } from '../../src/compiler/metrics.js';
import { serializeModel } from '../../src/onnx/model.js';
import { optimizedOps, randomSamples, runAll } from './helpers.js';

describe('dynamic int8', () => {
  it('turns MatMul+Add into fused integer MatMuls at cosine ≥ 0.999 and a smaller file', async () => {
    const model = buildMatMulAdd({ batch: 1, seqLen: 8, dModel: 64, ffDim: 128, layers: 2 });
    const before = serializeModel(model).byteLength;
    const float = structuredClone(model);
    const g = Graph.fromModel(model);
    // 7-bit weights: full-range int8 weights saturate onnxruntime's u8s8 kernels on x86 CPUs
    // without VNNI (measured here on an AVX2-only host: cosine 0.998 vs 0.99988).
    const report = quantizeDynamic(g, { perChannel: true, reduceRange: true });
    expect(report.quantized.length).toBeGreaterThanOrEqual(4);
    const q = g.toModel();
    expect(serializeModel(q).byteLength).toBeLessThan(before * 0.4);
    const ops = await optimizedOps(q, 'extended');
    // Each quantized MatMul runs as an integer kernel: DynamicQuantizeMatMul, or MatMulIntegerToFloat
    // where several MatMuls share one quantized input (q/k/v projections).
    const integer = ops.filter((o) => o === 'com.microsoft:DynamicQuantizeMatMul' || o === 'com.microsoft:MatMulIntegerToFloat');
    expect(integer.length).toBe(report.quantized.length);
    expect(ops).not.toContain('MatMulInteger');
    const input = float.graph!.input[0].name;
    const samples = randomSamples(input, [1, 8, 64], 3, 4);
    const [a, b] = [await runAll(float, samples), await runAll(q, samples)];
    for (let i = 0; i < 3; i++) expect(cosineSimilarity(a[i], b[i])).toBeGreaterThan(0.999);
  });

  it('handles Gemm with transB and bias, and honours exclusions', async () => {
    const model = buildMlp({ inputSize: 32, hidden: [64, 64], outputs: 10, batch: 2 });
    const float = structuredClone(model);
    const g = Graph.fromModel(model);
    const report = quantizeDynamic(g, { perChannel: false, reduceRange: true, excludeNodes: new Set(['fc2']) });
    expect(report.quantized).toEqual(['fc0', 'fc1']);
    expect(report.excluded).toEqual([{ name: 'fc2', opType: 'Gemm', reason: 'excluded by name' }]);
    const samples = randomSamples('input', [2, 32], 2, 8);
    const [a, b] = [await runAll(float, samples), await runAll(g.toModel(), samples)];
    expect(cosineSimilarity(a[0], b[0])).toBeGreaterThan(0.995);
  });

  it('a weight-tied encoder with an embedding table: each shared weight quantized once, the table stored int8, ≤ 70 % of fp32, cosine ≥ 0.999', async () => {
    const model = buildMatMulAdd({ batch: 1, seqLen: 16, dModel: 64, ffDim: 128, layers: 4, shareLayers: true, vocab: 500, seed: 2 });
    const before = serializeModel(model).byteLength;
    const float = structuredClone(model);
    const g = Graph.fromModel(model);
    const report = quantizeDynamic(g, { perChannel: true, reduceRange: false });
    // 4 blocks × 6 MatMuls read 6 shared weights; plus the embedding Gather.
    expect(report.quantized).toContain('embedding');
    expect(report.quantized.length).toBe(4 * 6 + 1);
    const q = g.toModel();
    const int8Weights = q.graph!.initializer.filter((t) => t.dataType === 3 && t.dims.length === 2);
    expect(int8Weights.map((t) => t.name).sort()).toEqual(
      ['embedding.weight', 'block0.q.weight', 'block0.k.weight', 'block0.v.weight', 'block0.proj.weight', 'block0.ff1.weight', 'block0.ff2.weight']
        .map((n) => `${n}_quantized`)
        .sort(),
    );
    expect(q.graph!.initializer.some((t) => t.name === 'embedding.weight')).toBe(false);
    const after = serializeModel(q).byteLength;
    expect(after / before).toBeLessThan(0.7);
    const ids = Array.from({ length: 3 }, (_, k) => ({
      input_ids: { type: 'int64', dims: [1, 16], data: BigInt64Array.from({ length: 16 }, (_, i) => BigInt((i * 37 + k * 11) % 500)) },
    }));
    const [a, b] = [await runAll(float, ids), await runAll(q, ids)];
    for (let i = 0; i < 3; i++) expect(cosineSimilarity(a[i], b[i])).toBeGreaterThan(0.999);
  });
});
