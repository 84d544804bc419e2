import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { attr, makeValueInfo, type Dim } from '../../src/onnx/nodes.js';
import { Graph } from '../../src/onnx/graph.js';
import type { GraphProto } from '../../src/onnx/proto-types.js';
import { broadcastShapes, inferModelShapes, inferShapes, type Shape } from '../../src/onnx/shape-inference.js';
import { DataType } from '../../src/onnx/dtypes.js';
import { makeTensor } from '../../src/onnx/tensor.js';

/** Build a graph with one input `x` of `shape`, let `body` add nodes, and return the inferred shape of what body returns. */
function shapeOf(shape: Dim[], body: (b: GraphBuilder, x: string) => string, opset = 17, inputShapes?: Record<string, Dim[]>): Shape | null {
  const b = new GraphBuilder('t');
  const x = b.input('x', 'float32', shape);
  const y = body(b, x);
  b.output(y, 'float32');
  const result = inferShapes(b.buildGraph(), { opset, inputShapes });
  return result.values.get(y)?.shape ?? null;
}

const i64 = (b: GraphBuilder, name: string, values: number[], dims = [values.length]): string => b.initializer(name, dims, values, 'int64');
const f32 = (b: GraphBuilder, name: string, values: number[], dims = [values.length]): string => b.initializer(name, dims, values, 'float32');
const zeros = (n: number): number[] => new Array(n).fill(0);

describe('broadcasting', () => {
  it('follows numpy rules, keeping symbolic dims', () => {
    expect(
      broadcastShapes([
        [2, 1, 4],
        [3, 1],
      ]),
    ).toEqual([2, 3, 4]);
    expect(
      broadcastShapes([
        ['N', 1],
        [1, 5],
      ]),
    ).toEqual(['N', 5]);
    expect(
      broadcastShapes([
        ['N', 5],
        ['N', 5],
      ]),
    ).toEqual(['N', 5]);
    expect(broadcastShapes([[], [7]])).toEqual([7]);
    expect(broadcastShapes([['N'], ['M']])).toEqual([null]);
    expect(broadcastShapes([[2], [3]])).toBeNull();
    expect(broadcastShapes([[2], null])).toBeNull();
  });
});

describe('Conv and pooling', () => {
  it('Conv 3→8, 3×3, pad 1 keeps the spatial size', () => {
    const s = shapeOf([1, 3, 32, 32], (b, x) => b.node('Conv', [x, b.randomInitializer('w', [8, 3, 3, 3])], [attr.ints('pads', [1, 1, 1, 1])]));
    expect(s).toEqual([1, 8, 32, 32]);
  });
  it('Conv with stride, dilation, and no kernel_shape attribute', () => {
    const s = shapeOf(['N', 3, 224, 224], (b, x) =>
      b.node('Conv', [x, b.randomInitializer('w', [64, 3, 7, 7])], [attr.ints('strides', [2, 2]), attr.ints('pads', [3, 3, 3, 3])]),
    );
    expect(s).toEqual(['N', 64, 112, 112]);
    const d = shapeOf([1, 4, 20, 20], (b, x) => b.node('Conv', [x, b.randomInitializer('w', [4, 4, 3, 3])], [attr.ints('dilations', [2, 2])]));
    expect(d).toEqual([1, 4, 16, 16]);
  });
  it('Conv auto_pad SAME_UPPER and VALID, 1-D', () => {
    expect(
      shapeOf([1, 2, 17], (b, x) =>
        b.node('Conv', [x, b.randomInitializer('w', [5, 2, 4])], [attr.string('auto_pad', 'SAME_UPPER'), attr.ints('strides', [2])]),
      ),
    ).toEqual([1, 5, 9]);
    expect(
      shapeOf([1, 2, 17], (b, x) => b.node('Conv', [x, b.randomInitializer('w', [5, 2, 4])], [attr.string('auto_pad', 'VALID'), attr.ints('strides', [2])])),
    ).toEqual([1, 5, 7]);
  });
  it('ConvTranspose doubles with stride 2', () => {
    const s = shapeOf([1, 16, 8, 8], (b, x) =>
      b.node('ConvTranspose', [x, b.randomInitializer('w', [16, 4, 4, 4])], [attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])]),
    );
    expect(s).toEqual([1, 4, 16, 16]);
  });
  it('MaxPool, AveragePool with ceil_mode, global pools', () => {
    expect(shapeOf([1, 8, 32, 32], (b, x) => b.node('MaxPool', [x], [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])]))).toEqual([
      1, 8, 16, 16,
    ]);
    expect(
      shapeOf([1, 8, 7, 7], (b, x) => b.node('AveragePool', [x], [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2]), attr.int('ceil_mode', 1)])),
    ).toEqual([1, 8, 4, 4]);
    expect(
      shapeOf([1, 8, 112, 112], (b, x) =>
        b.node('MaxPool', [x], [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])]),
      ),
    ).toEqual([1, 8, 56, 56]);
    expect(shapeOf(['N', 8, 7, 7], (b, x) => b.node('GlobalAveragePool', [x]))).toEqual(['N', 8, 1, 1]);
    expect(shapeOf([2, 8, 5, 5], (b, x) => b.node('GlobalMaxPool', [x]))).toEqual([2, 8, 1, 1]);
  });
  it('claims nothing for a Conv whose weights do not fit the input channels (group included)', () => {
    expect(shapeOf([1, 3, 8, 8], (b, x) => b.node('Conv', [x, b.randomInitializer('w', [4, 5, 3, 3])]))).toBeNull();
    expect(shapeOf([1, 4, 8, 8], (b, x) => b.node('Conv', [x, b.randomInitializer('w', [4, 2, 3, 3])], [attr.int('group', 2)]))).toEqual([1, 4, 6, 6]);
  });
  it('leaves the spatial size unknown when the input size is symbolic', () => {
    expect(shapeOf([1, 3, 'H', 'W'], (b, x) => b.node('Conv', [x, b.randomInitializer('w', [8, 3, 3, 3])]))).toEqual([1, 8, null, null]);
  });
});

