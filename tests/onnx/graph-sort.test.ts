/** topologicalSort: producer-before-consumer order, stability, and cycles reported by node. */
import { describe, expect, it } from 'vitest';
import { buildCnn, GraphBuilder } from '../../src/onnx/builder.js';
import { Graph } from '../../src/onnx/graph.js';
import { makeNode } from '../../src/onnx/nodes.js';
import type { NodeProto } from '../../src/onnx/proto-types.js';
import { expectKilnError, randomFeed, runModel } from './helpers.js';

/** Every input produced by a node is produced by an earlier node. */
function isTopological(nodes: readonly NodeProto[]): boolean {
  const seen = new Set<string>();
  const producedSomewhere = new Set(nodes.flatMap((n) => n.output));
  for (const n of nodes) {
    for (const i of n.input) if (producedSomewhere.has(i) && !seen.has(i)) return false;
    for (const o of n.output) seen.add(o);
  }
  return true;
}

/** A permutation of 0..n-1 from a seed (Fisher–Yates with an LCG). */
function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('topologicalSort', () => {
  it('keeps an already sorted graph exactly as it is', () => {
    const m = buildCnn({ residual: true });
    const original = [...m.graph!.node];
    expect(Graph.fromModel(m).topologicalSort()).toEqual(original);
  });

  it('orders shuffled nodes, and the model computes what the original did', async () => {
    const original = buildCnn({ residual: true, depthwise: true, seed: 5 });
    const feed = { input: randomFeed([1, 3, 32, 32]) };
    const expected = await runModel(original, feed);
    const shuffled = buildCnn({ residual: true, depthwise: true, seed: 5 });
    shuffled.graph!.node = shuffle(shuffled.graph!.node, 42);
    expect(isTopological(shuffled.graph!.node)).toBe(false);
    const m = Graph.fromModel(shuffled).toModel();
    expect(isTopological(m.graph!.node)).toBe(true);
    expect(m.graph!.node).toHaveLength(original.graph!.node.length);
    const got = await runModel(m, feed);
    expect(Array.from(got.output.data)).toEqual(Array.from(expected.output.data));
  });

  it('handles a chain of 20,000 nodes given in reverse (no recursion limit)', () => {
    const b = new GraphBuilder('chain');
    let x = b.input('x', 'float32', [1]);
    for (let i = 0; i < 20000; i++) x = b.node('Neg', [x]);
    b.output(x, 'float32', [1]);
    const m = b.build();
    m.graph!.node.reverse();
    const sorted = Graph.fromModel(m).topologicalSort();
    expect(isTopological(sorted)).toBe(true);
    expect(sorted[0].input[0]).toBe('x');
  });

  it('a two-node cycle is BAD_GRAPH naming both nodes', async () => {
    const b = new GraphBuilder('cycle');
    const x = b.input('x', 'float32', [1]);
    b.node('Add', [x, 'b_out'], [], { name: 'a', output: 'a_out' });
    b.node('Relu', ['a_out'], [], { name: 'b', output: 'b_out' });
    b.output('b_out', 'float32', [1]);
    const g = Graph.fromModel(b.build());
    const err = await expectKilnError(() => g.topologicalSort(), 'BAD_GRAPH', 'cycle', "'a' (Add)", "'b' (Relu)");
    expect(err.message).not.toContain('(Neg)');
  });

  it('a longer cycle lists exactly its nodes, not the ones leading into it', async () => {
    const g = Graph.fromModel(new GraphBuilder('empty').build());
    g.inputs.push({ name: 'x', docString: '', metadataProps: [] });
    g.addNode(makeNode('Neg', ['x'], ['lead'], [], { name: 'lead' }));
    g.addNode(makeNode('Add', ['lead', 'r3'], ['r1'], [], { name: 'r1' }));
    g.addNode(makeNode('Relu', ['r1'], ['r2'], [], { name: 'r2' }));
    g.addNode(makeNode('Sigmoid', ['r2'], ['r3'], [], { name: 'r3' }));
    const err = await expectKilnError(() => g.topologicalSort(), 'BAD_GRAPH', "'r1' (Add)", "'r2' (Relu)", "'r3' (Sigmoid)");
    expect(err.message).not.toContain("'lead'");
  });

  it('a node reading its own output is a cycle', async () => {
    const g = Graph.fromModel(new GraphBuilder('self').build());
    g.addNode(makeNode('Add', ['x', 'loop'], ['loop'], [], { name: 'selfish' }));
    await expectKilnError(() => g.toModel(), 'BAD_GRAPH', "'selfish' (Add) → 'selfish' (Add)");
  });
});
