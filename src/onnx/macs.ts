/**
 * Multiply-accumulate counts for the operators that dominate compute: Conv, ConvTranspose, MatMul,
 * Gemm and their quantized (QLinear*, *Integer) and onnxruntime-fused variants, and the recurrent
 * cells LSTM / GRU / RNN. Bias additions,
 * activations and pooling are not counted (the usual convention for "MACs").
 * Pure: works over the shapes found by shape inference.
 */
import type { NodeProto } from './proto-types.js';
import { attrInt, attrString } from './nodes.js';
import { isConcrete, opKey, RNN_GATES, type Shape, type TensorInfo } from './shape-inference.js';

const prod = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

type MacRule = (node: NodeProto, shape: (i: number) => Shape | null, out: Shape | null) => number | null;

/** Conv-like: every output element costs (Cin/group × kernel) MACs, i.e. prod(W.shape[1:]). */
const convMacs =
  (wi: number): MacRule =>
  (_node, shape, out) => {
    const w = shape(wi);
    return isConcrete(out) && isConcrete(w) && w.length >= 3 ? prod(out) * prod(w.slice(1)) : null;
  };

/** ConvTranspose: every input element is scattered through Cout/group × kernel weights. */
const convTransposeMacs: MacRule = (_node, shape) => {
  const x = shape(0);
  const w = shape(1);
  return isConcrete(x) && isConcrete(w) && w.length >= 3 ? prod(x) * prod(w.slice(1)) : null;
};

/** MatMul-like: every output element is a dot product of length K. */
const matmulMacs =
  (ai: number, kFrom: (node: NodeProto, a: number[]) => number | undefined = (_n, a) => a[a.length - 1]): MacRule =>
  (node, shape, out) => {
    const a = shape(ai);
    if (!isConcrete(out) || !isConcrete(a) || a.length === 0) return null;
    const k = kFrom(node, a);
    return k === undefined ? null : prod(out) * k;
  };

const gemmMacs = (ai: number): MacRule => matmulMacs(ai, (node, a) => (a.length === 2 ? a[attrInt(node, 'transA', 0) === 1 ? 0 : 1] : undefined));

/** LSTM / GRU / RNN: per step, batch and direction, gates × hidden × (input + hidden) for W·x and R·h. */
const recurrentMacs: MacRule = (node, shape) => {
  const x = shape(0);
  const w = shape(1);
  if (!isConcrete(x) || !isConcrete(w) || x.length !== 3 || w.length !== 3) return null;
  const gates = RNN_GATES[node.opType];
  const hidden = attrInt(node, 'hidden_size') ?? w[1] / gates;
  const directions = attrString(node, 'direction', 'forward') === 'bidirectional' ? 2 : 1;
  const [seq, batch] = attrInt(node, 'layout', 0) === 1 ? [x[1], x[0]] : [x[0], x[1]];
  return seq * batch * directions * gates * hidden * (w[2] + hidden);
};

const RULES: Record<string, MacRule> = {
  LSTM: recurrentMacs,
  GRU: recurrentMacs,
  RNN: recurrentMacs,
  Conv: convMacs(1),
  ConvInteger: convMacs(1),
  QLinearConv: convMacs(3),
  ConvTranspose: convTransposeMacs,
  MatMul: matmulMacs(0),
  MatMulInteger: matmulMacs(0),
  QLinearMatMul: matmulMacs(0),
  Gemm: gemmMacs(0),
  'com.microsoft.QLinearConv': convMacs(3),
  'com.microsoft.FusedConv': convMacs(1),
  'com.microsoft.NhwcConv': convMacs(1),
  'com.microsoft.QLinearMatMul': matmulMacs(0),
  'com.microsoft.MatMulIntegerToFloat': matmulMacs(0),
  'com.microsoft.DynamicQuantizeMatMul': matmulMacs(0),
  'com.microsoft.FusedMatMul': matmulMacs(0, (node, a) => (attrInt(node, 'transA', 0) === 1 ? a[a.length - 2] : a[a.length - 1])),
  'com.microsoft.MatMulNBits': matmulMacs(0, (node, a) => attrInt(node, 'K') ?? a[a.length - 1]),
  'com.microsoft.QGemm': gemmMacs(0),
};

/** True for the operators whose MACs are counted. */
export const isComputeOp = (node: Pick<NodeProto, 'domain' | 'opType'>): boolean => opKey(node) in RULES;

/** MACs of one node: a number, null when shapes are not known, undefined when the operator is not counted. */
export function nodeMacs(node: NodeProto, values: ReadonlyMap<string, TensorInfo>): number | null | undefined {
  const rule = RULES[opKey(node)];
  if (!rule) return undefined;
  const shape = (i: number): Shape | null => (node.input[i] ? (values.get(node.input[i])?.shape ?? null) : null);
  const out = node.output[0] ? (values.get(node.output[0])?.shape ?? null) : null;
  return rule(node, shape, out);
}
