/**
 * A mutable, indexed view of an ONNX graph for compiler passes.
 *
 * `Graph.fromModel(model)` takes ownership of the model: nodes, tensors and value infos are used as
 * they are (tensor bytes are never copied), and edits go through the Graph's methods so that its
 * producer/consumer index stays right. `toModel()` writes the graph back, nodes in topological order.
 *
 * Sub-graphs (If branches, Loop and Scan bodies) may read tensors of the enclosing graph by name.
 * Those reads count as uses of the node that holds the sub-graph ("implicit inputs"): `consumers`,
 * `removeDeadNodes`, `topologicalSort` and `replaceAllUses` all see them.
 */
import { KilnError } from '../errors.js';
import type { GraphProto, ModelProto, NodeProto, OperatorSetId, TensorProto, ValueInfoProto } from './proto-types.js';
import { nodeLabel, subgraphsOf } from './nodes.js';

/** Names a sub-graph defines itself: its inputs, initializers and node outputs. */
function definedIn(graph: GraphProto): Set<string> {
  const defined = new Set<string>();
  for (const vi of graph.input) defined.add(vi.name);
  for (const t of graph.initializer) defined.add(t.name);
  for (const s of graph.sparseInitializer) if (s.values) defined.add(s.values.name);
  for (const n of graph.node) for (const o of n.output) if (o) defined.add(o);
  return defined;
}

/**
 * Names a sub-graph reads from enclosing scopes: used inside it (by its nodes, its nested sub-graphs,
 * or directly as one of its outputs) but not defined inside it. In first-use order, without repeats.
 */
export function outerScopeNames(graph: GraphProto): string[] {
  const defined = definedIn(graph);
  const free = new Set<string>();
  const use = (name: string): void => {
    if (name && !defined.has(name)) free.add(name);
  };
  for (const n of graph.node) {
    for (const i of n.input) use(i);
    for (const g of subgraphsOf(n)) for (const name of outerScopeNames(g)) use(name);
  }
  for (const vi of graph.output) use(vi.name);
  return [...free];
}

/** Rename outer-scope reads of `from` inside a sub-graph (unless the sub-graph defines `from` itself). */
function renameOuterUses(graph: GraphProto, from: string, to: string): number {
  if (definedIn(graph).has(from)) return 0;
  let count = 0;
  for (const n of graph.node) {
    for (let i = 0; i < n.input.length; i++) {
      if (n.input[i] === from) {
        n.input[i] = to;
        count++;
      }
    }
    for (const g of subgraphsOf(n)) count += renameOuterUses(g, from, to);
  }
  for (const vi of graph.output) {
    if (vi.name === from) {
      vi.name = to;
      count++;
    }
  }
  return count;
}

/** Every name a graph mentions, sub-graphs included (for uniqueName). */
function collectNames(graph: GraphProto, into: Set<string>): void {
  for (const vi of [...graph.input, ...graph.output, ...graph.valueInfo]) into.add(vi.name);
  for (const t of graph.initializer) into.add(t.name);
  for (const s of graph.sparseInitializer) if (s.values) into.add(s.values.name);
  for (const n of graph.node) addNodeNames(n, into);
}

function addNodeNames(node: NodeProto, into: Set<string>): void {
  if (node.name) into.add(node.name);
  for (const name of [...node.input, ...node.output]) if (name) into.add(name);
  for (const g of subgraphsOf(node)) collectNames(g, into);
}

const isDefaultDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';
const sameDomain = (a: string, b: string): boolean => a === b || (isDefaultDomain(a) && isDefaultDomain(b));

interface Index {
  producer: Map<string, NodeProto>;
  consumers: Map<string, NodeProto[]>;
  /** Outer-scope names each node's sub-graphs read. */
  implicit: Map<NodeProto, string[]>;
}

/** What removeDeadNodes removed. */
export interface RemovedCounts {
  nodes: number;
  initializers: number;
}

export interface AddInitializerOptions {
  /** Replace an initializer of the same name instead of failing (default false). */
  replace?: boolean;
}

export class Graph {
  /** Graph inputs, in order. May be edited directly. */
  inputs: ValueInfoProto[];
  /** Graph outputs, in order. May be edited directly. */
  outputs: ValueInfoProto[];

