/**
 * Static facts about the tensors of a graph that compiler passes need and ONNX files often leave out:
 * element types (from the operator signature table, value_info and a few attribute-driven ops), ranks,
 * and the values of small integer tensors that shape arithmetic builds from constants (so that a
 * Reshape's output rank is known when its shape is a Concat of slices of Shape(x)).
 *
 * Pure functions; nothing here edits a graph. Unknown stays unknown: callers decide what to do
 * without a fact (usually: refuse, or take the conservative path).
 */
import { topologicalOrder, type Graph } from '../../onnx/graph.js';
import { attrInt, attrInts, attrTensor, getAttr, subgraphsOf } from '../../onnx/nodes.js';
import { DataType } from '../../onnx/dtypes.js';
import type { GraphProto, NodeProto, TensorProto, ValueInfoProto } from '../../onnx/proto-types.js';
import { elementCount, tensorData } from '../../onnx/tensor.js';
import { signatureAt, slotAt } from './op-signatures.js';

/** What inference reads: a Graph or a sub-graph's GraphProto, seen the same way. */
export interface GraphView {
  readonly nodes: readonly NodeProto[];
  readonly inputs: readonly ValueInfoProto[];
  readonly outputs: readonly ValueInfoProto[];
  readonly initializers: Iterable<TensorProto>;
  valueInfo(name: string): ValueInfoProto | undefined;
}

export function viewOfGraph(graph: Graph): GraphView {
  return {
    nodes: graph.nodes,
    inputs: graph.inputs,
    outputs: graph.outputs,
    initializers: { [Symbol.iterator]: () => graph.initializers.values() },
    valueInfo: (name) => graph.valueInfo(name),
  };
}

export function viewOfProto(g: GraphProto): GraphView {
  const infos = new Map<string, ValueInfoProto>();
  for (const vi of g.valueInfo) infos.set(vi.name, vi);
  for (const vi of g.output) infos.set(vi.name, vi);
  for (const vi of g.input) infos.set(vi.name, vi);
  return { nodes: g.node, inputs: g.input, outputs: g.output, initializers: g.initializer, valueInfo: (name) => infos.get(name) };
}

const isDefaultDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';

/** Every tensor name a graph's nodes read or write (not sub-graph internals). */
function namesOf(view: GraphView): Set<string> {
  const names = new Set<string>();
  for (const n of view.nodes) for (const name of [...n.input, ...n.output]) if (name) names.add(name);
  for (const vi of [...view.inputs, ...view.outputs]) names.add(vi.name);
  return names;
}

/** The nodes in an order where each comes after the producers of its inputs (a read that closes a cycle is ignored). */
export const dependencyOrder = (nodes: readonly NodeProto[]): NodeProto[] => topologicalOrder(nodes, { onCycle: 'keep' });

// ---- element types -------------------------------------------------------------------------------

const elemTypeOf = (vi: ValueInfoProto | undefined): number | undefined => {
  const t = vi?.type?.tensorType?.elemType;
  return t ? t : undefined;
};

/**
 * The element type of every tensor that can be told: graph inputs and outputs, value_info entries,
 * initializers, and node outputs by their operator's signature. `outer` holds the types of names an
 * enclosing graph defines (for sub-graphs).
 */
export function inferElemTypes(view: GraphView, opset: number, outer?: ReadonlyMap<string, number>): Map<string, number> {
  const types = new Map<string, number>(outer ?? []);
  for (const t of view.initializers) types.set(t.name, t.dataType);
  for (const name of namesOf(view)) {
    const e = elemTypeOf(view.valueInfo(name));
    if (e !== undefined) types.set(name, e);
  }
  for (const node of dependencyOrder(view.nodes)) {
    node.output.forEach((o, k) => {
      if (!o || types.has(o)) return;
      const t = outputElemType(node, k, types, opset);
      if (t !== undefined) types.set(o, t);
    });
  }
  return types;
}

function subgraphOutputType(node: NodeProto, attrName: string, index: number): number | undefined {
  const g = getAttr(node, attrName)?.g;
  return g ? elemTypeOf(g.output[index]) : undefined;
}

