import { describe, expect, it } from 'vitest';
import { buildCnn, buildMatMulAdd, buildMlp, GraphBuilder } from '../../src/onnx/builder.js';
import { attr, makeValueInfo } from '../../src/onnx/nodes.js';
import { inspectModel, type InspectReport } from '../../src/onnx/inspect.js';
import { parseShapeSpec, resolveInputShapes } from '../../src/onnx/input-shapes.js';
import { serializeModel } from '../../src/onnx/model.js';
import { DataType } from '../../src/onnx/dtypes.js';
import { makeTensor } from '../../src/onnx/tensor.js';
import { expectKilnError } from './helpers.js';

const okMacs = (r: InspectReport) => {
  if (r.macs.status !== 'ok') throw new Error(`MACs not computed: ${r.macs.message}`);
  return r.macs;
};

/** x [1,3,32,32] → Conv 3→8, 3×3, stride 1, pad 1 (with bias) → y */
function convModel() {
  const b = new GraphBuilder('conv');
  const x = b.input('x', 'float32', [1, 3, 32, 32]);
  const w = b.randomInitializer('w', [8, 3, 3, 3]);
  const bias = b.randomInitializer('b', [8]);
  const y = b.node('Conv', [x, w, bias], [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1]), attr.ints('strides', [1, 1])], { output: 'y' });
  b.output(y, 'float32', [1, 8, 32, 32]);
  return b.build();
}