describe('Gemm and MatMul', () => {
  it('Gemm with transB', () => {
    expect(shapeOf(['N', 16], (b, x) => b.node('Gemm', [x, b.randomInitializer('w', [10, 16])], [attr.int('transB', 1)]))).toEqual(['N', 10]);
    expect(shapeOf([16, 4], (b, x) => b.node('Gemm', [x, b.randomInitializer('w', [16, 10])], [attr.int('transA', 1)]))).toEqual([4, 10]);
  });
  it('MatMul broadcasts batch dims and handles 1-D operands', () => {
    expect(shapeOf(['B', 7, 32], (b, x) => b.node('MatMul', [x, b.randomInitializer('w', [32, 64])]))).toEqual(['B', 7, 64]);
    expect(shapeOf([2, 1, 7, 32], (b, x) => b.node('MatMul', [x, b.randomInitializer('w', [3, 32, 5])]))).toEqual([2, 3, 7, 5]);
    expect(shapeOf([32], (b, x) => b.node('MatMul', [x, b.randomInitializer('w', [32, 5])]))).toEqual([5]);
    expect(shapeOf([4, 32], (b, x) => b.node('MatMul', [x, b.randomInitializer('w', [32])]))).toEqual([4]);
  });
});

describe('elementwise and unary', () => {
  it('Add broadcasts; comparisons give bool; unaries keep the shape', () => {
    expect(shapeOf(['N', 3, 1], (b, x) => b.node('Add', [x, f32(b, 'c', zeros(4), [1, 4])]))).toEqual(['N', 3, 4]);
    expect(shapeOf([2, 3], (b, x) => b.node('Where', [b.node('Greater', [x, f32(b, 'z', [0], [])]), x, f32(b, 'o', zeros(3), [3])]))).toEqual([2, 3]);
    for (const op of ['Relu', 'Sigmoid', 'Tanh', 'HardSwish', 'Erf', 'Clip', 'Softmax', 'LeakyRelu']) {
      expect(shapeOf(['N', 5], (b, x) => b.node(op, [x]))).toEqual(['N', 5]);
    }
  });
  it('BatchNormalization and LayerNormalization keep the shape', () => {
    expect(shapeOf([1, 4, 6, 6], (b, x) => b.node('BatchNormalization', [x, ...['s', 'bb', 'm', 'v'].map((n) => f32(b, n, zeros(4)))]))).toEqual([1, 4, 6, 6]);
    expect(shapeOf(['N', 'S', 8], (b, x) => b.node('LayerNormalization', [x, f32(b, 'g', zeros(8)), f32(b, 'be', zeros(8))]))).toEqual(['N', 'S', 8]);
  });
  it('Cast changes the type, not the shape', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', [2, 3]);
    const y = b.node('Cast', [x], [attr.int('to', DataType.INT64)]);
    const r = inferShapes(b.buildGraph());
    expect(r.values.get(y)).toMatchObject({ dtype: DataType.INT64, shape: [2, 3] });
  });
});