function constantValueType(node: NodeProto): number | undefined {
  for (const a of node.attribute) {
    switch (a.name) {
      case 'value': return a.t?.dataType;
      case 'sparse_value': return a.sparseTensor?.values?.dataType;
      case 'value_float': case 'value_floats': return DataType.FLOAT;
      case 'value_int': case 'value_ints': return DataType.INT64;
      case 'value_string': case 'value_strings': return DataType.STRING;
      default: break;
    }
  }
  return undefined;
}

/**
 * Operators newer than the signature table (opsets 18–23) whose outputs have the type of input 0, so
 * that inference does not stop at them.
 */
const NEWER_SAME_TYPE = new Set([
  'Gelu', 'Mish', 'GroupNormalization', 'RMSNormalization', 'BitwiseNot', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'CenterCropPad', 'Swish',
  'RotaryEmbedding', 'AffineGrid',
]);

/** The element type of output `k` of `node`, given the types known so far. */
export function outputElemType(node: NodeProto, k: number, types: ReadonlyMap<string, number>, opset: number): number | undefined {
  if (!isDefaultDomain(node.domain)) return undefined;
  const inType = (i: number): number | undefined => (node.input[i] ? types.get(node.input[i]) : undefined);
  switch (node.opType) {
    case 'Constant': return constantValueType(node);
    case 'Cast': return attrInt(node, 'to');
    case 'CastLike': return inType(1);
    case 'ConstantOfShape': return attrTensor(node, 'value')?.dataType ?? DataType.FLOAT;
    case 'RandomNormal': case 'RandomUniform': return attrInt(node, 'dtype', DataType.FLOAT);
    case 'RandomNormalLike': case 'RandomUniformLike': case 'EyeLike': case 'Bernoulli': return attrInt(node, 'dtype') ?? inType(0);
    case 'Multinomial': return attrInt(node, 'dtype', DataType.INT32);
    case 'QuantizeLinear': return inType(2) ?? attrInt(node, 'output_dtype') ?? DataType.UINT8;
    case 'DequantizeLinear': return opset >= 19 ? inType(1) : DataType.FLOAT;
    case 'DynamicQuantizeLinear': return k === 1 ? DataType.FLOAT : DataType.UINT8;
    case 'LayerNormalization': return k === 0 ? inType(0) : attrInt(node, 'stash_type', DataType.FLOAT);
    case 'If': return subgraphOutputType(node, 'then_branch', k) ?? subgraphOutputType(node, 'else_branch', k);
    case 'Loop': return subgraphOutputType(node, 'body', k + 1);
    case 'Scan': return subgraphOutputType(node, 'body', k);
    default: break;
  }
  const sig = signatureAt(node.opType, opset);
  if (!sig) return NEWER_SAME_TYPE.has(node.opType) ? inType(0) : undefined;
  const slot = slotAt(sig.outputs, k);
  if (!slot || slot.nonTensor) return undefined;
  if (slot.fixed !== undefined) return slot.fixed;
  if (!slot.param || !slot.homogeneous) return undefined;
  for (let i = 0; i < node.input.length; i++) {
    const s = slotAt(sig.inputs, i);
    if (s?.param === slot.param && s.homogeneous) {
      const t = inType(i);
      if (t !== undefined) return t;
    }
  }
  return undefined;
}

// ---- ranks and small constant values -------------------------------------------------------------

/** Ranks, lengths of 1-D tensors, and values of small integer tensors. */
export interface StaticInfo {
  rank: Map<string, number>;
  /** Number of elements of rank-1 tensors whose length is known. */
  length: Map<string, number>;
  /** Values of small integer tensors (constants and shape arithmetic on them). */
  values: Map<string, bigint[]>;
}

const SMALL = 64;
const INT_TYPES = new Set<number>([DataType.INT64, DataType.INT32, DataType.INT16, DataType.INT8, DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64]);

function intValues(t: TensorProto): bigint[] | undefined {
  if (!INT_TYPES.has(t.dataType) || t.dims.length > 1 || elementCount(t.dims) > SMALL) return undefined;
  try {
    return Array.from(tensorData(t) as ArrayLike<number | bigint>, (v) => BigInt(v));
  } catch {
    return undefined;
  }
}