  private readonly model: ModelProto;
  private readonly proto: GraphProto;
  private nodeList: NodeProto[];
  private readonly inits = new Map<string, TensorProto>();
  private readonly infos = new Map<string, ValueInfoProto>();
  private readonly opsets: OperatorSetId[];
  private cache: Index | undefined;
  private nameCache: Set<string> | undefined;
  private readonly nameCounters = new Map<string, number>();

  private constructor(model: ModelProto, proto: GraphProto) {
    this.model = model;
    this.proto = proto;
    this.nodeList = proto.node;
    this.inputs = proto.input;
    this.outputs = proto.output;
    this.opsets = model.opsetImport.map((o) => ({ ...o }));
    for (const t of proto.initializer) {
      if (this.inits.has(t.name)) throw new KilnError('BAD_GRAPH', `initializer '${t.name}' is defined twice`);
      this.inits.set(t.name, t);
    }
    for (const vi of proto.valueInfo) this.infos.set(vi.name, vi);
  }

  /**
   * Wrap a model (no copy). Throws BAD_GRAPH when a tensor is produced twice (two nodes, or a node
   * and an initializer or graph input).
   */
  static fromModel(model: ModelProto): Graph {
    if (!model.graph) throw new KilnError('BAD_GRAPH', 'the model has no graph', { hint: 'load the model with loadModel()' });
    const graph = new Graph(model, model.graph);
    graph.index();
    return graph;
  }

  /**
   * The model with this graph written back: nodes in topological order, initializers, inputs,
   * outputs, value_info and quantization annotations of tensors that still exist, opset imports,
   * and every other model and graph field as it came. Nodes and tensors are shared, not copied.
   */
  toModel(): ModelProto {
    const nodes = [...this.topologicalSort()];
    const ix = this.index();
    const inputNames = new Set(this.inputs.map((vi) => vi.name));
    const exists = (name: string): boolean => ix.producer.has(name) || this.inits.has(name) || inputNames.has(name);
    const graph: GraphProto = {
      ...this.proto,
      node: nodes,
      initializer: [...this.inits.values()],
      input: [...this.inputs],
      output: [...this.outputs],
      valueInfo: [...this.infos.values()].filter((vi) => exists(vi.name)),
      quantizationAnnotation: this.proto.quantizationAnnotation.filter((q) => exists(q.tensorName)),
    };
    return { ...this.model, opsetImport: this.opsets.map((o) => ({ ...o })), graph };
  }

  // ---- reading -----------------------------------------------------------------------------------

  /** The nodes, in their current order (topological after topologicalSort()). Copy before editing in a loop. */
  get nodes(): readonly NodeProto[] {
    return this.nodeList;
  }

  /** Initializers by name. Change them with addInitializer / removeInitializer. */
  get initializers(): ReadonlyMap<string, TensorProto> {
    return this.inits;
  }

  /** The node writing `name`, or undefined for graph inputs, initializers and unknown names. */
  producer(name: string): NodeProto | undefined {
    return this.index().producer.get(name);
  }

  /**
   * The nodes reading `name`, each once: directly as an input, or from inside one of their
   * sub-graphs. Graph outputs are not nodes; check `outputs` for those. A fresh array, safe to keep
   * while editing.
   */
  consumers(name: string): NodeProto[] {
    return [...(this.index().consumers.get(name) ?? [])];
  }

  /** Outer-scope names that a node's sub-graphs read (empty for nodes without sub-graphs). */
  implicitInputs(node: NodeProto): readonly string[] {
    return this.index().implicit.get(node) ?? [];
  }

  /** Type information for a tensor: graph input, graph output or value_info entry. */
  valueInfo(name: string): ValueInfoProto | undefined {
    return this.inputs.find((vi) => vi.name === name) ?? this.outputs.find((vi) => vi.name === name) ?? this.infos.get(name);
  }

  /** True for an initializer that is not also a graph input (which a caller could override), and for a Constant node's output. */
  isConstant(name: string): boolean {
    if (this.inits.has(name)) return !this.inputs.some((vi) => vi.name === name);
    const p = this.producer(name);
    return p !== undefined && p.opType === 'Constant' && isDefaultDomain(p.domain);
  }