describe('shape manipulation', () => {
  it('Flatten', () => {
    expect(shapeOf([2, 3, 4, 5], (b, x) => b.node('Flatten', [x]))).toEqual([2, 60]);
    expect(shapeOf(['N', 3, 4, 5], (b, x) => b.node('Flatten', [x]))).toEqual(['N', 60]);
    expect(shapeOf(['N', 3, 4, 5], (b, x) => b.node('Flatten', [x], [attr.int('axis', 2)]))).toEqual([null, 20]);
    expect(shapeOf(['N', 'C', 4], (b, x) => b.node('Flatten', [x]))).toEqual(['N', null]);
  });
  it('Reshape with a constant shape, 0 and -1, symbolic dims cancelled', () => {
    expect(shapeOf([2, 3, 4], (b, x) => b.node('Reshape', [x, i64(b, 's', [0, -1])]))).toEqual([2, 12]);
    expect(shapeOf([2, 3, 4], (b, x) => b.node('Reshape', [x, i64(b, 's', [-1, 4, 2])]))).toEqual([3, 4, 2]);
    expect(shapeOf(['N', 3, 4], (b, x) => b.node('Reshape', [x, i64(b, 's', [0, -1])]))).toEqual(['N', 12]);
    expect(shapeOf(['N', 3, 4], (b, x) => b.node('Reshape', [x, i64(b, 's', [-1, 12])]))).toEqual(['N', 12]);
    expect(shapeOf(['N', 12], (b, x) => b.node('Reshape', [x, i64(b, 's', [0, 3, 4])]))).toEqual(['N', 3, 4]);
  });
  it('Transpose with and without perm', () => {
    expect(shapeOf(['N', 3, 5], (b, x) => b.node('Transpose', [x], [attr.ints('perm', [0, 2, 1])]))).toEqual(['N', 5, 3]);
    expect(shapeOf([2, 3, 5], (b, x) => b.node('Transpose', [x]))).toEqual([5, 3, 2]);
  });
  it('Concat adds along the axis', () => {
    expect(shapeOf(['N', 3, 8], (b, x) => b.node('Concat', [x, x, f32(b, 'c', zeros(16), [1, 2, 8])], [attr.int('axis', 1)]))).toEqual(['N', 8, 8]);
    expect(shapeOf(['N', 'C', 8], (b, x) => b.node('Concat', [x, x], [attr.int('axis', -2)]))).toEqual(['N', null, 8]);
  });
  it('Split by sizes (input, opset 13+; attribute, opset 11) and evenly', () => {
    const parts = (opset: number, withSizes: boolean): (Shape | null)[] => {
      const b = new GraphBuilder('t');
      const x = b.input('x', 'float32', [1, 10, 4]);
      const inputs = [x];
      const attrs = [attr.int('axis', 1)];
      if (withSizes && opset >= 13) inputs.push(i64(b, 'sizes', [2, 8]));
      if (withSizes && opset < 13) attrs.push(attr.ints('split', [2, 8]));
      const outs = b.nodeOutputs('Split', inputs, 2, attrs);
      const r = inferShapes(b.buildGraph(), { opset });
      return outs.map((o) => r.values.get(o)!.shape);
    };
    expect(parts(17, true)).toEqual([
      [1, 2, 4],
      [1, 8, 4],
    ]);
    expect(parts(11, true)).toEqual([
      [1, 2, 4],
      [1, 8, 4],
    ]);
    expect(parts(17, false)).toEqual([
      [1, 5, 4],
      [1, 5, 4],
    ]);
  });
  it('Slice with constant starts/ends/axes/steps (opset 10+) and attributes (opset 9)', () => {
    expect(
      shapeOf([1, 3, 32, 32], (b, x) => b.node('Slice', [x, i64(b, 'st', [1, 0]), i64(b, 'en', [32, -2]), i64(b, 'ax', [2, 3]), i64(b, 'sp', [2, 1])])),
    ).toEqual([1, 3, 16, 30]);
    expect(shapeOf(['N', 10], (b, x) => b.node('Slice', [x, i64(b, 'st', [-3]), i64(b, 'en', [2 ** 53]), i64(b, 'ax', [1])]))).toEqual(['N', 3]);
    expect(shapeOf([10], (b, x) => b.node('Slice', [x, i64(b, 'st', [-1]), i64(b, 'en', [-(2 ** 53)]), i64(b, 'ax', [0]), i64(b, 'sp', [-1])]))).toEqual([10]);
    expect(shapeOf([4, 10], (b, x) => b.node('Slice', [x], [attr.ints('starts', [2]), attr.ints('ends', [5]), attr.ints('axes', [1])]), 9)).toEqual([4, 3]);
  });
  it('Squeeze and Unsqueeze by input (opset 13+) and attribute (opset 11)', () => {
    expect(shapeOf([1, 3, 1, 5], (b, x) => b.node('Squeeze', [x, i64(b, 'ax', [0, 2])]))).toEqual([3, 5]);
    expect(shapeOf([1, 3, 1, 5], (b, x) => b.node('Squeeze', [x]))).toEqual([3, 5]);
    expect(shapeOf([1, 3, 1, 5], (b, x) => b.node('Squeeze', [x], [attr.ints('axes', [-2])]), 11)).toEqual([1, 3, 5]);
    expect(shapeOf(['N', 5], (b, x) => b.node('Unsqueeze', [x, i64(b, 'ax', [0, -1])]))).toEqual([1, 'N', 5, 1]);
    expect(shapeOf(['N', 5], (b, x) => b.node('Unsqueeze', [x], [attr.ints('axes', [1])]), 11)).toEqual(['N', 1, 5]);
  });
  it('Resize with constant scales or sizes; Upsample', () => {
    expect(shapeOf([1, 8, 10, 10], (b, x) => b.node('Resize', [x, '', f32(b, 'sc', [1, 1, 2, 2])], [attr.string('mode', 'nearest')]))).toEqual([1, 8, 20, 20]);
    expect(shapeOf(['N', 8, 10, 10], (b, x) => b.node('Resize', [x, '', '', i64(b, 'sz', [1, 8, 15, 25])]))).toEqual([1, 8, 15, 25]);
    expect(shapeOf([1, 8, 10, 10], (b, x) => b.node('Upsample', [x, f32(b, 'sc', [1, 1, 2, 3])]), 9)).toEqual([1, 8, 20, 30]);
  });
  it('ReduceMean with axes attribute (opset 17) and input (opset 18), keepdims', () => {
    expect(shapeOf(['N', 8, 6, 6], (b, x) => b.node('ReduceMean', [x], [attr.ints('axes', [2, 3])]))).toEqual(['N', 8, 1, 1]);
    expect(shapeOf(['N', 8, 6, 6], (b, x) => b.node('ReduceMean', [x], [attr.ints('axes', [-1]), attr.int('keepdims', 0)]))).toEqual(['N', 8, 6]);
    expect(shapeOf(['N', 8, 6, 6], (b, x) => b.node('ReduceMean', [x, i64(b, 'ax', [1])], [attr.int('keepdims', 0)]), 18)).toEqual(['N', 6, 6]);
    expect(shapeOf([2, 3], (b, x) => b.node('ReduceSum', [x], [attr.int('keepdims', 0)]))).toEqual([]);
  });
  it('Pad, Tile, Expand, DepthToSpace', () => {
    expect(shapeOf([1, 3, 10, 10], (b, x) => b.node('Pad', [x, i64(b, 'p', [0, 0, 1, 2, 0, 0, 3, 4])]))).toEqual([1, 3, 14, 16]);
    expect(shapeOf([2, 3], (b, x) => b.node('Tile', [x, i64(b, 'r', [2, 1])]))).toEqual([4, 3]);
    expect(shapeOf([3, 1], (b, x) => b.node('Expand', [x, i64(b, 's', [2, 3, 4])]))).toEqual([2, 3, 4]);
    expect(shapeOf([1, 16, 4, 4], (b, x) => b.node('DepthToSpace', [x], [attr.int('blocksize', 2)]))).toEqual([1, 4, 8, 8]);
  });
});

