/** Graph reading and editing: producer/consumers, node and initializer edits, names, opsets. */
import { describe, expect, it } from 'vitest';
import { KilnError } from '../../src/errors.js';
import { buildMlp, GraphBuilder } from '../../src/onnx/builder.js';
import { DataType } from '../../src/onnx/dtypes.js';
import { Graph } from '../../src/onnx/graph.js';
import { attr, makeNode } from '../../src/onnx/nodes.js';
import { makeTensor, tensorData } from '../../src/onnx/tensor.js';
import { expectKilnError, randomFeed, runModel } from './helpers.js';
import { ifModel } from './graph-fixtures.js';

/** buildMlp: input → fc0 (Gemm) → relu0 → fc1 (Gemm) → output */
const mlp = () => Graph.fromModel(buildMlp({ inputSize: 4, hidden: [6], outputs: 3, seed: 7 }));
const node = (g: Graph, name: string) => g.nodes.find((n) => n.name === name)!;
const hidden = (g: Graph) => node(g, 'relu0').output[0];
const feed = { input: randomFeed([5, 4], 99) };

describe('fromModel', () => {
  it('takes the model as it is: same node and tensor objects, no copies', () => {
    const m = buildMlp({ seed: 1 });
    const g = Graph.fromModel(m);
    expect(g.nodes[0]).toBe(m.graph!.node[0]);
    expect(g.initializers.get('fc0.weight')).toBe(m.graph!.initializer[0]);
    expect(g.inputs).toBe(m.graph!.input);
  });

  it('refuses a model with no graph, or with a tensor produced twice', async () => {
    const m = buildMlp();
    await expectKilnError(() => Graph.fromModel({ ...m, graph: undefined }), 'BAD_GRAPH', 'no graph');
    m.graph!.node[2].output[0] = m.graph!.node[0].output[0];
    await expectKilnError(() => Graph.fromModel(m), 'BAD_GRAPH', `'${m.graph!.node[0].output[0]}'`, "'fc1' (Gemm)", "'fc0' (Gemm) already produces");
  });
});

describe('producer and consumers', () => {
  it('follow the edges', () => {
    const g = mlp();
    expect(g.producer('output')).toBe(node(g, 'fc1'));
    expect(g.producer(hidden(g))).toBe(node(g, 'relu0'));
    expect(g.producer('input')).toBeUndefined();
    expect(g.producer('fc0.weight')).toBeUndefined();
    expect(g.consumers('input')).toEqual([node(g, 'fc0')]);
    expect(g.consumers(hidden(g))).toEqual([node(g, 'fc1')]);
    expect(g.consumers('output')).toEqual([]);
    expect(g.consumers('nothing')).toEqual([]);
  });

  it('list a node once even when it reads the tensor twice', () => {
    const g = mlp();
    const square = g.addNode(makeNode('Mul', ['output', 'output'], ['sq'], [], { name: 'square' }));
    expect(g.consumers('output')).toEqual([square]);
  });

  it('return a fresh array that later edits do not change', () => {
    const g = mlp();
    const before = g.consumers('input');
    g.addNode(makeNode('Neg', ['input'], ['neg']));
    expect(before).toHaveLength(1);
    expect(g.consumers('input')).toHaveLength(2);
  });
});