  /** The imported version of an operator set ('' and 'ai.onnx' are the same domain), or undefined. */
  opsetVersion(domain = ''): number | undefined {
    return this.opsets.find((o) => sameDomain(o.domain, domain))?.version;
  }

  // ---- editing -----------------------------------------------------------------------------------

  /**
   * Call after changing a node's inputs, outputs or sub-graphs in place (the methods below keep the
   * index right by themselves).
   */
  invalidate(): void {
    this.cache = undefined;
  }

  /** Append a node. Throws BAD_GRAPH if one of its outputs is already produced. */
  addNode(node: NodeProto): NodeProto {
    const ix = this.index();
    this.checkOutputs(node, ix);
    this.indexAdd(ix, node);
    this.nodeList.push(node);
    if (this.nameCache) addNodeNames(node, this.nameCache);
    return node;
  }

  /** Remove a node (its outputs then have no producer). */
  removeNode(node: NodeProto): void {
    const at = this.position(node);
    this.indexRemove(this.index(), node);
    this.nodeList.splice(at, 1);
  }

  /**
   * Put `replacements` where `old` was. They may produce `old`'s outputs. On error (BAD_GRAPH for a
   * tensor produced twice) the graph is left as it was.
   */
  replaceNode(old: NodeProto, replacements: readonly NodeProto[]): void {
    const at = this.position(old);
    const ix = this.index();
    this.indexRemove(ix, old);
    try {
      for (const r of replacements) {
        this.checkOutputs(r, ix);
        this.indexAdd(ix, r);
      }
    } catch (err) {
      this.cache = undefined;
      throw err;
    }
    this.nodeList.splice(at, 1, ...replacements);
    if (this.nameCache) for (const r of replacements) addNodeNames(r, this.nameCache);
  }

  /**
   * Make every reader of `oldName` read `newName` instead: node inputs, outer-scope reads inside
   * sub-graphs, and graph outputs (a graph output named `oldName` is renamed to `newName`, keeping its
   * type). The producer of `oldName` is not changed. To insert a node after a tensor, call this
   * first and add the new node (which reads `oldName`) afterwards. Returns the number of uses changed.
   */
  replaceAllUses(oldName: string, newName: string): number {
    if (!oldName) throw new RangeError('replaceAllUses: the old name is empty');
    if (oldName === newName) return 0;
    let count = 0;
    for (const node of this.nodeList) {
      for (let i = 0; i < node.input.length; i++) {
        if (node.input[i] === oldName) {
          node.input[i] = newName;
          count++;
        }
      }
      for (const g of subgraphsOf(node)) count += renameOuterUses(g, oldName, newName);
    }
    for (const vi of this.outputs) {
      if (vi.name === oldName) {
        vi.name = newName;
        count++;
      }
    }
    this.cache = undefined;
    this.nameCache?.add(newName);
    return count;
  }

  /** Add an initializer. Throws BAD_GRAPH if the name is taken (unless `replace`) or a node produces it. */
  addInitializer(tensor: TensorProto, options: AddInitializerOptions = {}): TensorProto {
    if (!tensor.name) throw new RangeError('addInitializer: the tensor has no name');
    if (this.inits.has(tensor.name) && !options.replace) {
      throw new KilnError('BAD_GRAPH', `initializer '${tensor.name}' already exists`, { hint: 'pick a name with graph.uniqueName(), or pass {replace: true}' });
    }
    const p = this.producer(tensor.name);
    if (p) throw new KilnError('BAD_GRAPH', `initializer '${tensor.name}' would clash with the output of node ${nodeLabel(p)}`);
    this.inits.set(tensor.name, tensor);
    this.nameCache?.add(tensor.name);
    return tensor;
  }

  /** Remove an initializer; returns it, or undefined if there was none. Its readers are not changed. */
  removeInitializer(name: string): TensorProto | undefined {
    const t = this.inits.get(name);
    this.inits.delete(name);
    return t;
  }

  /** Record type information for an intermediate tensor (replacing any earlier entry). */
  setValueInfo(info: ValueInfoProto): void {
    this.infos.set(info.name, info);
    this.nameCache?.add(info.name);
  }