function seedTensor(info: StaticInfo, name: string, t: TensorProto): void {
  info.rank.set(name, t.dims.length);
  if (t.dims.length === 1) info.length.set(name, t.dims[0]);
  const v = intValues(t);
  if (v) info.values.set(name, v);
}

/** Ops whose every output has the rank of input 0. */
const SAME_RANK = new Set([
  'Abs', 'Acos', 'Acosh', 'Asin', 'Asinh', 'Atan', 'Atanh', 'AveragePool', 'BatchNormalization', 'Bernoulli', 'Cast', 'CastLike', 'Ceil', 'Celu',
  'Clip', 'Conv', 'ConvInteger', 'ConvTranspose', 'Cos', 'Cosh', 'CumSum', 'DepthToSpace', 'DequantizeLinear', 'Dropout', 'Elu', 'Erf', 'Exp',
  'EyeLike', 'Floor', 'Gelu', 'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'Hardmax', 'HardSigmoid', 'HardSwish', 'Identity',
  'InstanceNormalization', 'IsInf', 'IsNaN', 'LayerNormalization', 'LeakyRelu', 'Log', 'LogSoftmax', 'LpNormalization', 'LpPool', 'LRN', 'MaxPool',
  'MeanVarianceNormalization', 'Mish', 'Neg', 'Not', 'Pad', 'QLinearConv', 'QuantizeLinear', 'RandomNormalLike', 'RandomUniformLike', 'Reciprocal',
  'Relu', 'Resize', 'ReverseSequence', 'Round', 'Scatter', 'ScatterElements', 'ScatterND', 'Selu', 'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh',
  'Slice', 'Softmax', 'Softplus', 'Softsign', 'SpaceToDepth', 'Split', 'Sqrt', 'Tan', 'Tanh', 'ThresholdedRelu', 'Tile', 'TopK', 'Trilu', 'Upsample',
  'GroupNormalization',
]);

/** Ops with multidirectional broadcasting: output rank is the largest input rank. */
const BROADCAST = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor', 'BitShift',
  'Where', 'Max', 'Min', 'Sum', 'Mean', 'PRelu', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor',
]);

const REDUCE = new Set(['ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare']);

/** Ranks, 1-D lengths and small integer values, from the graph's declared shapes and its constants. */
export function inferStatic(view: GraphView, opset: number, outer?: StaticInfo): StaticInfo {
  const info: StaticInfo = {
    rank: new Map(outer?.rank ?? []),
    length: new Map(outer?.length ?? []),
    values: new Map(outer?.values ?? []),
  };
  for (const t of view.initializers) seedTensor(info, t.name, t);
  for (const name of namesOf(view)) {
    const shape = view.valueInfo(name)?.type?.tensorType?.shape;
    if (!shape) continue;
    info.rank.set(name, shape.dim.length);
    if (shape.dim.length === 1 && shape.dim[0].dimValue !== undefined) info.length.set(name, shape.dim[0].dimValue);
  }
  for (const node of dependencyOrder(view.nodes)) {
    if (!isDefaultDomain(node.domain)) continue;
    try {
      staticOutputs(node, info, opset);
    } catch {
      // A malformed attribute: the facts for this node stay unknown.
    }
  }
  return info;
}

/** Values of an int list given as an attribute (opset < 13 style) or as a constant input. */
function listParam(node: NodeProto, attrName: string, inputIndex: number, info: StaticInfo): bigint[] | undefined {
  const a = getAttr(node, attrName);
  if (a) return [...a.ints];
  const name = node.input[inputIndex];
  return name ? info.values.get(name) : undefined;
}

const clampIndex = (v: bigint, dim: number): number => {
  let x = Number(v < -(2n ** 62n) ? -(2n ** 62n) : v > 2n ** 62n ? 2n ** 62n : v);
  if (x < 0) x += dim;
  return Math.min(Math.max(x, 0), dim);
};

