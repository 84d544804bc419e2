import { describe, expect, it } from 'vitest';
import { buildCnn } from '../../src/onnx/builder.js';
import { Graph } from '../../src/onnx/graph.js';
import { calibrate } from '../../src/compiler/quantize/calibrate.js';
import { quantizeQdq } from '../../src/compiler/quantize/qdq.js';
import { runPasses } from '../../src/compiler/passes/cleanup.js';
import { cosineSimilarity } from '../../src/compiler/metrics.js';
import { optimizedOps, randomData, randomSamples, runAll } from './helpers.js';

async function prepared(options: Parameters<typeof buildCnn>[0] = {}) {
  const g = Graph.fromModel(buildCnn({ inputShape: [1, 3, 32, 32], ...options }));
  runPasses(g);
  const model = g.toModel();
  const cal = await calibrate(model, () => randomData('input', [1, 3, 32, 32], 16).stream(), { method: 'minmax' });
  return { model, cal };
}

describe('static int8 (QDQ)', () => {
  it('is fused by onnxruntime into integer kernels, Relu folded, and stays accurate', async () => {
    const { model, cal } = await prepared({ residual: true });
    const float = structuredClone(model);
    const g = Graph.fromModel(model);
    const report = quantizeQdq(g, { activations: 'uint8', reduceRange: false, perChannel: true, ranges: cal.ranges });
    const q = g.toModel();
    expect(report.quantized).toEqual(expect.arrayContaining(['conv0', 'conv1', 'residual_add', 'fc']));
    // Q sits after each Relu (Conv → Relu → Q), never between a Conv and its Relu.
    const readers = (name: string) => q.graph!.node.filter((x) => x.input.includes(name));
    const relus = q.graph!.node.filter((x) => x.opType === 'Relu');
    expect(relus.length).toBeGreaterThanOrEqual(4);
    for (const relu of relus) {
      const conv = q.graph!.node.find((x) => x.output.includes(relu.input[0]))!;
      expect(['Conv', 'Add']).toContain(conv.opType);
      expect(readers(conv.output[0]).map((r) => r.opType)).toEqual(['Relu']);
      expect(readers(relu.output[0]).map((r) => r.opType)).toEqual(['QuantizeLinear']);
    }
    const ops = await optimizedOps(q);
    expect(ops.filter((o) => o === 'com.microsoft:QLinearConv').length).toBe(4);
    expect(ops).toContain('com.microsoft:QLinearAdd');
    expect(ops).toContain('com.microsoft:QGemm');
    expect(ops).not.toContain('Conv');
    expect(ops).not.toContain('com.microsoft:FusedConv');
    const samples = randomSamples('input', [1, 3, 32, 32], 4, 99);
    const [a, b] = [await runAll(float, samples), await runAll(q, samples)];
    for (let i = 0; i < samples.length; i++) expect(cosineSimilarity(a[i], b[i])).toBeGreaterThan(0.99);
  });

  it('keeps excluded nodes and op types in float, and says why', async () => {
    const { model, cal } = await prepared();
    const g = Graph.fromModel(model);
    const report = quantizeQdq(g, {
      activations: 'uint8',
      reduceRange: true,
      perChannel: true,
      ranges: cal.ranges,
      excludeNodes: new Set(['conv1']),
      excludeOps: new Set(['Gemm']),
    });
    expect(report.excluded).toEqual(
      expect.arrayContaining([
        { name: 'conv1', opType: 'Conv', reason: 'excluded by name' },
        { name: 'fc', opType: 'Gemm', reason: 'op type Gemm excluded' },
      ]),
    );
    const ops = await optimizedOps(g.toModel());
    expect(ops.filter((o) => o === 'com.microsoft:QLinearConv').length).toBe(1);
    expect(ops).not.toContain('com.microsoft:QGemm');
  });

  it('falls back to per-tensor weights below opset 13 and says so', async () => {
    const { model, cal } = await prepared({ opset: 12 });
    const g = Graph.fromModel(structuredClone(model));
    const report = quantizeQdq(g, { activations: 'uint8', reduceRange: false, perChannel: true, ranges: cal.ranges });
    expect(report.perTensorFallback).toBe(true);
    const q = g.toModel();
    expect(q.graph!.node.some((n) => n.opType === 'DequantizeLinear' && n.attribute.some((a) => a.name === 'axis'))).toBe(false);
    const samples = randomSamples('input', [1, 3, 32, 32], 2, 5);
    const [a, b] = [await runAll(model, samples), await runAll(q, samples)];
    expect(cosineSimilarity(a[0], b[0])).toBeGreaterThan(0.98);
  });
});