  /**
   * A name no tensor, node or initializer uses yet, in this graph or its sub-graphs: `prefix` itself
   * when free, else `prefix_1`, `prefix_2`, ... The name is reserved, so the next call differs.
   */
  uniqueName(prefix: string): string {
    const names = (this.nameCache ??= this.allNames());
    const taken = (n: string): boolean => names.has(n) || this.inputs.some((vi) => vi.name === n) || this.outputs.some((vi) => vi.name === n);
    let candidate = prefix;
    if (taken(candidate)) {
      let k = this.nameCounters.get(prefix) ?? 0;
      do candidate = `${prefix}_${++k}`;
      while (taken(candidate));
      this.nameCounters.set(prefix, k);
    }
    names.add(candidate);
    return candidate;
  }

  /** Import an operator set, or change the imported version of one. */
  setOpset(domain: string, version: number): void {
    if (!Number.isSafeInteger(version) || version < 1) throw new RangeError(`setOpset('${domain}'): version must be a positive integer, got ${version}`);
    const entry = this.opsets.find((o) => sameDomain(o.domain, domain));
    if (entry) entry.version = version;
    else this.opsets.push({ domain, version });
  }

  /**
   * Order the nodes so that every node comes after the producers of what it reads (sub-graph reads
   * included), keeping the current order where it already fits. Returns the nodes. Throws BAD_GRAPH
   * naming the nodes on a cycle.
   */
  topologicalSort(): readonly NodeProto[] {
    const ix = this.index();
    const order = topologicalOrder(this.nodeList, { producer: (name) => ix.producer.get(name), implicitInputs: (node) => ix.implicit.get(node) ?? [] });
    this.nodeList.splice(0, this.nodeList.length, ...order);
    return this.nodeList;
  }

  /**
   * Remove nodes whose outputs reach no graph output (directly or through other nodes and sub-graph
   * reads), then initializers nothing reads any more (initializers that are graph inputs stay).
   */
  removeDeadNodes(): RemovedCounts {
    const ix = this.index();
    const live = new Set<NodeProto>();
    const used = new Set<string>();
    const stack = this.outputs.map((vi) => vi.name);
    while (stack.length > 0) {
      const name = stack.pop()!;
      if (!name || used.has(name)) continue;
      used.add(name);
      const p = ix.producer.get(name);
      if (p && !live.has(p)) {
        live.add(p);
        stack.push(...p.input, ...(ix.implicit.get(p) ?? []));
      }
    }
    const before = this.nodeList.length;
    this.nodeList = this.nodeList.filter((n) => live.has(n));
    const inputNames = new Set(this.inputs.map((vi) => vi.name));
    let initializers = 0;
    for (const name of [...this.inits.keys()]) {
      if (!used.has(name) && !inputNames.has(name)) {
        this.inits.delete(name);
        initializers++;
      }
    }
    this.cache = undefined;
    return { nodes: before - this.nodeList.length, initializers };
  }

  // ---- index -------------------------------------------------------------------------------------

  private index(): Index {
    if (this.cache) return this.cache;
    const ix: Index = { producer: new Map(), consumers: new Map(), implicit: new Map() };
    for (const node of this.nodeList) {
      this.checkOutputs(node, ix);
      this.indexAdd(ix, node);
    }
    this.cache = ix;
    return ix;
  }

  private checkOutputs(node: NodeProto, ix: Index): void {
    const seen = new Set<string>();
    for (const o of node.output) {
      if (!o) continue;
      const other = ix.producer.get(o);
      const clash = seen.has(o)
        ? 'which the same node also writes'
        : other
          ? `which node ${nodeLabel(other)} already produces`
          : this.inits.has(o)
            ? 'which is an initializer'
            : this.inputs.some((vi) => vi.name === o)
              ? 'which is a graph input'
              : undefined;
      if (clash) {
        throw new KilnError('BAD_GRAPH', `node ${nodeLabel(node)} writes '${o}', ${clash}`, {
          hint: 'every tensor must have exactly one producer; pick new names with graph.uniqueName()',
        });
      }
      seen.add(o);
    }
  }