describe('inspectModel', () => {
  it('counts a Conv 3→8 3×3 on 1×3×32×32 as 8·3·9·32·32 MACs, with 224 parameters', () => {
    const r = inspectModel(convModel());
    expect(okMacs(r).total).toBe(8 * 3 * 9 * 32 * 32);
    expect(okMacs(r).byOp).toEqual([{ op: 'Conv', macs: 221_184, nodes: 1 }]);
    expect(r.parameters).toEqual({ count: 8 * 3 * 9 + 8, tensors: 2, overridable: 0 });
    expect(r.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [1, 3, 32, 32] }]);
    expect(r.outputs).toEqual([{ name: 'y', dtype: 'float32', shape: [1, 8, 32, 32] }]);
    expect(r.operators).toEqual([{ op: 'Conv', count: 1 }]);
    expect(r.irVersion).toBe(8);
    expect(r.opsets).toEqual([{ domain: 'ai.onnx', version: 17 }]);
    expect(r.producer.name).toBe('kiln');
  });

  it('splits the size into weights and graph', () => {
    const model = convModel();
    const r = inspectModel(model);
    expect(r.size.weightsBytes).toBe(224 * 4);
    expect(r.size.totalBytes).toBe(serializeModel(model).byteLength);
    expect(r.size.graphBytes).toBe(r.size.totalBytes - r.size.weightsBytes);
    expect(inspectModel(model, { serializedBytes: 5000 }).size).toEqual({ totalBytes: 5000, weightsBytes: 896, graphBytes: 4104 });
  });

  it('asks for --shape when an input has a symbolic dim, naming the input and its dims', () => {
    const r = inspectModel(buildMlp());
    expect(r.macs.status).toBe('needs-shape');
    if (r.macs.status !== 'needs-shape') return;
    expect(r.macs.inputs).toEqual([{ name: 'input', shape: ['N', 16] }]);
    expect(r.macs.message).toContain("'input' is [N, 16]");
    expect(r.macs.message).toContain('--shape input=?x16');
  });

  it('computes MLP MACs and parameters at a given batch', () => {
    const model = buildMlp({ inputSize: 16, hidden: [32], outputs: 10 });
    const r = inspectModel(model, { shapes: { input: [4, 16] } });
    expect(r.parameters.count).toBe(16 * 32 + 32 + 32 * 10 + 10);
    expect(okMacs(r).total).toBe(4 * (16 * 32 + 32 * 10));
    expect(okMacs(r).inputShapes).toEqual({ input: [4, 16] });
    expect(r.inferredOutputShapes).toEqual({ output: [4, 10] });
  });

  it('computes a CNN with residual and depthwise blocks by hand', () => {
    const r = inspectModel(buildCnn({ residual: true, depthwise: true }), { shapes: { input: [1, 3, 32, 32] } });
    const conv = 8 * 3 * 9 * 32 * 32 + 16 * 8 * 9 * 16 * 16 + 2 * (16 * 16 * 9 * 8 * 8) + 16 * 9 * 8 * 8 + 16 * 16 * 8 * 8;
    expect(okMacs(r).byOp).toEqual([
      { op: 'Conv', macs: conv, nodes: 6 },
      { op: 'Gemm', macs: 16 * 10, nodes: 1 },
    ]);
    expect(okMacs(r).unknownShapeNodes).toEqual([]);
  });

  it('computes transformer-style MatMuls (attention included) at a given batch and sequence', () => {
    const r = inspectModel(buildMatMulAdd({ layers: 1, dModel: 32, ffDim: 64 }), { shapes: { input: [2, 7, 32] } });
    const projections = 4 * 2 * 7 * 32 * 32;
    const attention = 2 * (2 * 7 * 7 * 32);
    const ff = 2 * (2 * 7 * 32 * 64);
    expect(okMacs(r).total).toBe(projections + attention + ff);
  });

  it('counts ConvTranspose, Gemm with transA and batched MatMul', () => {
    const b = new GraphBuilder('mix');
    const x = b.input('x', 'float32', [1, 16, 8, 8]);
    const up = b.node('ConvTranspose', [x, b.randomInitializer('wt', [16, 4, 4, 4])], [attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])]);
    b.output(up, 'float32');
    const a = b.input('a', 'float32', [6, 5]);
    const g = b.node('Gemm', [a, b.randomInitializer('wg', [6, 3])], [attr.int('transA', 1)]);
    b.output(g, 'float32');
    const q = b.input('q', 'float32', [2, 4, 7, 8]);
    const m = b.node('MatMul', [q, b.randomInitializer('wm', [8, 9])]);
    b.output(m, 'float32');
    const r = inspectModel(b.build());
    const byOp = Object.fromEntries(okMacs(r).byOp.map((e) => [e.op, e.macs]));
    expect(byOp).toEqual({ ConvTranspose: 16 * 8 * 8 * 4 * 4 * 4, Gemm: 5 * 3 * 6, MatMul: 2 * 4 * 7 * 9 * 8 });
  });

  it('counts quantized variants: QLinearConv, ConvInteger, QLinearMatMul, MatMulInteger', () => {
    const b = new GraphBuilder('q');
    const x = b.input('x', 'uint8', [1, 3, 8, 8]);
    const s = b.initializer('s', [], [0.1]);
    const z = b.initializer('z', [], [0], 'uint8');
    const w = b.initializer('w', [4, 3, 3, 3], new Array(108).fill(1), 'uint8');
    const qc = b.node('QLinearConv', [x, s, z, w, s, z, s, z], [attr.ints('pads', [1, 1, 1, 1])]);
    b.output(qc, 'uint8');
    const ci = b.node('ConvInteger', [x, w, z, z]);
    b.output(ci, 'int32');
    const a = b.input('a', 'uint8', [5, 6]);
    const wm = b.initializer('wm', [6, 2], new Array(12).fill(1), 'uint8');
    b.output(b.node('QLinearMatMul', [a, s, z, wm, s, z, s, z]), 'uint8');
    b.output(b.node('MatMulInteger', [a, wm, z, z]), 'int32');
    const r = inspectModel(b.build());
    const byOp = Object.fromEntries(okMacs(r).byOp.map((e) => [e.op, e.macs]));
    expect(byOp).toEqual({ QLinearConv: 4 * 3 * 9 * 8 * 8, ConvInteger: 4 * 3 * 9 * 6 * 6, QLinearMatMul: 5 * 2 * 6, MatMulInteger: 5 * 2 * 6 });
  });

  it('says how many compute nodes had unknown shapes, and leaves them out of the total', () => {
    const b = new GraphBuilder('u');
    const x = b.input('x', 'float32', [1, 8]);
    const h = b.node('Gemm', [x, b.randomInitializer('w1', [8, 8])], [], { name: 'known' });
    const mystery = b.node('Mystery', [h], [], { domain: 'example.custom' });
    const y = b.node('MatMul', [mystery, b.randomInitializer('w2', [8, 4])], [], { name: 'unknown' });
    b.output(y, 'float32');
    const r = inspectModel(b.build({ opsets: { 'example.custom': 1 } }));
    expect(okMacs(r).total).toBe(64);
    expect(okMacs(r).computeNodes).toBe(2);
    expect(okMacs(r).unknownShapeNodes).toEqual([{ name: 'unknown', op: 'MatMul' }]);
    expect(r.shapeInference.unsupportedOps).toEqual([{ op: 'example.custom.Mystery', count: 1 }]);
    expect(r.operators.map((o) => o.op)).toContain('example.custom.Mystery');
  });

  it('counts Constant node tensors as parameters, and initializers listed as inputs as overridable, not as inputs', () => {
    const b = new GraphBuilder('c');
    const x = b.input('x', 'float32', [2, 3]);
    const c = b.node('Constant', [], [attr.tensor('value', makeTensor('', DataType.FLOAT, [3], [1, 2, 3]))]);
    const w = b.randomInitializer('w', [3, 3]);
    const y = b.node('MatMul', [b.node('Add', [x, c]), w]);
    b.output(y, 'float32');
    const model = b.build();
    model.graph!.input.push(makeValueInfo('w', DataType.FLOAT, [3, 3]));
    const r = inspectModel(model);
    expect(r.parameters).toEqual({ count: 9 + 3, tensors: 2, overridable: 1 });
    expect(r.inputs.map((i) => i.name)).toEqual(['x']);
    expect(r.size.weightsBytes).toBe(12 * 4);
    expect(okMacs(r).total).toBe(2 * 3 * 3);
  });

  it('qualifies operators outside ai.onnx with their domain', () => {
    const b = new GraphBuilder('ms');
    const x = b.input('x', 'float32', [1, 4]);
    b.output(b.node('FastGelu', [x], [], { domain: 'com.microsoft' }), 'float32');
    const r = inspectModel(b.build({ opsets: { 'com.microsoft': 1 } }));
    expect(r.operators).toEqual([{ op: 'com.microsoft.FastGelu', count: 1 }]);
    expect(r.opsets).toContainEqual({ domain: 'com.microsoft', version: 1 });
  });

  it('counts sub-graph nodes in the histogram', () => {
    const b = new GraphBuilder('if');
    const cond = b.input('cond', 'bool', []);
    const x = b.input('x', 'float32', [2]);
    const then = b.subgraph('then');
    then.output(then.node('Relu', [x]), 'float32', [2]);
    const other = b.subgraph('else');
    other.output(other.node('Neg', [x]), 'float32', [2]);
    b.output(b.node('If', [cond], [attr.graph('then_branch', then.buildGraph()), attr.graph('else_branch', other.buildGraph())]), 'float32', [2]);
    const r = inspectModel(b.build());
    expect(r.nodes).toBe(3);
    expect(r.operators.map((o) => o.op).sort()).toEqual(['If', 'Neg', 'Relu']);
  });
});