describe('addNode / removeNode / replaceNode', () => {
  it('addNode indexes the new node at once', () => {
    const g = mlp();
    const n = g.addNode(makeNode('Sigmoid', ['output'], ['probs'], [], { name: 'sig' }));
    expect(g.producer('probs')).toBe(n);
    expect(g.consumers('output')).toEqual([n]);
    expect(g.nodes.at(-1)).toBe(n);
  });

  it('addNode refuses a second producer of a tensor, an initializer or a graph input, and changes nothing', async () => {
    const g = mlp();
    const count = g.nodes.length;
    await expectKilnError(
      () => g.addNode(makeNode('Neg', ['input'], ['output'], [], { name: 'again' })),
      'BAD_GRAPH',
      "'again' (Neg)",
      "'output'",
      "'fc1' (Gemm) already produces",
    );
    await expectKilnError(() => g.addNode(makeNode('Neg', ['input'], ['fc0.bias'])), 'BAD_GRAPH', 'initializer');
    await expectKilnError(() => g.addNode(makeNode('Neg', ['output'], ['input'])), 'BAD_GRAPH', 'graph input');
    await expectKilnError(() => g.addNode(makeNode('Split', ['output'], ['a', 'a'])), 'BAD_GRAPH', 'same node');
    expect(g.nodes.length).toBe(count);
    expect(g.producer('output')).toBe(node(g, 'fc1'));
  });

  it('removeNode leaves the outputs without a producer and the inputs without that consumer', () => {
    const g = mlp();
    const relu = node(g, 'relu0');
    const h = hidden(g);
    g.removeNode(relu);
    expect(g.nodes).not.toContain(relu);
    expect(g.producer(h)).toBeUndefined();
    expect(g.consumers(node(g, 'fc0').output[0])).toEqual([]);
    expect(() => g.removeNode(relu)).toThrow(RangeError);
  });

  it('replaceNode swaps a Gemm for MatMul + Add in place, and the model computes the same', async () => {
    const g = mlp();
    const before = await runModel(g.toModel(), feed);
    const fc1 = node(g, 'fc1');
    // Gemm(transB=1) = input · Wᵀ + b; store Wᵀ as a new initializer.
    const w = g.initializers.get('fc1.weight')!;
    const [rows, cols] = w.dims;
    const data = tensorData(w) as Float32Array;
    const wt = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) wt[c * rows + r] = data[r * cols + c];
    const wtName = g.uniqueName('fc1.weight_t');
    g.addInitializer(makeTensor(wtName, DataType.FLOAT, [cols, rows], wt));
    const mm = g.uniqueName('fc1_mm');
    const matmul = makeNode('MatMul', [fc1.input[0], wtName], [mm], [], { name: 'fc1_matmul' });
    const add = makeNode('Add', [mm, 'fc1.bias'], ['output'], [], { name: 'fc1_add' });
    const at = g.nodes.indexOf(fc1);
    g.replaceNode(fc1, [matmul, add]);
    expect(g.nodes.slice(at, at + 2)).toEqual([matmul, add]);
    expect(g.producer('output')).toBe(add);
    expect(g.consumers(hidden(g))).toEqual([matmul]);
    expect(g.removeDeadNodes()).toEqual({ nodes: 0, initializers: 1 }); // the old fc1.weight
    const after = await runModel(g.toModel(), feed);
    expect(after.output.dims).toEqual(before.output.dims);
    after.output.data.forEach((v, i) => expect(v).toBeCloseTo(before.output.data[i], 5));
  });

  it('replaceNode that would produce a tensor twice leaves the graph as it was', async () => {
    const g = mlp();
    const relu = node(g, 'relu0');
    const nodes = [...g.nodes];
    await expectKilnError(() => g.replaceNode(relu, [makeNode('Relu', [relu.input[0]], ['output'])]), 'BAD_GRAPH', "'output'");
    expect(g.nodes).toEqual(nodes);
    expect(g.producer(hidden(g))).toBe(relu);
    expect(g.producer('output')).toBe(node(g, 'fc1'));
  });
});

describe('replaceAllUses', () => {
  it('redirects every reader; a node added afterwards can read the old name (insert-after)', async () => {
    const g = mlp();
    const before = await runModel(g.toModel(), feed);
    const h = hidden(g);
    const scaled = g.uniqueName('hidden_scaled');
    expect(g.replaceAllUses(h, scaled)).toBe(1);
    g.addInitializer(makeTensor('two', DataType.FLOAT, [], [2]));
    const mul = g.addNode(makeNode('Mul', [h, 'two'], [scaled]));
    expect(g.consumers(h)).toEqual([mul]);
    expect(g.consumers(scaled)).toEqual([node(g, 'fc1')]);
    // fc1(2h) - b = 2 (fc1(h) - b)
    const bias = tensorData(g.initializers.get('fc1.bias')!) as Float32Array;
    const after = await runModel(g.toModel(), feed);
    after.output.data.forEach((v, i) => expect(v - bias[i % 3]).toBeCloseTo(2 * (before.output.data[i] - bias[i % 3]), 4));
  });

  it('renames a graph output, keeping its type (dropping a trailing node)', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [2]);
    const t = b.node('Neg', [x], [], { output: 't' });
    b.node('Identity', [t], [], { name: 'tail', output: 'y' });
    b.output('y', 'float32', [2]);
    const g = Graph.fromModel(b.build());
    g.removeNode(node(g, 'tail'));
    expect(g.replaceAllUses('y', 't')).toBe(1);
    expect(g.outputs.map((o) => o.name)).toEqual(['t']);
    expect(g.outputs[0].type!.tensorType!.elemType).toBe(DataType.FLOAT);
    const out = await runModel(g.toModel(), { x: { data: Float32Array.from([1, -2]), dims: [2] } });
    expect(Object.keys(out)).toEqual(['t']);
    expect(Array.from(out.t.data)).toEqual([-1, 2]);
  });

  it('returns 0 for a name nothing reads', () => {
    expect(mlp().replaceAllUses('nothing', 'else')).toBe(0);
  });
});

