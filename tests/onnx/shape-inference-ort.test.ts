/** Shape inference must agree with what onnxruntime actually produces, op by op. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { attr } from '../../src/onnx/nodes.js';
import { inferModelShapes } from '../../src/onnx/shape-inference.js';
import { randomFeed, runModel } from './helpers.js';

interface Case {
  name: string;
  input: number[];
  body: (b: GraphBuilder, x: string) => string;
}

const i64 = (b: GraphBuilder, name: string, values: number[]): string => b.initializer(name, [values.length], values, 'int64');
const f32 = (b: GraphBuilder, name: string, values: number[]): string => b.initializer(name, [values.length], values, 'float32');

const cases: Case[] = [
  {
    name: 'Conv stride 2 pad 1',
    input: [1, 3, 15, 17],
    body: (b, x) => b.node('Conv', [x, b.randomInitializer('w', [4, 3, 3, 3])], [attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])]),
  },
  {
    name: 'Conv SAME_UPPER stride 2',
    input: [1, 3, 15, 17],
    body: (b, x) => b.node('Conv', [x, b.randomInitializer('w', [4, 3, 4, 4])], [attr.string('auto_pad', 'SAME_UPPER'), attr.ints('strides', [2, 2])]),
  },
  {
    name: 'Conv grouped dilated',
    input: [1, 4, 19, 19],
    body: (b, x) => b.node('Conv', [x, b.randomInitializer('w', [8, 2, 3, 3])], [attr.int('group', 2), attr.ints('dilations', [2, 3])]),
  },
  {
    name: 'ConvTranspose output_padding',
    input: [1, 4, 7, 7],
    body: (b, x) =>
      b.node(
        'ConvTranspose',
        [x, b.randomInitializer('w', [4, 2, 3, 3])],
        [attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1]), attr.ints('output_padding', [1, 1])],
      ),
  },
  {
    name: 'MaxPool ceil_mode',
    input: [1, 2, 10, 11],
    body: (b, x) => b.node('MaxPool', [x], [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.int('ceil_mode', 1)]),
  },
  {
    name: 'AveragePool pads',
    input: [1, 2, 9, 9],
    body: (b, x) => b.node('AveragePool', [x], [attr.ints('kernel_shape', [3, 3]), attr.ints('strides', [2, 2]), attr.ints('pads', [1, 1, 1, 1])]),
  },
  { name: 'Resize scales', input: [1, 2, 5, 7], body: (b, x) => b.node('Resize', [x, '', f32(b, 'sc', [1, 1, 1.5, 2])]) },
  {
    name: 'Slice negative step',
    input: [6, 10],
    body: (b, x) => b.node('Slice', [x, i64(b, 'st', [-2, 8]), i64(b, 'en', [-100, 1]), i64(b, 'ax', [0, 1]), i64(b, 'sp', [-1, -3])]),
  },
  { name: 'Pad', input: [1, 2, 4, 4], body: (b, x) => b.node('Pad', [x, i64(b, 'p', [0, 0, 1, 0, 0, 1, 2, 3])]) },
  {
    name: 'Split uneven (opset 18 num_outputs)',
    input: [1, 7],
    body: (b, x) => b.nodeOutputs('Split', [x], 3, [attr.int('axis', 1), attr.int('num_outputs', 3)])[2],
  },
  {
    name: 'Reshape via Shape arithmetic',
    input: [2, 3, 4, 5],
    body: (b, x) => {
      const shape = b.node('Shape', [x]);
      const head = b.node('Slice', [shape, i64(b, 's0', [0]), i64(b, 'e0', [2])]);
      return b.node('Reshape', [x, b.node('Concat', [head, i64(b, 'm1', [-1])], [attr.int('axis', 0)])]);
    },
  },
  { name: 'ReduceMean axes input (opset 18)', input: [2, 3, 4], body: (b, x) => b.node('ReduceMean', [x, i64(b, 'ax', [1, -1])]) },
  { name: 'TopK', input: [3, 9], body: (b, x) => b.nodeOutputs('TopK', [x, i64(b, 'k', [4])], 2)[0] },
  { name: 'DepthToSpace', input: [1, 8, 3, 3], body: (b, x) => b.node('DepthToSpace', [x], [attr.int('blocksize', 2)]) },
];

describe('shape inference agrees with onnxruntime', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const b = new GraphBuilder('t', { seed: 3 });
      const x = b.input('x', 'float32', c.input);
      const y = c.body(b, x);
      b.output(y, 'float32');
      const model = b.build({ opset: 18 });
      const inferred = inferModelShapes(model).values.get(y)?.shape;
      const actual = (await runModel(model, { x: randomFeed(c.input) }))[y].dims;
      expect(inferred).toEqual([...actual]);
    });
  }
});