describe('constant propagation through shape sub-graphs', () => {
  it('Shape → Gather → Unsqueeze → Concat → Reshape keeps the batch symbol', () => {
    // x: [N, 3, 4] → reshape to [N, 12] the way exporters write flatten
    const s = shapeOf(['N', 3, 4], (b, x) => {
      const shape = b.node('Shape', [x]);
      const n = b.node('Gather', [shape, b.initializer('zero', [], [0], 'int64')], [attr.int('axis', 0)]);
      const n1 = b.node('Unsqueeze', [n, i64(b, 'ax', [0])]);
      const target = b.node('Concat', [n1, i64(b, 'minus1', [-1])], [attr.int('axis', 0)]);
      return b.node('Reshape', [x, target]);
    });
    expect(s).toEqual(['N', 12]);
  });
  it('resolves to numbers once the input shape is given', () => {
    const s = shapeOf(
      ['N', 3, 'H', 'W'],
      (b, x) => {
        const shape = b.node('Shape', [x]);
        const hw = b.node('Slice', [shape, i64(b, 'st', [2]), i64(b, 'en', [4])]);
        const doubled = b.node('Mul', [b.node('Cast', [hw], [attr.int('to', DataType.INT64)]), i64(b, 'two', [2])]);
        const sizes = b.node('Concat', [b.node('Slice', [shape, i64(b, 'st0', [0]), i64(b, 'en0', [2])]), doubled], [attr.int('axis', 0)]);
        return b.node('Resize', [x, '', '', sizes]);
      },
      17,
      { x: [1, 3, 20, 30] },
    );
    expect(s).toEqual([1, 3, 40, 60]);
  });
  it('Constant nodes, ConstantOfShape and Range', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', [2, 3]);
    const c = b.node('Constant', [], [attr.tensor('value', makeTensor('', DataType.INT64, [2], [4, 5]))]);
    const filled = b.node('ConstantOfShape', [c]);
    const r = b.node('Range', [b.initializer('s', [], [0], 'int64'), b.initializer('l', [], [10], 'int64'), b.initializer('d', [], [3], 'int64')]);
    b.output(x, 'float32');
    const result = inferShapes(b.buildGraph());
    expect(result.values.get(c)).toMatchObject({ shape: [2], value: [4, 5] });
    expect(result.values.get(filled)?.shape).toEqual([4, 5]);
    expect(result.values.get(r)).toMatchObject({ shape: [4], value: [0, 3, 6, 9] });
  });
});