describe('initializers and constants', () => {
  it('addInitializer refuses a taken name unless asked to replace; removeInitializer returns the tensor', async () => {
    const g = mlp();
    const t = makeTensor('fc0.bias', DataType.FLOAT, [6], new Float32Array(6));
    await expectKilnError(() => g.addInitializer(t), 'BAD_GRAPH', "'fc0.bias' already exists");
    g.addInitializer(t, { replace: true });
    expect(g.initializers.get('fc0.bias')).toBe(t);
    await expectKilnError(() => g.addInitializer(makeTensor('output', DataType.FLOAT, [1], [0])), 'BAD_GRAPH', "'fc1' (Gemm)");
    expect(g.removeInitializer('fc0.bias')).toBe(t);
    expect(g.initializers.has('fc0.bias')).toBe(false);
    expect(g.removeInitializer('fc0.bias')).toBeUndefined();
  });

  it('isConstant: initializers (not also inputs) and Constant outputs', () => {
    const g = mlp();
    g.addNode(makeNode('Constant', [], ['c'], [attr.tensor('value', makeTensor('', DataType.FLOAT, [1], [1]))]));
    g.addInitializer(makeTensor('overridable', DataType.FLOAT, [1], [1]));
    g.inputs.push({ ...g.inputs[0], name: 'overridable' });
    expect(g.isConstant('fc0.weight')).toBe(true);
    expect(g.isConstant('c')).toBe(true);
    expect(g.isConstant('overridable')).toBe(false);
    expect(g.isConstant('input')).toBe(false);
    expect(g.isConstant(hidden(g))).toBe(false);
    expect(g.isConstant('nothing')).toBe(false);
  });
});

describe('uniqueName', () => {
  it('gives the prefix when free, a numbered name when taken, and never the same name twice', () => {
    const g = mlp();
    expect(g.uniqueName('fresh')).toBe('fresh');
    expect(g.uniqueName('fresh')).toBe('fresh_1');
    expect(g.uniqueName('fresh')).toBe('fresh_2');
    expect(g.uniqueName('fc0.weight')).toBe('fc0.weight_1');
    expect(g.uniqueName('input')).toBe('input_1');
    expect(g.uniqueName('fc1')).toBe('fc1_1'); // a node name
  });

  it('avoids names used only inside sub-graphs, and names added later', () => {
    const g = Graph.fromModel(ifModel());
    expect(g.uniqueName('inner_then_y')).toBe('inner_then_y_1');
    expect(g.uniqueName('then_add')).toBe('then_add_1');
    g.addNode(makeNode('Neg', ['x'], ['later']));
    expect(g.uniqueName('later')).toBe('later_1');
    g.outputs.push({ ...g.outputs[0], name: 'pushed' });
    expect(g.uniqueName('pushed')).toBe('pushed_1');
  });
});

describe('opsets', () => {
  it("reads and sets versions; '' and 'ai.onnx' are one domain", () => {
    const g = mlp();
    expect(g.opsetVersion()).toBe(17);
    expect(g.opsetVersion('ai.onnx')).toBe(17);
    expect(g.opsetVersion('com.microsoft')).toBeUndefined();
    g.setOpset('ai.onnx', 18);
    g.setOpset('com.microsoft', 1);
    expect(g.opsetVersion('')).toBe(18);
    const m = g.toModel();
    expect(m.opsetImport).toEqual([
      { domain: '', version: 18 },
      { domain: 'com.microsoft', version: 1 },
    ]);
    expect(() => g.setOpset('', 0)).toThrow(RangeError);
  });
});

describe('invalidate', () => {
  it('picks up a node edited in place', () => {
    const g = mlp();
    const fc1 = node(g, 'fc1');
    fc1.input[0] = 'input';
    g.invalidate();
    expect(g.consumers('input')).toEqual([node(g, 'fc0'), fc1]);
    expect(g.consumers(hidden(g))).toEqual([]);
  });
});

it('errors are KilnErrors with exit code 2', async () => {
  const g = mlp();
  const err = await expectKilnError(() => g.addNode(makeNode('Neg', ['input'], ['output'])), 'BAD_GRAPH');
  expect(err).toBeInstanceOf(KilnError);
  expect(err.exitCode).toBe(2);
});
