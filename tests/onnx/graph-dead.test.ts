/** removeDeadNodes: what does not reach a graph output goes, with the initializers only it read. */
import { describe, expect, it } from 'vitest';
import { buildMlp } from '../../src/onnx/builder.js';
import { DataType } from '../../src/onnx/dtypes.js';
import { Graph } from '../../src/onnx/graph.js';
import { makeNode, makeValueInfo } from '../../src/onnx/nodes.js';
import { makeTensor } from '../../src/onnx/tensor.js';
import { randomFeed, runModel } from './helpers.js';

const feed = { input: randomFeed([3, 16], 5) };

/** The MLP plus a dead branch: Sigmoid(input) → Mul(·, dead_scale) → dead_out. */
function withDeadBranch(): Graph {
  const g = Graph.fromModel(buildMlp({ seed: 2 }));
  g.addInitializer(makeTensor('dead_scale', DataType.FLOAT, [1], [3]));
  g.addNode(makeNode('Sigmoid', ['input'], ['dead_sig'], [], { name: 'dead_sigmoid' }));
  g.addNode(makeNode('Mul', ['dead_sig', 'dead_scale'], ['dead_out'], [], { name: 'dead_mul' }));
  g.setValueInfo(makeValueInfo('dead_sig', DataType.FLOAT, ['N', 16]));
  return g;
}

describe('removeDeadNodes', () => {
  it('removes the dead branch and its initializer, and reports the counts', async () => {
    const g = withDeadBranch();
    const expected = await runModel(buildMlp({ seed: 2 }), feed);
    expect(g.removeDeadNodes()).toEqual({ nodes: 2, initializers: 1 });
    expect(g.nodes.map((n) => n.name)).toEqual(['fc0', 'relu0', 'fc1']);
    expect(g.initializers.has('dead_scale')).toBe(false);
    expect(g.producer('dead_sig')).toBeUndefined();
    expect(g.consumers('input').map((n) => n.name)).toEqual(['fc0']);
    const m = g.toModel();
    expect(m.graph!.valueInfo.map((v) => v.name)).not.toContain('dead_sig');
    const got = await runModel(m, feed);
    expect(Array.from(got.output.data)).toEqual(Array.from(expected.output.data));
  });

  it('a second call finds nothing', () => {
    const g = withDeadBranch();
    g.removeDeadNodes();
    expect(g.removeDeadNodes()).toEqual({ nodes: 0, initializers: 0 });
  });

  it('keeps a node whose output is also a graph output, and initializers that are graph inputs', () => {
    const g = withDeadBranch();
    g.outputs.push(makeValueInfo('dead_sig', DataType.FLOAT, ['N', 16]));
    g.addInitializer(makeTensor('default_in', DataType.FLOAT, [1], [0]));
    g.inputs.push(makeValueInfo('default_in', DataType.FLOAT, [1]));
    expect(g.removeDeadNodes()).toEqual({ nodes: 1, initializers: 1 }); // dead_mul and dead_scale
    expect(g.nodes.map((n) => n.name)).toContain('dead_sigmoid');
    expect(g.initializers.has('default_in')).toBe(true);
  });

  it('keeps a node with several outputs when one of them is used', () => {
    const g = Graph.fromModel(buildMlp({ seed: 2 }));
    g.addNode(makeNode('Split', ['output'], ['half_a', 'half_b'], [], { name: 'split' }));
    g.addNode(makeNode('Neg', ['half_b'], ['neg_b'], [], { name: 'neg' }));
    g.outputs.push(makeValueInfo('neg_b', DataType.FLOAT));
    expect(g.removeDeadNodes()).toEqual({ nodes: 0, initializers: 0 });
    g.outputs.pop();
    expect(g.removeDeadNodes()).toEqual({ nodes: 2, initializers: 0 });
  });
});
