/** Sub-graphs (If branches, Loop bodies) read outer tensors; the Graph counts those reads as uses. */
import { describe, expect, it } from 'vitest';
import { Graph, outerScopeNames } from '../../src/onnx/graph.js';
import { attr, attrGraph, makeNode } from '../../src/onnx/nodes.js';
import { makeTensor } from '../../src/onnx/tensor.js';
import { DataType } from '../../src/onnx/dtypes.js';
import type { ModelProto } from '../../src/onnx/proto-types.js';
import { ifExpected, ifModel, loopModel } from './graph-fixtures.js';
import { runModel } from './helpers.js';

const X = [-1, 2, -3];

async function runIf(model: ModelProto, cond: boolean, cond2: boolean): Promise<number[]> {
  const out = await runModel(model, {
    x: { data: Float32Array.from(X), dims: [3] },
    cond: { type: 'bool', data: [cond], dims: [] },
    cond2: { type: 'bool', data: [cond2], dims: [] },
  });
  return Array.from(out.y.data);
}

const byName = (g: Graph, name: string) => g.nodes.find((n) => n.name === name)!;

describe('outer-scope reads', () => {
  it('outerScopeNames lists what a branch reads from outside, nested branches included', () => {
    const g = Graph.fromModel(ifModel());
    const outerIf = byName(g, 'outer_if');
    expect(outerScopeNames(attrGraph(outerIf, 'then_branch')!)).toEqual(['h', 'w']);
    expect(outerScopeNames(attrGraph(outerIf, 'else_branch')!)).toEqual(['cond2', 'h', 'k']);
    expect([...g.implicitInputs(outerIf)].sort()).toEqual(['cond2', 'h', 'k', 'w']);
  });

  it('consumers count a read two sub-graphs deep, though no node lists the tensor as an input', () => {
    const g = Graph.fromModel(ifModel());
    expect(g.nodes.filter((n) => n.input.includes('k'))).toEqual([]);
    expect(g.consumers('k').map((n) => n.name)).toEqual(['outer_if']);
    expect(g.consumers('h').map((n) => n.name)).toEqual(['outer_if']);
    expect(g.consumers('w').map((n) => n.name)).toEqual(['outer_if']);
    expect(g.consumers('cond').map((n) => n.name)).toEqual(['outer_if']);
    expect(g.consumers('dead_out')).toEqual([]);
  });

  it('a name a sub-graph defines itself is not an outer read', () => {
    const g = Graph.fromModel(loopModel());
    const loop = byName(g, 'loop');
    expect(outerScopeNames(attrGraph(loop, 'body')!)).toEqual(['step']);
    expect(g.consumers('acc')).toEqual([]);
    expect(g.consumers('step').map((n) => n.name)).toEqual(['loop']);
  });
});

describe('removeDeadNodes keeps what sub-graphs need', () => {
  it('If: removes only the dead Sigmoid and the unused initializer; the model still runs right', async () => {
    const g = Graph.fromModel(ifModel());
    expect(g.removeDeadNodes()).toEqual({ nodes: 1, initializers: 1 });
    expect(g.nodes.map((n) => n.name)).toEqual(['relu', 'neg', 'outer_if']);
    expect([...g.initializers.keys()]).toEqual(['w']);
    const m = g.toModel();
    for (const [c, c2] of [
      [true, false],
      [false, true],
      [false, false],
    ] as const) {
      const got = await runIf(m, c, c2);
      expect(got).toEqual(ifExpected(X, c, c2));
    }
  });

  it('Loop: keeps the producer only the body reads', async () => {
    const g = Graph.fromModel(loopModel());
    expect(g.removeDeadNodes()).toEqual({ nodes: 1, initializers: 0 });
    expect(g.nodes.map((n) => n.name)).toEqual(['step', 'loop']);
    const out = await runModel(g.toModel(), { x: { data: Float32Array.from(X), dims: [3] } });
    expect(Array.from(out.y.data)).toEqual(X.map((v) => v + 3 * Math.max(v, 0)));
  });
});

describe('edits that reach into sub-graphs', () => {
  it('replaceAllUses renames the reads inside nested branches', async () => {
    const g = Graph.fromModel(ifModel());
    // Insert h2 = h * 2 between Relu and everything that reads h.
    expect(g.replaceAllUses('h', 'h2')).toBe(3); // then_add, inner_mul, inner_sub
    g.addInitializer(makeTensor('two', DataType.FLOAT, [], [2]));
    g.addNode(makeNode('Mul', ['h', 'two'], ['h2'], [], { name: 'double' }));
    expect(g.consumers('h').map((n) => n.name)).toEqual(['double']);
    expect(g.consumers('h2').map((n) => n.name)).toEqual(['outer_if']);
    const m = g.toModel();
    const h2 = X.map((v) => 2 * Math.max(v, 0));
    expect(await runIf(m, true, false)).toEqual(h2.map((v, i) => v + [10, 20, 30][i]));
    expect(await runIf(m, false, true)).toEqual(h2.map((v, i) => v * -X[i]));
  });

  it('replaceAllUses leaves a sub-graph alone where it defines the name itself', () => {
    const g = Graph.fromModel(loopModel());
    // 'acc' is a body input: a rename of an outer 'acc' must not touch it.
    expect(g.replaceAllUses('acc', 'other')).toBe(0);
    expect(attrGraph(byName(g, 'loop'), 'body')!.node[1].input).toEqual(['acc', 'step']);
  });

  it('topologicalSort puts an If after the producers its branches read', async () => {
    const m = ifModel();
    m.graph!.node.reverse(); // outer_if, dead, neg, relu
    const g = Graph.fromModel(m);
    const order = g.topologicalSort().map((n) => n.name);
    expect(order.indexOf('outer_if')).toBeGreaterThan(order.indexOf('relu'));
    expect(order.indexOf('outer_if')).toBeGreaterThan(order.indexOf('neg'));
    expect(await runIf(g.toModel(), false, false)).toEqual(ifExpected(X, false, false));
  });

  it('a cycle through a branch read is found', () => {
    const g = Graph.fromModel(ifModel());
    // relu now reads the If's output, which (through its branches) reads relu's output h.
    const relu = byName(g, 'relu');
    relu.input[0] = 'y';
    g.invalidate();
    expect(() => g.topologicalSort()).toThrow(/cycle: .*'outer_if' \(If\).*'relu' \(Relu\)|cycle: .*'relu' \(Relu\).*'outer_if' \(If\)/);
  });

  it('a node added with a sub-graph registers its outer reads', () => {
    const g = Graph.fromModel(loopModel());
    const body = attrGraph(byName(g, 'loop'), 'body')!;
    const second = makeNode('Loop', ['trips', '', 'x'], ['y2'], [attr.graph('body', body)], { name: 'loop2' });
    g.addNode(second);
    expect(g.consumers('step').map((n) => n.name)).toEqual(['loop', 'loop2']);
    g.removeNode(second);
    expect(g.consumers('step').map((n) => n.name)).toEqual(['loop']);
  });
});