  private indexAdd(ix: Index, node: NodeProto): void {
    for (const o of node.output) if (o) ix.producer.set(o, node);
    const implicit = new Set<string>();
    for (const g of subgraphsOf(node)) for (const name of outerScopeNames(g)) implicit.add(name);
    ix.implicit.set(node, [...implicit]);
    for (const name of new Set([...node.input, ...implicit])) {
      if (!name) continue;
      const list = ix.consumers.get(name);
      if (list) list.push(node);
      else ix.consumers.set(name, [node]);
    }
  }

  private indexRemove(ix: Index, node: NodeProto): void {
    for (const o of node.output) if (o && ix.producer.get(o) === node) ix.producer.delete(o);
    for (const name of new Set([...node.input, ...(ix.implicit.get(node) ?? [])])) {
      const list = ix.consumers.get(name);
      if (!list) continue;
      const rest = list.filter((n) => n !== node);
      if (rest.length > 0) ix.consumers.set(name, rest);
      else ix.consumers.delete(name);
    }
    ix.implicit.delete(node);
  }

  private position(node: NodeProto): number {
    const at = this.nodeList.indexOf(node);
    if (at < 0) throw new RangeError(`node ${nodeLabel(node)} is not in this graph`);
    return at;
  }

  private allNames(): Set<string> {
    const names = new Set<string>();
    collectNames(
      {
        ...this.proto,
        node: this.nodeList,
        input: this.inputs,
        output: this.outputs,
        initializer: [...this.inits.values()],
        valueInfo: [...this.infos.values()],
      },
      names,
    );
    return names;
  }
}

export interface TopologicalOrderOptions {
  /** The node that writes a name. @default the last node of `nodes` that lists it as an output */
  producer?: (name: string) => NodeProto | undefined;
  /** Names a node reads besides its inputs (its sub-graphs' outer-scope reads). @default none */
  implicitInputs?: (node: NodeProto) => readonly string[];
  /**
   * 'throw': a cycle is a BAD_GRAPH error naming its nodes; 'keep': a read that closes a cycle (which a
   * valid graph never has) is ignored, so every node is still listed once.
   * @default 'throw'
   */
  onCycle?: 'throw' | 'keep';
}

/**
 * kiln's one topological sort (Graph.topologicalSort and static inference use it): the nodes in an
 * order where each comes after the producers of what it reads, keeping the given order where it
 * already fits. Iterative (no deep recursion on long chains). Pure.
 */
export function topologicalOrder(nodes: readonly NodeProto[], options: TopologicalOrderOptions = {}): NodeProto[] {
  let producer = options.producer;
  if (!producer) {
    const byName = new Map<string, NodeProto>();
    for (const n of nodes) for (const o of n.output) if (o) byName.set(o, n);
    producer = (name) => byName.get(name);
  }
  const implicit = options.implicitInputs;
  const deps = (node: NodeProto): NodeProto[] => {
    const out = new Set<NodeProto>();
    for (const name of implicit ? [...node.input, ...implicit(node)] : node.input) {
      const p = name ? producer(name) : undefined;
      if (p) out.add(p);
    }
    return [...out];
  };
  const DONE = 2;
  const OPEN = 1;
  const state = new Map<NodeProto, number>();
  const order: NodeProto[] = [];
  for (const root of nodes) {
    if (state.has(root)) continue;
    const stack: { node: NodeProto; deps: NodeProto[]; next: number }[] = [{ node: root, deps: deps(root), next: 0 }];
    state.set(root, OPEN);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next < top.deps.length) {
        const d = top.deps[top.next++];
        const s = state.get(d);
        if (s === DONE) continue;
        if (s === OPEN) {
          if (options.onCycle === 'keep') continue;
          const cycle = stack.slice(stack.findIndex((f) => f.node === d)).map((f) => f.node);
          const path = [...cycle, d].map(nodeLabel).join(' → ');
          throw new KilnError('BAD_GRAPH', `the graph has a cycle: ${path} (each node reads the output of the one before it)`, {
            hint: 'a pass or the exporter wired a node to read its own result',
          });
        }
        state.set(d, OPEN);
        stack.push({ node: d, deps: deps(d), next: 0 });
      } else {
        state.set(top.node, DONE);
        order.push(top.node);
        stack.pop();
      }
    }
  }
  return order;
}