describe('--shape specs', () => {
  it('parses NAME=DIMS, bare dims, commas, and names containing = or :', () => {
    expect(parseShapeSpec('images=1x3x640x640')).toEqual({ name: 'images', dims: [1, 3, 640, 640] });
    expect(parseShapeSpec('1x16')).toEqual({ name: undefined, dims: [1, 16] });
    expect(parseShapeSpec('input:0=1,3')).toEqual({ name: 'input:0', dims: [1, 3] });
    expect(parseShapeSpec('a=b=2x2')).toEqual({ name: 'a=b', dims: [2, 2] });
  });
  it('BAD CALL - rejects malformed specs with USAGE', async () => {
    await expectKilnError(() => parseShapeSpec('x=1xNx3'), 'USAGE', "'N' is not a dimension");
    await expectKilnError(() => parseShapeSpec('x='), 'USAGE', 'no dimensions');
    await expectKilnError(() => parseShapeSpec('=1x2'), 'USAGE', 'name before');
    await expectKilnError(() => parseShapeSpec('x=0x2'), 'USAGE', 'positive integers');
    await expectKilnError(() => parseShapeSpec('x=1.5'), 'USAGE', "'1.5'");
  });
  it('BAD CALL - rejects unknown names, wrong ranks and contradicted fixed dims with BAD_SHAPE', async () => {
    const graph = buildMlp().graph!;
    await expectKilnError(() => resolveInputShapes(graph, [parseShapeSpec('x=1x16')]), 'BAD_SHAPE', "no input 'x'", 'input [N, 16]');
    await expectKilnError(() => resolveInputShapes(graph, [parseShapeSpec('input=1x16x1')]), 'BAD_SHAPE', '2 dimensions [N, 16], but 3 were given');
    await expectKilnError(() => resolveInputShapes(graph, [parseShapeSpec('input=1x15')]), 'BAD_SHAPE', 'fixed at 16');
    await expectKilnError(() => resolveInputShapes(graph, [parseShapeSpec('input=1x16'), parseShapeSpec('input=2x16')]), 'BAD_SHAPE', 'given twice');
  });
  it('takes bare dims for a single-input model, and wants a name otherwise', async () => {
    expect(resolveInputShapes(buildMlp().graph!, [parseShapeSpec('8x16')])).toEqual({ input: [8, 16] });
    const b = new GraphBuilder('two');
    const x = b.input('a', 'float32', ['N']);
    const y = b.input('b', 'float32', ['N']);
    b.output(b.node('Add', [x, y]), 'float32');
    await expectKilnError(() => resolveInputShapes(b.buildGraph(), [parseShapeSpec('3')]), 'BAD_SHAPE', 'needs a name', 'a [N], b [N]');
  });
});
