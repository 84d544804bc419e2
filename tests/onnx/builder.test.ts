/** GraphBuilder: inputs with symbolic dims, initializers, nodes, names, sub-graphs, build options. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType, float16ToNumber } from '../../src/onnx/dtypes.js';
import { serializeModel } from '../../src/onnx/model.js';
import { attr } from '../../src/onnx/nodes.js';
import { tensorData } from '../../src/onnx/tensor.js';
import { runModel } from './helpers.js';

describe('GraphBuilder', () => {
  it('builds a model onnxruntime runs, with symbolic and unknown dimensions', async () => {
    const b = new GraphBuilder('affine');
    const x = b.input('x', 'float32', ['batch', null, 3]);
    const w = b.initializer('w', [3], [1, 2, 3]);
    const y = b.node('Mul', [x, w]);
    b.node('Add', [y, b.initializer('one', [], [1])], [], { output: 'y' });
    b.output('y', DataType.FLOAT, ['batch', null, 3]);
    const m = b.build();
    expect(m.graph!.input[0].type!.tensorType!.shape!.dim.map((d) => d.dimParam ?? d.dimValue ?? '?')).toEqual(['batch', '?', 3]);
    const out = await runModel(m, { x: { data: Float32Array.from([1, 1, 1, 2, 2, 2]), dims: [1, 2, 3] } });
    expect(out.y.dims).toEqual([1, 2, 3]);
    expect(Array.from(out.y.data)).toEqual([2, 3, 4, 3, 5, 7]);
  });

  it('names nodes <op>_<n> and their outputs <node>_out, and honours given names', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    const r = b.node('Relu', [x]);
    const [a, c] = b.nodeOutputs('Split', [r], 2, [attr.int('axis', 0)]);
    b.nodeOutputs('TopK', [x, 'k'], ['values', 'indices'], [], { name: 'topk' });
    const g = b.buildGraph();
    expect(g.node.map((n) => n.name)).toEqual(['Relu_0', 'Split_1', 'topk']);
    expect(r).toBe('Relu_0_out');
    expect([a, c]).toEqual(['Split_1_out0', 'Split_1_out1']);
    expect(g.node[2].output).toEqual(['values', 'indices']);
  });

  it('a node may share its name with a tensor, but tensor names must be unique', () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [1]);
    expect(() => b.node('Relu', ['x'], [], { name: 'x', output: 'r' })).not.toThrow();
    expect(() => b.initializer('x', [1], [0])).toThrow(/tensor name 'x' is already used/);
    expect(() => b.node('Neg', ['x'], [], { output: 'r' })).toThrow(/'r' is already used/);
    expect(() => b.node('Neg', ['x'], [], { name: 'x' })).toThrow(/node name 'x'/);
  });

  it('build() refuses an output nothing defines', () => {
    const b = new GraphBuilder('g');
    b.input('x', 'float32', [1]);
    b.output('nope', 'float32', [1]);
    expect(() => b.build()).toThrow(/output 'nope'/);
  });

  it('build options set opsets, IR version and producer', () => {
    const b = new GraphBuilder();
    b.output(b.input('x', 'float32', [1]), 'float32', [1]);
    const m = b.build({ opset: 13, irVersion: 7, opsets: { 'com.microsoft': 1 }, producerName: 'test' });
    expect(m.opsetImport).toEqual([
      { domain: '', version: 13 },
      { domain: 'com.microsoft', version: 1 },
    ]);
    expect(m.irVersion).toBe(7);
    expect(m.producerName).toBe('test');
  });

  it('randomInitializer follows the seed and the asked distribution and dtype', () => {
    const make = (seed: number) => {
      const b = new GraphBuilder('g', { seed });
      b.randomInitializer('n', [1000], { std: 0.5, mean: 1 });
      b.randomInitializer('u', [1000], { distribution: 'uniform', min: 2, max: 3 });
      b.randomInitializer('h', [10], { dtype: 'float16' });
      b.randomInitializer('d', [10], { dtype: DataType.DOUBLE });
      return b.buildGraph().initializer;
    };
    const [n, u, h, d] = make(1);
    const nv = tensorData(n) as Float32Array;
    const mean = nv.reduce((a, v) => a + v, 0) / nv.length;
    expect(Math.abs(mean - 1)).toBeLessThan(0.1);
    expect(Math.max(...nv) - Math.min(...nv)).toBeGreaterThan(2); // std 0.5 over 1000 draws spans well over 2
    const uv = tensorData(u) as Float32Array;
    expect(uv.every((v) => v >= 2 && v < 3)).toBe(true);
    expect(h.dataType).toBe(DataType.FLOAT16);
    expect(
      Array.from(tensorData(h) as Uint16Array)
        .map(float16ToNumber)
        .every((v) => Number.isFinite(v) && Math.abs(v) < 6),
    ).toBe(true);
    expect(d.dataType).toBe(DataType.DOUBLE);
    expect(tensorData(d)).toBeInstanceOf(Float64Array);
    expect(make(1).map((t) => t.rawData)).toEqual([n, u, h, d].map((t) => t.rawData));
    expect(make(2)[0].rawData).not.toEqual(n.rawData);
    expect(() => new GraphBuilder().randomInitializer('i', [2], { dtype: 'int8' })).toThrow(/float32, float16 or float64/);
  });

  it('sub-graph builders share names, so an If branch and its parent never collide', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [2]);
    b.input('c', 'bool', []);
    const r = b.node('Relu', [x]);
    const thenB = b.subgraph('then');
    const t = thenB.node('Relu', [r]); // would be Relu_0_out again without shared names
    thenB.output(t, 'float32', [2]);
    const elseB = b.subgraph('else');
    const e = elseB.node('Neg', [r]);
    elseB.output(e, 'float32', [2]);
    b.node('If', ['c'], [attr.graph('then_branch', thenB.buildGraph()), attr.graph('else_branch', elseB.buildGraph())], { output: 'y' });
    b.output('y', 'float32', [2]);
    expect(t).not.toBe(r);
    const m = b.build();
    const out = await runModel(serializeModel(m), { x: { data: Float32Array.from([-1, 2]), dims: [2] }, c: { type: 'bool', data: [false], dims: [] } });
    expect(Array.from(out.y.data)).toEqual([-0, -2]);
  });
});