/** Apply Slice with constant parameters to a 1-D list. */
function slice1d<T>(items: T[], starts: bigint[], ends: bigint[], steps?: bigint[]): T[] | undefined {
  if (starts.length !== 1 || ends.length !== 1) return undefined;
  const step = steps?.[0] ?? 1n;
  if (step !== 1n) return undefined;
  const s = clampIndex(starts[0], items.length);
  const e = clampIndex(ends[0], items.length);
  return items.slice(s, Math.max(s, e));
}

function staticOutputs(node: NodeProto, info: StaticInfo, opset: number): void {
  const { rank, length, values } = info;
  const out = node.output[0];
  const inRank = (i: number): number | undefined => (node.input[i] ? rank.get(node.input[i]) : undefined);
  const inLength = (i: number): number | undefined => {
    const name = node.input[i];
    if (!name) return undefined;
    return values.get(name)?.length ?? length.get(name);
  };
  const setRank = (name: string | undefined, r: number | undefined): void => {
    if (name && r !== undefined && r >= 0 && !rank.has(name)) rank.set(name, r);
  };
  const setValues = (name: string | undefined, v: bigint[] | undefined, r: number): void => {
    if (!name || !v || v.length > SMALL) return;
    if (!values.has(name)) values.set(name, v);
    if (r === 1 && !length.has(name)) length.set(name, v.length);
  };
  const op = node.opType;

  if (op === 'Constant') {
    const t = attrTensor(node, 'value');
    if (t) {
      seedTensor(info, out, t);
      return;
    }
    const ints = getAttr(node, 'value_ints') ?? getAttr(node, 'value_floats') ?? getAttr(node, 'value_strings');
    if (ints) {
      setRank(out, 1);
      if (getAttr(node, 'value_ints')) setValues(out, [...getAttr(node, 'value_ints')!.ints], 1);
      else length.set(out, (ints.floats.length || ints.strings.length));
      return;
    }
    if (getAttr(node, 'value_int')) setValues(out, [getAttr(node, 'value_int')!.i], 0);
    setRank(out, 0);
    return;
  }
  if (SAME_RANK.has(op)) {
    for (const o of node.output) setRank(o, inRank(0));
    if (inRank(0) === 1) {
      const n = inLength(0);
      if (n !== undefined && ['Cast', 'Identity', 'Abs', 'Neg', 'Relu', 'Floor', 'Ceil', 'Round', 'Sign', 'Clip'].includes(op)) {
        for (const o of node.output) if (!length.has(o)) length.set(o, n);
      }
    }
    if ((op === 'Cast' || op === 'Identity') && node.input[0] && values.has(node.input[0])) setValues(out, values.get(node.input[0]), inRank(0) ?? 1);
    if (op === 'Slice' && inRank(0) === 1) {
      const starts = listParam(node, 'starts', 1, info);
      const ends = listParam(node, 'ends', 2, info);
      const steps = opset >= 10 ? listParam(node, '', 4, info) : undefined;
      const axes = listParam(node, 'axes', 3, info);
      if (starts && ends && (!axes || (axes.length === 1 && (axes[0] === 0n || axes[0] === -1n)))) {
        const v = node.input[0] ? values.get(node.input[0]) : undefined;
        if (v) setValues(out, slice1d(v, starts, ends, steps), 1);
        const n = inLength(0);
        if (n !== undefined && !length.has(out)) {
          const sliced = slice1d(Array.from({ length: n }, (_, i) => i), starts, ends, steps);
          if (sliced) length.set(out, sliced.length);
        }
      }
    }
    return;
  }
  if (BROADCAST.has(op)) {
    const ranks = node.input.filter(Boolean).map((n) => rank.get(n));
    if (ranks.length > 0 && ranks.every((r) => r !== undefined)) {
      const r = Math.max(...(ranks as number[]));
      setRank(out, r);
      if (r === 1) {
        const lengths = node.input.filter(Boolean).map((_, i) => (inRank(i) === 0 ? 1 : inLength(i)));
        if (lengths.every((l) => l !== undefined)) length.set(out, Math.max(...(lengths as number[])));
      }
    }
    return;
  }
  if (REDUCE.has(op) || op === 'ArgMax' || op === 'ArgMin') {
    const r = inRank(0);
    if (r === undefined) return;
    if (attrInt(node, 'keepdims', 1) !== 0) return setRank(out, r);
    if (op === 'ArgMax' || op === 'ArgMin') return setRank(out, r - 1);
    const axes = listParam(node, 'axes', 1, info);
    if (axes) setRank(out, axes.length === 0 && attrInt(node, 'noop_with_empty_axes', 0) === 0 ? 0 : r - new Set(axes.map((a) => (a < 0n ? Number(a) + r : Number(a)))).size);
    else if (!node.input[1]) setRank(out, attrInt(node, 'noop_with_empty_axes', 0) ? r : 0);
    return;
  }
  switch (op) {
    case 'MatMul': case 'MatMulInteger': case 'QLinearMatMul': {
      const a = inRank(0);
      const b = op === 'QLinearMatMul' ? inRank(3) : inRank(1);
      if (a === undefined || b === undefined) return;
      setRank(out, a === 1 && b === 1 ? 0 : a === 1 ? b - 1 : b === 1 ? a - 1 : Math.max(a, b));
      return;
    }
    case 'Gemm': case 'Flatten': case 'NonZero': return setRank(out, 2);
    case 'Range': return setRank(out, 1);
    case 'Size': return setRank(out, 0);
    case 'Shape': {
      setRank(out, 1);
      const r = inRank(0);
      if (r === undefined) return;
      const start = clampIndex(BigInt(attrInt(node, 'start', 0)), r);
      const endAttr = getAttr(node, 'end');
      const end = endAttr ? clampIndex(endAttr.i, r) : r;
      length.set(out, Math.max(0, end - start));
      return;
    }
    case 'Transpose': {
      const perm = attrInts(node, 'perm');
      return setRank(out, perm ? perm.length : inRank(0));
    }
    case 'Reshape': return setRank(out, inLength(1));
    case 'Expand': {
      const a = inRank(0);
      const b = inLength(1);
      if (a !== undefined && b !== undefined) setRank(out, Math.max(a, b));
      return;
    }
    case 'ConstantOfShape': return setRank(out, inLength(0));
    case 'OneHot': {
      const r = inRank(0);
      return setRank(out, r === undefined ? undefined : r + 1);
    }
    case 'Gather': {
      const r = inRank(0);
      const q = inRank(1);
      if (r === undefined || q === undefined) return;
      setRank(out, r + q - 1);
      const data = node.input[0] ? values.get(node.input[0]) : undefined;
      const idx = node.input[1] ? values.get(node.input[1]) : undefined;
      if (r === 1 && data && idx) {
        const picked = idx.map((i) => data[Number(i < 0n ? i + BigInt(data.length) : i)]);
        if (picked.every((v) => v !== undefined)) setValues(out, picked, q);
      }
      return;
    }
    case 'GatherElements': return setRank(out, inRank(1));
    case 'Concat': {
      const ranks = node.input.filter(Boolean).map((n) => rank.get(n));
      const known = ranks.find((r) => r !== undefined);
      setRank(out, known);
      if (known === 1) {
        const lengths = node.input.filter(Boolean).map((_, i) => inLength(i));
        if (lengths.every((l) => l !== undefined)) length.set(out, (lengths as number[]).reduce((a, b) => a + b, 0));
        const parts = node.input.filter(Boolean).map((n) => values.get(n));
        if (parts.every((p) => p !== undefined)) setValues(out, (parts as bigint[][]).flat(), 1);
      }
      return;
    }
    case 'Squeeze': case 'Unsqueeze': {
      const r = inRank(0);
      const axes = listParam(node, 'axes', 1, info);
      if (r === undefined || !axes) return;
      const n = new Set(axes.map(Number)).size;
      const newRank = op === 'Squeeze' ? r - n : r + n;
      setRank(out, newRank);
      const v = node.input[0] ? values.get(node.input[0]) : undefined;
      if (v && v.length === 1 && newRank <= 1) setValues(out, v, newRank);
      return;
    }
    default:
      break;
  }
}

/** Nodes of a graph and, recursively, of its sub-graphs. */
export function* allNodes(nodes: readonly NodeProto[]): Generator<NodeProto> {
  for (const n of nodes) {
    yield n;
    for (const g of subgraphsOf(n)) yield* allNodes(g.node);
  }
}