describe('unknowns and value_info', () => {
  it('marks outputs of unknown operators as unknown and counts the operators', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', [1, 4]);
    const y = b.node('MyCustomOp', [x], [], { domain: 'example.custom' });
    const z = b.node('Relu', [y]);
    b.output(z, 'float32');
    const r = inferShapes(b.buildGraph());
    expect(r.values.get(y)?.shape).toBeNull();
    expect(r.values.get(z)?.shape).toBeNull();
    expect(r.unknown).toEqual(new Set([y, z]));
    expect(r.unsupportedOps.get('example.custom.MyCustomOp')).toBe(1);
  });
  it('fills in from value_info where inference cannot tell', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', [1, 4]);
    const y = b.node('MyCustomOp', [x], [], { domain: 'example.custom' });
    const z = b.node('Relu', [y]);
    b.output(z, 'float32');
    const graph = b.buildGraph();
    graph.valueInfo.push(makeValueInfo(y, DataType.FLOAT, [1, 9]));
    const r = inferShapes(graph);
    expect(r.values.get(y)?.shape).toEqual([1, 9]);
    expect(r.values.get(z)?.shape).toEqual([1, 9]);
    expect(r.fromValueInfo.has(y)).toBe(true);
    expect(r.unknown.size).toBe(0);
  });
  it('ignores value_info numbers made stale by a different input shape', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', [1, 3, 8, 8]);
    const y = b.node('MyCustomOp', [x], [], { domain: 'example.custom' });
    b.output(y, 'float32');
    const graph = b.buildGraph();
    graph.valueInfo.push(makeValueInfo(y, DataType.FLOAT, [1, 3, 8, 8]));
    const r = inferShapes(graph, { inputShapes: { x: [1, 3, 16, 16] } });
    expect(r.values.get(y)?.shape).toBeNull();
  });
  it('handles nodes out of order, and long chains without deep recursion', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', ['N', 4]);
    const a = b.node('Relu', [x]);
    const c = b.node('Flatten', [a]);
    const graph = b.buildGraph();
    graph.node.reverse();
    expect(inferShapes(graph).values.get(c)?.shape).toEqual(['N', 4]);

    const long = new GraphBuilder('long');
    let y = long.input('x', 'float32', [2, 3]);
    for (let i = 0; i < 20_000; i++) y = long.node('Relu', [y]);
    const g = long.buildGraph();
    g.node.reverse();
    expect(inferShapes(g).values.get(y)?.shape).toEqual([2, 3]);
  });

  it('inferModelShapes takes the opset from the model', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', [1, 3, 1, 5]);
    const y = b.node('Squeeze', [x], [attr.ints('axes', [0])]);
    b.output(y, 'float32');
    expect(inferModelShapes(b.build({ opset: 11 })).values.get(y)?.shape).toEqual([3, 1, 5]);
  });
});

