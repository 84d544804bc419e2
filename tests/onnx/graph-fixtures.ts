/** Small models with sub-graphs whose bodies read tensors of the enclosing graph. */
import { GraphBuilder } from '../../src/onnx/builder.js';
import { DataType } from '../../src/onnx/dtypes.js';
import { attr } from '../../src/onnx/nodes.js';
import type { ModelProto } from '../../src/onnx/proto-types.js';

export const W = [10, 20, 30];

/**
 * x [3], cond, cond2 → y [3]
 *   h = Relu(x), k = Neg(x), w = [10, 20, 30]        (h, k, w are read only inside the branches)
 *   y = If(cond) then: h + w
 *                else: If(cond2) then: h * k else: h - k
 * plus a dead Sigmoid(x) and an unused initializer 'unused'.
 */
export function ifModel(): ModelProto {
  const b = new GraphBuilder('if_model');
  const x = b.input('x', 'float32', [3]);
  b.input('cond', 'bool', []);
  b.input('cond2', 'bool', []);
  b.initializer('w', [3], W);
  b.initializer('unused', [3], [1, 2, 3]);
  b.node('Relu', [x], [], { name: 'relu', output: 'h' });
  b.node('Neg', [x], [], { name: 'neg', output: 'k' });
  b.node('Sigmoid', [x], [], { name: 'dead', output: 'dead_out' });

  const thenB = b.subgraph('then');
  thenB.node('Add', ['h', 'w'], [], { name: 'then_add', output: 'then_y' });
  thenB.output('then_y', 'float32', [3]);

  const innerThen = b.subgraph('inner_then');
  innerThen.node('Mul', ['h', 'k'], [], { name: 'inner_mul', output: 'inner_then_y' });
  innerThen.output('inner_then_y', 'float32', [3]);
  const innerElse = b.subgraph('inner_else');
  innerElse.node('Sub', ['h', 'k'], [], { name: 'inner_sub', output: 'inner_else_y' });
  innerElse.output('inner_else_y', 'float32', [3]);

  const elseB = b.subgraph('else');
  elseB.node('If', ['cond2'], [attr.graph('then_branch', innerThen.buildGraph()), attr.graph('else_branch', innerElse.buildGraph())], {
    name: 'inner_if',
    output: 'else_y',
  });
  elseB.output('else_y', 'float32', [3]);

  b.node('If', ['cond'], [attr.graph('then_branch', thenB.buildGraph()), attr.graph('else_branch', elseB.buildGraph())], { name: 'outer_if', output: 'y' });
  b.output('y', 'float32', [3]);
  return b.build();
}

/** What ifModel computes. */
export function ifExpected(x: number[], cond: boolean, cond2: boolean): number[] {
  const h = x.map((v) => Math.max(v, 0));
  const k = x.map((v) => -v);
  if (cond) return h.map((v, i) => v + W[i]);
  return cond2 ? h.map((v, i) => v * k[i]) : h.map((v, i) => v - k[i]);
}

/**
 * x [3] → y [3] = x + 3·Relu(x): a Loop of 3 iterations adding `step` = Relu(x), which only the
 * body reads. Plus a dead Exp(x).
 */
export function loopModel(): ModelProto {
  const b = new GraphBuilder('loop_model');
  const x = b.input('x', 'float32', [3]);
  b.initializer('trips', [], [3n], DataType.INT64);
  b.node('Relu', [x], [], { name: 'step', output: 'step' });
  b.node('Exp', [x], [], { name: 'dead', output: 'dead_out' });
  const body = b.subgraph('body');
  body.input('i', 'int64', []);
  body.input('c', 'bool', []);
  body.input('acc', 'float32', [3]);
  body.node('Identity', ['c'], [], { name: 'keep_going', output: 'c_out' });
  body.node('Add', ['acc', 'step'], [], { name: 'accumulate', output: 'acc_out' });
  body.output('c_out', 'bool', []);
  body.output('acc_out', 'float32', [3]);
  b.node('Loop', ['trips', '', x], [attr.graph('body', body.buildGraph())], { name: 'loop', output: 'y' });
  b.output('y', 'float32', [3]);
  return b.build();
}