/** Drop the declared shape of graph input `name` (its rank becomes unknown). */
function unranked(graph: GraphProto, name: string): GraphProto {
  graph.input.find((vi) => vi.name === name)!.type!.tensorType!.shape = undefined;
  return graph;
}

describe('one engine: element types, ranks and values for inspect and the compiler passes alike', () => {
  it('types outputs by the operator signature where no shape rule exists (If from its branches, NonMaxSuppression, QLinearMatMul)', () => {
    const branch = (name: string): GraphProto => {
      const g = new GraphBuilder(name);
      g.output(g.node('Identity', [f32(g, `${name}_c`, [1, 2])], [], { output: `${name}_out` }), 'float32', [2]);
      return g.buildGraph();
    };
    const b = new GraphBuilder('t');
    const cond = b.input('cond', 'bool', []);
    const y = b.node('If', [cond], [attr.graph('then_branch', branch('then')), attr.graph('else_branch', branch('else'))]);
    const nms = b.node('NonMaxSuppression', [b.input('boxes', 'float32', [1, 4, 4]), b.input('scores', 'float32', [1, 1, 4])]);
    const q = (n: string) => b.input(n, 'uint8', [2, 2]);
    const s = (n: string) => b.input(n, 'float32', []);
    const qmm = b.node('QLinearMatMul', [
      q('a'),
      s('as'),
      b.input('az', 'uint8', []),
      q('bb'),
      s('bs'),
      b.input('bz', 'uint8', []),
      s('ys'),
      b.input('yz', 'int8', []),
    ]);
    const r = inferShapes(b.buildGraph());
    expect(r.values.get(y)).toMatchObject({ dtype: DataType.FLOAT, shape: null });
    expect(r.values.get(nms)?.dtype).toBe(DataType.INT64);
    expect(r.values.get(qmm)).toMatchObject({ dtype: DataType.INT8, shape: [2, 2] }); // the type of y_zero_point, not of a
    expect(r.unsupportedOps).toEqual(
      new Map([
        ['If', 1],
        ['NonMaxSuppression', 1],
      ]),
    );
  });

  it('tells the rank where the dimensions cannot be told (Gemm, Flatten, Transpose with perm, Expand, Conv, non-broadcasting shapes)', () => {
    const b = new GraphBuilder('t');
    const u = b.input('u', 'float32', [1]);
    const gemm = b.node('Gemm', [u, u]);
    const flat = b.node('Flatten', [u]);
    const tr = b.node('Transpose', [u], [attr.ints('perm', [2, 0, 1])]);
    const ex = b.node('Expand', [b.input('x', 'float32', [3, 1]), b.input('target', 'int64', [2])]);
    const conv = b.node('Conv', [b.input('img', 'float32', ['N', 3, 8, 8]), b.input('w', 'float32', [1])]);
    const add = b.node('Add', [b.input('p', 'float32', [2]), b.input('q', 'float32', [3])]);
    const graph = b.buildGraph();
    unranked(unranked(graph, 'u'), 'w');
    const r = inferShapes(graph);
    expect(r.values.get(gemm)?.shape).toEqual([null, null]);
    expect(r.values.get(flat)?.shape).toEqual([null, null]);
    expect(r.values.get(tr)?.shape).toEqual([null, null, null]);
    expect(r.values.get(ex)?.shape).toEqual([3, null]);
    expect(r.values.get(conv)?.shape).toEqual(['N', null, null, null]);
    expect(r.values.get(add)?.shape).toEqual([null]);
    for (const name of [gemm, flat, tr, ex, conv, add]) expect(r.unknown.has(name)).toBe(true);
  });

  it('keeps a declared rank whose dimensions are unknown for an operator without a rule', () => {
    const b = new GraphBuilder('t');
    const y = b.node('MyCustomOp', [b.input('x', 'float32', [1, 4])], [], { domain: 'example.custom' });
    b.output(y, 'float32', [null, null, null]);
    expect(inferShapes(b.buildGraph()).values.get(y)?.shape).toEqual([null, null, null]);
  });

  it('Acosh, Asinh, Atanh, Bernoulli, EyeLike, RandomUniformLike keep the shape; OneHot adds the depth; string Constants', () => {
    for (const op of ['Acosh', 'Asinh', 'Atanh', 'Bernoulli', 'RandomUniformLike'])
      expect(
        shapeOf(['N', 3], (b, x) => b.node(op, [x])),
        op,
      ).toEqual(['N', 3]);
    const b = new GraphBuilder('t');
    const eye = b.node('EyeLike', [b.input('m', 'float32', [3, 4])], [attr.int('dtype', DataType.INT32)]);
    const hot = b.node('OneHot', [b.input('idx', 'int64', [2, 3]), i64(b, 'depth', [5], []), f32(b, 'onoff', [0, 1])]);
    const hot0 = b.node('OneHot', [b.input('idx0', 'int64', [2, 3]), i64(b, 'depth0', [5], []), f32(b, 'onoff0', [0, 1])], [attr.int('axis', 0)]);
    const words = b.node('Constant', [], [attr.strings('value_strings', ['a', 'b'])]);
    const r = inferShapes(b.buildGraph());
    expect(r.values.get(eye)).toMatchObject({ dtype: DataType.INT32, shape: [3, 4] });
    expect(r.values.get(hot)).toMatchObject({ dtype: DataType.FLOAT, shape: [2, 3, 5] });
    expect(r.values.get(hot0)?.shape).toEqual([5, 2, 3]);
    expect(r.values.get(words)).toMatchObject({ dtype: DataType.STRING, shape: [2] });
  });

  it("gives a compiler pass's Graph the answers its GraphProto gets, and reads a sub-graph with the enclosing graph's facts", () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', ['N', 3, 4]);
    const shape = b.node('Shape', [x]);
    const y = b.node('Reshape', [
      x,
      b.node('Concat', [b.node('Slice', [shape, i64(b, 's', [0]), i64(b, 'e', [1])]), i64(b, 'm', [-1])], [attr.int('axis', 0)]),
    ]);
    b.output(y, 'float32');
    const model = b.build();
    const fromProto = inferShapes(model.graph!);
    const fromGraph = inferShapes(Graph.fromModel(structuredClone(model)));
    expect(fromGraph.values).toEqual(fromProto.values);
    expect(fromProto.values.get(y)?.shape).toEqual(['N', 12]);

    // A body that reads `x` from the enclosing graph: unknown alone, known with `outer`.
    const body = new GraphBuilder('body');
    const z = body.node('Relu', [x]);
    body.output(z, 'float32');
    const sub = body.buildGraph();
    expect(inferShapes(sub).values.get(z)?.shape).toBeNull();
    expect(inferShapes(sub, { outer: fromProto.values }).values.get(z)).toMatchObject({ dtype: DataType.FLOAT, shape: ['N', 3, 4] });
  });
});
