/**
 * Static inference over a graph: the one engine that tells, for every tensor it can, the element
 * type, the shape (or at least the rank) and, for small tensors, the values. `kiln inspect`, MACs
 * and input-shape resolution read the shapes; compiler passes (fp16, upgrade-opset) read element
 * types and ranks. One walk in topological order, one rule per operator; constant propagation of
 * small tensors makes shape sub-graphs (Shape → Gather → Unsqueeze → Concat → Reshape) resolve.
 * Pure: no I/O, the graph is not changed.
 *
 * Element types come from the operator signature table (op-signatures.ts, default domain) and a few
 * attribute-driven ops, then from the operator's rule (other domains), then from value_info.
 *
 * A dimension is a number (fixed), a string (symbolic, e.g. 'batch') or null (unknown). Tensors whose
 * shape cannot be inferred keep `shape: null` (rank unknown) or null dimensions, and are listed in
 * `unknown`: nothing is guessed. Where inference cannot tell, the graph's value_info (and output
 * declarations) fill in, unless the caller's input shapes contradict the shapes the graph was
 * exported with.
 */
import type { GraphProto, ModelProto, NodeProto, SparseTensorProto, TensorProto, ValueInfoProto } from './proto-types.js';
import { DataType } from './dtypes.js';
import { Graph, topologicalOrder } from './graph.js';
import { signatureAt, slotAt } from './op-signatures.js';
import { elementCount, tensorData } from './tensor.js';
import { attrFloat, attrFloats, attrInt, attrInts, attrString, attrTensor, getAttr, type Dim } from './nodes.js';

export type { Dim };
export type Shape = Dim[];

export interface TensorInfo {
  /** Element type code (DataType), 0 when unknown. */
  dtype: number;
  /** Dimensions; null when even the rank is unknown. */
  shape: Shape | null;
  /**
   * The tensor's values, row-major, when they are known statically and small (shape arithmetic):
   * constants, Shape outputs and what is computed from them. Entries may be symbolic or unknown.
   */
  value?: Dim[];
}

export interface ShapeInferenceOptions {
  /** Shapes for graph inputs by name; they replace the declared ones (symbolic dims made concrete). */
  inputShapes?: Readonly<Record<string, readonly Dim[]>>;
  /** Version of the default ONNX domain opset; operators whose inputs changed (Squeeze, Slice, ...) depend on it. @default 17 */
  opset?: number;
  /** Fill in from value_info / graph outputs where inference cannot tell. @default true */
  useValueInfo?: boolean;
  /** What is known about names an enclosing graph defines (for a sub-graph: If branches, Loop and Scan bodies). */
  outer?: ReadonlyMap<string, TensorInfo>;
}

export interface ShapeInferenceResult {
  /** Every tensor name seen (inputs, initializers, node outputs) → what is known about it. */
  values: Map<string, TensorInfo>;
  /** Node outputs whose shape is not fully known (rank unknown or an unknown dimension). Symbolic dims count as known. */
  unknown: Set<string>;
  /** Operators (domain-qualified when not ai.onnx) that have no shape rule here, with their node count. */
  unsupportedOps: Map<string, number>;
  /** Node outputs whose shape came (at least partly) from value_info rather than inference. */
  fromValueInfo: Set<string>;
}

/** Largest tensor (elements) whose values are tracked for constant propagation. */
const MAX_TRACKED = 4096;
const INT64_MAX = 2 ** 63;

// ───────────────────────────── helpers ─────────────────────────────

export const isConcrete = (shape: Shape | null | undefined): shape is number[] => !!shape && shape.every((d) => typeof d === 'number');
const isFullyKnown = (shape: Shape | null | undefined): boolean => !!shape && shape.every((d) => d !== null);
const num = (d: Dim | undefined): d is number => typeof d === 'number';

/** The shape declared by a ValueInfoProto; null when it has no tensor shape. Unnamed dynamic dims are null. */
export function declaredShape(vi: ValueInfoProto | undefined): Shape | null {
  const shape = vi?.type?.tensorType?.shape;
  if (!shape) return null;
  return shape.dim.map((d) => (d.dimParam ? d.dimParam : (d.dimValue ?? null)));
}

const declaredDtype = (vi: ValueInfoProto | undefined): number => vi?.type?.tensorType?.elemType ?? 0;

function tensorValue(t: TensorProto): Dim[] | undefined {
  const count = elementCount(t.dims);
  if (count > MAX_TRACKED || t.dataType === DataType.STRING) return undefined;
  try {
    const data = tensorData(t);
    if (t.dataType === DataType.FLOAT16 || t.dataType === DataType.BFLOAT16) return undefined;
    return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
  } catch {
    return undefined;
  }
}

const tensorInfo = (t: TensorProto): TensorInfo => ({ dtype: t.dataType, shape: [...t.dims], value: tensorValue(t) });

/** Product of dims; a string when a single symbolic dim remains with factor 1, null when unknown. */
function product(dims: readonly Dim[]): Dim {
  let p = 1;
  const symbols: string[] = [];
  for (const d of dims) {
    if (num(d)) p *= d;
    else if (typeof d === 'string') symbols.push(d);
    else return null;
  }
  if (p === 0) return 0;
  if (symbols.length === 0) return p;
  return symbols.length === 1 && p === 1 ? symbols[0] : null;
}

/** Numpy broadcasting of several shapes. */
export function broadcastShapes(shapes: readonly (Shape | null)[]): Shape | null {
  if (shapes.some((s) => s === null)) return null;
  const rank = Math.max(0, ...shapes.map((s) => s!.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    const dims = shapes.map((s) => s![s!.length - rank + i]).filter((d) => d !== undefined && d !== 1);
    const numbers = [...new Set(dims.filter(num))];
    const symbols = [...new Set(dims.filter((d): d is string => typeof d === 'string'))];
    if (numbers.length > 1) return null; // incompatible shapes: leave it to the runtime to complain
    if (numbers.length === 1) out.push(numbers[0]);
    else if (dims.some((d) => d === null)) out.push(null);
    else if (symbols.length === 1) out.push(symbols[0]);
    else if (symbols.length === 0) out.push(1);
    else out.push(null);
  }
  return out;
}

const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** Values of an input as plain numbers, when all are known numbers. */
function numbers(info: TensorInfo | undefined): number[] | undefined {
  if (!info?.value || !info.value.every(num)) return undefined;
  return info.value as number[];
}

function elementwise(values: (Dim[] | undefined)[], out: Shape | null, f: (...xs: number[]) => number): Dim[] | undefined {
  if (!out || !isConcrete(out) || values.some((v) => !v)) return undefined;
  const count = elementCount(out);
  if (count > MAX_TRACKED) return undefined;
  // Only scalars/size-1 or same-size operands (what shape arithmetic uses).
  const result: Dim[] = [];
  for (let i = 0; i < count; i++) {
    const xs = values.map((v) => (v!.length === 1 ? v![0] : v!.length === count ? v![i] : undefined));
    if (xs.some((x) => x === undefined)) return undefined;
    result.push(xs.every(num) ? f(...(xs as number[])) : null);
  }
  return result;
}

// ───────────────────────────── per-op rules ─────────────────────────────

interface Ctx {
  node: NodeProto;
  opset: number;
  /** Info of input i ('' or missing → undefined). */
  in(i: number): TensorInfo | undefined;
  shape(i: number): Shape | null;
}

type Out = TensorInfo | undefined;
type Rule = (c: Ctx) => Out[];

const same = (c: Ctx, i = 0, dtype?: number): TensorInfo => ({ dtype: dtype ?? c.in(i)?.dtype ?? 0, shape: c.shape(i) ? [...c.shape(i)!] : null });

/** Spatial output size of a convolution or pooling window. */
function windowOut(input: Dim, k: number, stride: number, dilation: number, padBegin: number, padEnd: number, autoPad: string, ceil: boolean): Dim {
  if (!num(input)) return null;
  const effective = dilation * (k - 1) + 1;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(input / stride);
  if (autoPad === 'VALID') return Math.floor((input - effective) / stride) + 1;
  const span = input + padBegin + padEnd - effective;
  if (!ceil) return Math.floor(span / stride) + 1;
  let out = Math.ceil(span / stride) + 1;
  // The last window must start inside the input or the left padding (as onnxruntime and PyTorch do).
  if ((out - 1) * stride >= input + padBegin) out--;
  return out;
}

function convLike(c: Ctx, x: Shape | null, w: Shape | null, kind: 'conv' | 'pool'): Shape | null {
  if (!x || x.length < 3) return null;
  const spatial = x.length - 2;
  // Input channels that do not match the weights: the runtime will refuse to run it, so claim nothing.
  if (kind === 'conv' && w && num(x[1]) && num(w[1]) && x[1] !== w[1] * attrInt(c.node, 'group', 1)) return null;
  const kernel = attrInts(c.node, 'kernel_shape') ?? (w && w.length === x.length && w.slice(2).every(num) ? (w.slice(2) as number[]) : undefined);
  // Without a kernel size only the rank (and batch, channels) can be told.
  if (!kernel) return [x[0], kind === 'conv' ? (w?.[0] ?? null) : x[1], ...new Array<Dim>(spatial).fill(null)];
  if (kernel.length !== spatial) return null;
  const strides = attrInts(c.node, 'strides', new Array(spatial).fill(1));
  const dilations = attrInts(c.node, 'dilations', new Array(spatial).fill(1));
  const pads = attrInts(c.node, 'pads', new Array(spatial * 2).fill(0));
  const autoPad = attrString(c.node, 'auto_pad', 'NOTSET');
  const ceil = kind === 'pool' && attrInt(c.node, 'ceil_mode', 0) === 1;
  const out: Shape = [x[0], kind === 'conv' ? (w?.[0] ?? null) : x[1]];
  for (let i = 0; i < spatial; i++) out.push(windowOut(x[2 + i], kernel[i], strides[i], dilations[i], pads[i], pads[i + spatial], autoPad, ceil));
  return out;
}

const conv =
  (xi: number, wi: number): Rule =>
  (c) => [{ dtype: c.in(xi)?.dtype ?? 0, shape: convLike(c, c.shape(xi), c.shape(wi), 'conv') }];
const convInteger: Rule = (c) => [{ dtype: DataType.INT32, shape: convLike(c, c.shape(0), c.shape(1), 'conv') }];

const convTranspose: Rule = (c) => {
  const x = c.shape(0);
  const w = c.shape(1);
  if (!x || x.length < 3) return [{ dtype: c.in(0)?.dtype ?? 0, shape: null }];
  const spatial = x.length - 2;
  const group = attrInt(c.node, 'group', 1);
  const channels = w && num(w[1]) ? w[1] * group : null;
  const explicit = attrInts(c.node, 'output_shape');
  const kernel = attrInts(c.node, 'kernel_shape') ?? (w && w.slice(2).every(num) ? (w.slice(2) as number[]) : undefined);
  const out: Shape = [x[0], channels];
  if (explicit) {
    out.push(...explicit.slice(-spatial));
  } else if (!kernel || kernel.length !== spatial) {
    out.push(...new Array(spatial).fill(null));
  } else {
    const strides = attrInts(c.node, 'strides', new Array(spatial).fill(1));
    const dilations = attrInts(c.node, 'dilations', new Array(spatial).fill(1));
    const pads = attrInts(c.node, 'pads', new Array(spatial * 2).fill(0));
    const outputPadding = attrInts(c.node, 'output_padding', new Array(spatial).fill(0));
    const autoPad = attrString(c.node, 'auto_pad', 'NOTSET');
    for (let i = 0; i < spatial; i++) {
      const d = x[2 + i];
      if (!num(d)) out.push(null);
      else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out.push(d * strides[i]);
      else out.push(strides[i] * (d - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1 - pads[i] - pads[i + spatial]);
    }
  }
  return [{ dtype: c.in(0)?.dtype ?? 0, shape: out }];
};

const pool: Rule = (c) => {
  const y = { dtype: c.in(0)?.dtype ?? 0, shape: convLike(c, c.shape(0), null, 'pool') };
  return [y, { dtype: DataType.INT64, shape: y.shape }];
};

const globalPool: Rule = (c) => {
  const x = c.shape(0);
  return [{ dtype: c.in(0)?.dtype ?? 0, shape: x ? [x[0], x[1], ...x.slice(2).map(() => 1)] : null }];
};

function matmulShape(a: Shape | null, b: Shape | null): Shape | null {
  if (!a || !b || a.length === 0 || b.length === 0) return null;
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  if (!batch) return null;
  const out = [...batch, a2[a2.length - 2], b2[b2.length - 1]];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.splice(out.length - 1, 1);
  return out;
}

const matmul =
  (ai: number, bi: number, dtype?: number): Rule =>
  (c) => [{ dtype: dtype ?? c.in(ai)?.dtype ?? 0, shape: matmulShape(c.shape(ai), c.shape(bi)) }];

const gemm =
  (ai: number, bi: number): Rule =>
  (c) => {
    const a = c.shape(ai);
    const b = c.shape(bi);
    const transA = attrInt(c.node, 'transA', 0) === 1;
    const transB = attrInt(c.node, 'transB', 0) === 1;
    const m = a && a.length === 2 ? a[transA ? 1 : 0] : null;
    const n = b && b.length === 2 ? b[transB ? 0 : 1] : null;
    return [{ dtype: c.in(ai)?.dtype ?? 0, shape: [m, n] }];
  };

const ARITH: Partial<Record<string, (...xs: number[]) => number>> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => (Number.isInteger(a) && Number.isInteger(b) ? Math.trunc(a / b) : a / b),
  Max: (...xs) => Math.max(...xs),
  Min: (...xs) => Math.min(...xs),
  Mod: (a, b) => a % b,
  Equal: (a, b) => Number(a === b),
  Less: (a, b) => Number(a < b),
  Greater: (a, b) => Number(a > b),
  Where: (cond, a, b) => (cond ? a : b),
};

const COMPARISONS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);

const broadcastOp =
  (inputs?: number[]): Rule =>
  (c) => {
    const idx = inputs ?? c.node.input.map((_, i) => i).filter((i) => c.node.input[i] !== '');
    const shapes = idx.map((i) => c.shape(i));
    // Shapes that do not broadcast: the runtime will refuse them; only the rank is told.
    const rankOnly = shapes.every((s) => s !== null) ? new Array<Dim>(Math.max(0, ...shapes.map((s) => s!.length))).fill(null) : null;
    const shape = broadcastShapes(shapes) ?? rankOnly;
    const op = c.node.opType;
    const dtype = COMPARISONS.has(op) ? DataType.BOOL : op === 'Where' ? (c.in(1)?.dtype ?? 0) : (c.in(idx[0])?.dtype ?? 0);
    const f = ARITH[op];
    const value =
      f && !inputs
        ? elementwise(
            idx.map((i) => c.in(i)?.value),
            shape,
            f,
          )
        : undefined;
    return [{ dtype, shape, value }];
  };

const unary: Rule = (c) => {
  const out = same(c);
  const op = c.node.opType;
  const v = c.in(0)?.value;
  if (v && (op === 'Identity' || op === 'Cast' || op === 'CastLike')) out.value = [...v];
  if (v && op === 'Neg') out.value = v.map((d) => (num(d) ? -d : null));
  if (v && op === 'Abs') out.value = v.map((d) => (num(d) ? Math.abs(d) : typeof d === 'string' ? d : null));
  if (op === 'Cast') out.dtype = attrInt(c.node, 'to', 0);
  if (op === 'CastLike') out.dtype = c.in(1)?.dtype ?? 0;
  if (COMPARISONS.has(op)) out.dtype = DataType.BOOL;
  return [out];
};

const flatten: Rule = (c) => {
  const x = c.shape(0);
  if (!x) return [{ dtype: c.in(0)?.dtype ?? 0, shape: [null, null] }];
  const axis = normAxis(attrInt(c.node, 'axis', 1), x.length);
  return [{ dtype: c.in(0)?.dtype ?? 0, shape: [product(x.slice(0, axis)), product(x.slice(axis))] }];
};

function reshapeTo(input: Shape | null, target: Dim[], allowZero: boolean): Shape | null {
  const out: Shape = target.map((d, i) => (d === 0 && !allowZero ? (input?.[i] ?? null) : d === -1 ? -1 : d));
  const inferIndex = out.indexOf(-1);
  if (inferIndex < 0) return out;
  if (!input) {
    out[inferIndex] = null;
    return out;
  }
  // Cancel the dims both sides share (symbols and numbers), then divide what remains.
  const remaining = [...input];
  const others = out.filter((_, i) => i !== inferIndex);
  let divisor = 1;
  let solvable = true;
  for (const d of others) {
    const at = remaining.findIndex((r) => r === d && d !== null);
    if (typeof d === 'string' || d === null) {
      if (at >= 0 && d !== null) remaining.splice(at, 1);
      else solvable = false;
    } else if (at >= 0) {
      remaining.splice(at, 1);
    } else {
      divisor *= d as number;
    }
  }
  const symbols = remaining.filter((d) => !num(d));
  const numeric = (remaining.filter(num) as number[]).reduce((a, b) => a * b, 1);
  if (!solvable || symbols.includes(null) || divisor === 0 || numeric % divisor !== 0) out[inferIndex] = null;
  else if (symbols.length === 0) out[inferIndex] = numeric / divisor;
  else out[inferIndex] = symbols.length === 1 && numeric === divisor ? symbols[0] : null;
  return out;
}

const reshape: Rule = (c) => {
  const target = c.in(1)?.value;
  const allowZero = attrInt(c.node, 'allowzero', 0) === 1;
  const shape = target ? reshapeTo(c.shape(0), target, allowZero) : c.shape(1) && num(c.shape(1)![0]) ? new Array(c.shape(1)![0] as number).fill(null) : null;
  const v = c.in(0)?.value;
  return [{ dtype: c.in(0)?.dtype ?? 0, shape, value: v ? [...v] : undefined }];
};

const transpose: Rule = (c) => {
  const x = c.shape(0);
  const given = attrInts(c.node, 'perm');
  if (!x) return [{ dtype: c.in(0)?.dtype ?? 0, shape: given ? given.map(() => null) : null }];
  const perm = given ?? x.map((_, i) => x.length - 1 - i);
  return [{ dtype: c.in(0)?.dtype ?? 0, shape: perm.map((p) => x[p] ?? null) }];
};

const concat: Rule = (c) => {
  const present = c.node.input.map((_, i) => i).filter((i) => c.node.input[i] !== '');
  const shapes = present.map((i) => c.shape(i));
  const known = shapes.filter((s): s is Shape => s !== null);
  const dtype = c.in(present[0])?.dtype ?? 0;
  if (known.length === 0 || known.some((s) => s.length !== known[0].length)) return [{ dtype, shape: null }];
  const rank = known[0].length;
  const axis = normAxis(attrInt(c.node, 'axis', 0), rank);
  const out: Shape = known[0].map((_, d) => {
    if (d === axis) {
      const parts = shapes.map((s) => s?.[d] ?? null);
      return parts.every(num) ? (parts as number[]).reduce((a, b) => a + b, 0) : null;
    }
    return broadcastShapes(known.map((s) => [s[d]]))?.[0] ?? null;
  });
  let value: Dim[] | undefined;
  if (rank === 1 && present.every((i) => c.in(i)?.value)) value = present.flatMap((i) => c.in(i)!.value!);
  return [{ dtype, shape: out, value }];
};

const split: Rule = (c) => {
  const x = c.shape(0);
  const n = c.node.output.length;
  const dtype = c.in(0)?.dtype ?? 0;
  if (!x) return c.node.output.map(() => ({ dtype, shape: null }));
  const axis = normAxis(attrInt(c.node, 'axis', 0), x.length);
  const sizes = c.opset >= 13 ? numbers(c.in(1)) : attrInts(c.node, 'split');
  const total = x[axis];
  const parts: Dim[] =
    sizes && sizes.length === n
      ? sizes
      : num(total)
        ? Array.from({ length: n }, (_, i) => {
            const chunk = Math.ceil(total / n);
            return i < n - 1 ? chunk : total - chunk * (n - 1);
          })
        : new Array(n).fill(null);
  return parts.map((p) => ({ dtype, shape: x.map((d, i) => (i === axis ? p : d)) }));
};

function sliceDim(dim: Dim, start: number, end: number, step: number): Dim {
  if (!num(dim)) return start === 0 && end >= INT64_MAX / 2 && step === 1 ? dim : null;
  const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clamp(s, 0, dim);
    e = clamp(e, 0, dim);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = clamp(s, 0, dim - 1);
  e = clamp(e, -1, dim - 1);
  return Math.max(0, Math.ceil((s - e) / -step));
}

const slice: Rule = (c) => {
  const x = c.shape(0);
  const dtype = c.in(0)?.dtype ?? 0;
  const old = c.opset < 10;
  const starts = old ? attrInts(c.node, 'starts') : numbers(c.in(1));
  const ends = old ? attrInts(c.node, 'ends') : numbers(c.in(2));
  if (!x || !starts || !ends) return [{ dtype, shape: x ? x.map(() => null) : null }];
  const axes = (old ? attrInts(c.node, 'axes') : c.node.input[3] ? numbers(c.in(3)) : undefined) ?? starts.map((_, i) => i);
  const steps = (old ? undefined : c.node.input[4] ? numbers(c.in(4)) : undefined) ?? starts.map(() => 1);
  if (axes.length !== starts.length) return [{ dtype, shape: x.map(() => null) }];
  const out = [...x];
  axes.forEach((a, i) => {
    const axis = normAxis(a, x.length);
    out[axis] = sliceDim(x[axis], starts[i], ends[i], steps[i]);
  });
  let value: Dim[] | undefined;
  const v = c.in(0)?.value;
  if (v && x.length === 1 && num(x[0])) {
    const s0 = starts[0] < 0 ? Math.max(0, starts[0] + x[0]) : Math.min(starts[0], x[0]);
    const e0 = ends[0] < 0 ? Math.max(-1, ends[0] + x[0]) : Math.min(ends[0], x[0]);
    value = [];
    if (steps[0] > 0) for (let i = s0; i < e0; i += steps[0]) value.push(v[i]);
    else for (let i = Math.min(s0, x[0] - 1); i > e0; i += steps[0]) value.push(v[i]);
  }
  return [{ dtype, shape: out, value }];
};

/** Axes from the attribute (older opsets) or the second input (newer). */
function axesOf(c: Ctx, inputSince: number): number[] | undefined | 'unknown' {
  if (c.opset >= inputSince) {
    if (!c.node.input[1]) return undefined;
    return numbers(c.in(1)) ?? 'unknown';
  }
  return attrInts(c.node, 'axes');
}

const squeeze: Rule = (c) => {
  const x = c.shape(0);
  const dtype = c.in(0)?.dtype ?? 0;
  const axes = axesOf(c, 13);
  const v = c.in(0)?.value;
  if (!x || axes === 'unknown') return [{ dtype, shape: null, value: v && [...v] }];
  const drop = axes ? new Set(axes.map((a) => normAxis(a, x.length))) : new Set(x.flatMap((d, i) => (d === 1 ? [i] : [])));
  if (!axes && x.some((d) => !num(d))) return [{ dtype, shape: null, value: v && [...v] }];
  return [{ dtype, shape: x.filter((_, i) => !drop.has(i)), value: v && [...v] }];
};

const unsqueeze: Rule = (c) => {
  const x = c.shape(0);
  const dtype = c.in(0)?.dtype ?? 0;
  const axes = axesOf(c, 13);
  const v = c.in(0)?.value;
  if (!x || !axes || axes === 'unknown') return [{ dtype, shape: null, value: v && [...v] }];
  const rank = x.length + axes.length;
  const at = new Set(axes.map((a) => normAxis(a, rank)));
  const out: Shape = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : x[j++]);
  return [{ dtype, shape: out, value: v && [...v] }];
};

const reduce: Rule = (c) => {
  const x = c.shape(0);
  const op = c.node.opType;
  const dtype = op === 'ArgMax' || op === 'ArgMin' ? DataType.INT64 : (c.in(0)?.dtype ?? 0);
  if (!x) return [{ dtype, shape: null }];
  const keep = attrInt(c.node, 'keepdims', 1) === 1;
  let axes: number[] | undefined;
  if (op === 'ArgMax' || op === 'ArgMin') axes = [attrInt(c.node, 'axis', 0)];
  else {
    const since = op === 'ReduceSum' ? 13 : 18;
    const found = axesOf(c, since);
    if (found === 'unknown') return [{ dtype, shape: keep ? x.map(() => null) : null }];
    axes = found;
    if (!axes || axes.length === 0) {
      if (attrInt(c.node, 'noop_with_empty_axes', 0) === 1) return [same(c)];
      axes = x.map((_, i) => i);
    }
  }
  const set = new Set(axes.map((a) => normAxis(a, x.length)));
  return [{ dtype, shape: keep ? x.map((d, i) => (set.has(i) ? 1 : d)) : x.filter((_, i) => !set.has(i)) }];
};

const shapeOp: Rule = (c) => {
  const x = c.shape(0);
  if (!x) return [{ dtype: DataType.INT64, shape: [null] }];
  const rank = x.length;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = clamp(attrInt(c.node, 'start', 0));
  const end = clamp(attrInt(c.node, 'end', rank));
  const value = x.slice(start, Math.max(start, end));
  return [{ dtype: DataType.INT64, shape: [value.length], value }];
};

const size: Rule = (c) => {
  const x = c.shape(0);
  const p = x ? product(x) : null;
  return [{ dtype: DataType.INT64, shape: [], value: [p] }];
};

const gather: Rule = (c) => {
  const data = c.shape(0);
  const indices = c.shape(1);
  const dtype = c.in(0)?.dtype ?? 0;
  if (!data || !indices) return [{ dtype, shape: null }];
  const axis = normAxis(attrInt(c.node, 'axis', 0), data.length);
  const shape = [...data.slice(0, axis), ...indices, ...data.slice(axis + 1)];
  let value: Dim[] | undefined;
  const dv = c.in(0)?.value;
  const iv = numbers(c.in(1));
  if (dv && iv && data.length === 1 && num(data[0])) {
    const n = data[0];
    value = iv.map((i) => dv[i < 0 ? i + n : i] ?? null);
  }
  return [{ dtype, shape, value }];
};

const constant: Rule = (c) => {
  const t = attrTensor(c.node, 'value');
  if (t) return [tensorInfo(t)];
  const f = attrFloat(c.node, 'value_float');
  if (f !== undefined) return [{ dtype: DataType.FLOAT, shape: [], value: [f] }];
  const fs = attrFloats(c.node, 'value_floats');
  if (fs) return [{ dtype: DataType.FLOAT, shape: [fs.length], value: fs.length <= MAX_TRACKED ? fs : undefined }];
  const i = attrInt(c.node, 'value_int');
  if (i !== undefined) return [{ dtype: DataType.INT64, shape: [], value: [i] }];
  const is = attrInts(c.node, 'value_ints');
  if (is) return [{ dtype: DataType.INT64, shape: [is.length], value: is.length <= MAX_TRACKED ? is : undefined }];
  if (getAttr(c.node, 'value_string')) return [{ dtype: DataType.STRING, shape: [] }];
  const ss = getAttr(c.node, 'value_strings');
  if (ss) return [{ dtype: DataType.STRING, shape: [ss.strings.length] }];
  const sparse = getAttr(c.node, 'sparse_value')?.sparseTensor;
  if (sparse) return [{ dtype: sparse.values?.dataType ?? 0, shape: [...sparse.dims] }];
  return [undefined];
};

const constantOfShape: Rule = (c) => {
  const dims = c.in(0)?.value;
  const t = attrTensor(c.node, 'value');
  const dtype = t?.dataType ?? DataType.FLOAT;
  if (!dims) return [{ dtype, shape: c.shape(0) && num(c.shape(0)![0]) ? new Array(c.shape(0)![0] as number).fill(null) : null }];
  const fill = t ? tensorValue(t)?.[0] : 0;
  const count = product(dims);
  const value = num(count) && count <= MAX_TRACKED && fill !== undefined ? new Array(count).fill(fill) : undefined;
  return [{ dtype, shape: [...dims], value }];
};

const range: Rule = (c) => {
  const [start, limit, delta] = [0, 1, 2].map((i) => numbers(c.in(i))?.[0]);
  const dtype = c.in(0)?.dtype ?? 0;
  if (start === undefined || limit === undefined || delta === undefined || delta === 0) return [{ dtype, shape: [null] }];
  const n = Math.max(Math.ceil((limit - start) / delta), 0);
  const value = n <= MAX_TRACKED ? Array.from({ length: n }, (_, i) => start + i * delta) : undefined;
  return [{ dtype, shape: [n], value }];
};

const expand: Rule = (c) => {
  const target = c.in(1)?.value ?? (c.shape(1) && num(c.shape(1)![0]) ? new Array<Dim>(c.shape(1)![0] as number).fill(null) : undefined);
  const dtype = c.in(0)?.dtype ?? 0;
  if (!target) return [{ dtype, shape: null }];
  return [{ dtype, shape: broadcastShapes([c.shape(0), target]) }];
};

const tile: Rule = (c) => {
  const x = c.shape(0);
  const repeats = numbers(c.in(1));
  const dtype = c.in(0)?.dtype ?? 0;
  if (!x || !repeats || repeats.length !== x.length) return [{ dtype, shape: x ? x.map(() => null) : null }];
  return [{ dtype, shape: x.map((d, i) => (repeats[i] === 1 ? d : num(d) ? d * repeats[i] : null)) }];
};

const pad: Rule = (c) => {
  const x = c.shape(0);
  const dtype = c.in(0)?.dtype ?? 0;
  const pads = c.opset >= 11 ? numbers(c.in(1)) : (attrInts(c.node, 'pads') ?? attrInts(c.node, 'paddings'));
  if (!x || !pads) return [{ dtype, shape: x ? x.map(() => null) : null }];
  const axes = (c.node.input[3] ? numbers(c.in(3)) : undefined)?.map((a) => normAxis(a, x.length)) ?? x.map((_, i) => i);
  if (pads.length !== axes.length * 2) return [{ dtype, shape: x.map(() => null) }];
  const out = [...x];
  axes.forEach((a, i) => {
    const d = x[a];
    out[a] = pads[i] === 0 && pads[i + axes.length] === 0 ? d : num(d) ? d + pads[i] + pads[i + axes.length] : null;
  });
  return [{ dtype, shape: out }];
};

const resize: Rule = (c) => {
  const x = c.shape(0);
  const dtype = c.in(0)?.dtype ?? 0;
  if (!x) return [{ dtype, shape: null }];
  const op = c.node.opType;
  let scales: number[] | undefined;
  let sizes: number[] | undefined;
  if (op === 'Upsample' && c.opset < 9) scales = attrFloats(c.node, 'scales');
  else if (op === 'Upsample' || c.opset < 11) scales = numbers(c.in(1));
  else {
    const s = c.node.input[2] ? numbers(c.in(2)) : undefined;
    scales = s && s.length > 0 ? s : undefined;
    const z = c.node.input[3] ? numbers(c.in(3)) : undefined;
    sizes = z && z.length > 0 ? z : undefined;
  }
  const axes = attrInts(c.node, 'axes')?.map((a) => normAxis(a, x.length)) ?? x.map((_, i) => i);
  const out = [...x];
  if (sizes && sizes.length === axes.length) {
    axes.forEach((a, i) => (out[a] = sizes![i]));
    return [{ dtype, shape: out }];
  }
  if (scales && scales.length === axes.length) {
    axes.forEach((a, i) => {
      const d = x[a];
      out[a] = scales![i] === 1 ? d : num(d) ? Math.floor(d * scales![i]) : null;
    });
    return [{ dtype, shape: out }];
  }
  return [{ dtype, shape: x.map(() => null) }];
};

const batchNorm: Rule = (c) => {
  const x = same(c);
  const channels = x.shape && x.shape.length > 1 ? [x.shape[1]] : null;
  return [x, ...c.node.output.slice(1).map(() => ({ dtype: x.dtype, shape: channels }))];
};

const layerNorm: Rule = (c) => {
  const x = same(c);
  const axis = attrInt(c.node, 'axis', -1);
  const stats = x.shape ? x.shape.map((d, i) => (i >= normAxis(axis, x.shape!.length) ? 1 : d)) : null;
  return [x, { dtype: DataType.FLOAT, shape: stats }, { dtype: DataType.FLOAT, shape: stats }];
};

const dropout: Rule = (c) => [same(c), { dtype: DataType.BOOL, shape: c.shape(0) }];

const depthToSpace =
  (toSpace: boolean): Rule =>
  (c) => {
    const x = c.shape(0);
    const b = attrInt(c.node, 'blocksize', 1);
    const dtype = c.in(0)?.dtype ?? 0;
    if (!x || x.length !== 4) return [{ dtype, shape: null }];
    const [n, ch, h, w] = x;
    const mul = (d: Dim, f: number): Dim => (num(d) ? d * f : null);
    return toSpace
      ? [{ dtype, shape: [n, num(ch) ? ch / (b * b) : null, mul(h, b), mul(w, b)] }]
      : [{ dtype, shape: [n, mul(ch, b * b), num(h) ? h / b : null, num(w) ? w / b : null] }];
  };

const topK: Rule = (c) => {
  const x = c.shape(0);
  const k = c.opset >= 10 ? numbers(c.in(1))?.[0] : attrInt(c.node, 'k');
  if (!x) return [same(c), { dtype: DataType.INT64, shape: null }];
  const axis = normAxis(attrInt(c.node, 'axis', -1), x.length);
  const shape = x.map((d, i) => (i === axis ? (k ?? null) : d));
  return [
    { dtype: c.in(0)?.dtype ?? 0, shape },
    { dtype: DataType.INT64, shape },
  ];
};

const quantize: Rule = (c) => [same(c, 0, c.in(2)?.dtype || attrInt(c.node, 'output_dtype', 0) || DataType.UINT8)];
const dequantize: Rule = (c) => [same(c, 0, c.in(1)?.dtype || DataType.FLOAT)];
const dynamicQuantize: Rule = (c) => [same(c, 0, DataType.UINT8), { dtype: DataType.FLOAT, shape: [] }, { dtype: DataType.UINT8, shape: [] }];

const qlinearConcat: Rule = (c) => {
  // inputs: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) triplets
  const xs = c.node.input.map((_, i) => i).filter((i) => i >= 2 && (i - 2) % 3 === 0);
  const fake: Ctx = { ...c, in: (i) => c.in(xs[i]), shape: (i) => c.shape(xs[i]), node: { ...c.node, input: xs.map((i) => c.node.input[i]) } };
  return concat(fake);
};

const matMulNBits: Rule = (c) => {
  const a = c.shape(0);
  const n = attrInt(c.node, 'N');
  return [{ dtype: c.in(0)?.dtype ?? 0, shape: a && n !== undefined ? [...a.slice(0, -1), n] : null }];
};

const oneHot: Rule = (c) => {
  const x = c.shape(0);
  const depth = numbers(c.in(1));
  if (!x) return [{ dtype: c.in(2)?.dtype ?? 0, shape: null }];
  const at = normAxis(attrInt(c.node, 'axis', -1), x.length + 1);
  const shape = [...x];
  shape.splice(at, 0, depth?.length === 1 ? depth[0] : null);
  return [{ dtype: c.in(2)?.dtype ?? 0, shape }];
};

const nonZero: Rule = (c) => [{ dtype: DataType.INT64, shape: c.shape(0) ? [c.shape(0)!.length, null] : [null, null] }];

/** Gates per recurrent cell: weights W are [directions, gates × hidden, input]. */
export const RNN_GATES: Readonly<Record<string, number>> = { LSTM: 4, GRU: 3, RNN: 1 };

const recurrent: Rule = (c) => {
  const x = c.shape(0);
  const w = c.shape(1);
  const dtype = c.in(0)?.dtype ?? 0;
  const gates = RNN_GATES[c.node.opType];
  const directions = attrString(c.node, 'direction', 'forward') === 'bidirectional' ? 2 : 1;
  const hidden: Dim = attrInt(c.node, 'hidden_size') ?? (w && num(w[1]) ? w[1] / gates : null);
  const batchFirst = attrInt(c.node, 'layout', 0) === 1;
  const seq = x && x.length === 3 ? x[batchFirst ? 1 : 0] : null;
  const batch = x && x.length === 3 ? x[batchFirst ? 0 : 1] : null;
  const y: Shape = batchFirst ? [batch, seq, directions, hidden] : [seq, directions, batch, hidden];
  const state: Shape = batchFirst ? [batch, directions, hidden] : [directions, batch, hidden];
  return [
    { dtype, shape: y },
    { dtype, shape: state },
    { dtype, shape: state },
  ];
};

const UNARY_OPS = [
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Sigmoid',
  'Tanh',
  'HardSigmoid',
  'HardSwish',
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'Erf',
  'Exp',
  'Log',
  'Sqrt',
  'Neg',
  'Abs',
  'Reciprocal',
  'Clip',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Softplus',
  'Softsign',
  'Identity',
  'Cast',
  'CastLike',
  'Not',
  'IsNaN',
  'IsInf',
  'Mish',
  'Sin',
  'Cos',
  'Tan',
  'Asin',
  'Acos',
  'Atan',
  'Sinh',
  'Cosh',
  'ThresholdedRelu',
  'Shrink',
  'Softmax',
  'LogSoftmax',
  'Hardmax',
  'CumSum',
  'Trilu',
  'InstanceNormalization',
  'LRN',
  'MeanVarianceNormalization',
  'LpNormalization',
  'GroupNormalization',
  'BitwiseNot',
  'ReverseSequence',
  'ScatterND',
  'ScatterElements',
  'Scatter',
  'Acosh',
  'Asinh',
  'Atanh',
  'Bernoulli',
  'EyeLike',
  'RandomNormalLike',
  'RandomUniformLike',
] as const;

const BROADCAST_OPS = [
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'Mod',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'And',
  'Or',
  'Xor',
  'Where',
  'BitShift',
  'BitwiseAnd',
  'BitwiseOr',
  'BitwiseXor',
] as const;

const ONNX_RULES: Record<string, Rule> = {
  Conv: conv(0, 1),
  QLinearConv: conv(0, 3),
  ConvInteger: convInteger,
  ConvTranspose: convTranspose,
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  MatMul: matmul(0, 1),
  MatMulInteger: matmul(0, 1, DataType.INT32),
  QLinearMatMul: matmul(0, 3, 0),
  Gemm: gemm(0, 1),
  Flatten: flatten,
  Reshape: reshape,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Resize: resize,
  Upsample: resize,
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  Dropout: dropout,
  Shape: shapeOp,
  Size: size,
  Gather: gather,
  GatherElements: (c) => [{ dtype: c.in(0)?.dtype ?? 0, shape: c.shape(1) }],
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Range: range,
  Expand: expand,
  Tile: tile,
  Pad: pad,
  DepthToSpace: depthToSpace(true),
  SpaceToDepth: depthToSpace(false),
  TopK: topK,
  ArgMax: reduce,
  ArgMin: reduce,
  QuantizeLinear: quantize,
  DequantizeLinear: dequantize,
  DynamicQuantizeLinear: dynamicQuantize,
  NonZero: nonZero,
  OneHot: oneHot,
  LSTM: recurrent,
  GRU: recurrent,
  RNN: recurrent,
  ...Object.fromEntries(
    ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'].map(
      (op) => [op, reduce],
    ),
  ),
  ...Object.fromEntries(UNARY_OPS.map((op) => [op, unary])),
  ...Object.fromEntries(BROADCAST_OPS.map((op) => [op, broadcastOp()])),
};

const MS_RULES: Record<string, Rule> = {
  QLinearConv: conv(0, 3),
  FusedConv: conv(0, 1),
  NhwcConv: (c) => {
    // NHWC: treat as NCHW on transposed views.
    const x = c.shape(0);
    const w = c.shape(1);
    if (!x || x.length < 3) return [{ dtype: c.in(0)?.dtype ?? 0, shape: null }];
    const nchw = [x[0], x[x.length - 1], ...x.slice(1, -1)];
    const out = convLike(c, nchw, w, 'conv');
    return [{ dtype: c.in(0)?.dtype ?? 0, shape: out ? [out[0], ...out.slice(2), out[1]] : null }];
  },
  FusedMatMul: (c) => {
    const ta = attrInt(c.node, 'transA', 0) === 1;
    const tb = attrInt(c.node, 'transB', 0) === 1;
    const t = (s: Shape | null, on: boolean): Shape | null => (s && on && s.length >= 2 ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s);
    return [{ dtype: c.in(0)?.dtype ?? 0, shape: matmulShape(t(c.shape(0), ta), t(c.shape(1), tb)) }];
  },
  MatMulNBits: matMulNBits,
  MatMulIntegerToFloat: matmul(0, 1, DataType.FLOAT),
  DynamicQuantizeMatMul: matmul(0, 1, DataType.FLOAT),
  QGemm: gemm(0, 3),
  QLinearMatMul: matmul(0, 3, 0),
  QLinearAdd: broadcastOp([0, 3]),
  QLinearMul: broadcastOp([0, 3]),
  QLinearSigmoid: unary,
  QLinearLeakyRelu: unary,
  QLinearSoftmax: unary,
  QLinearAveragePool: pool,
  QLinearGlobalAveragePool: (c) => {
    const x = c.shape(0);
    const last = attrInt(c.node, 'channels_last', 0) === 1;
    if (!x) return [same(c)];
    return [{ dtype: c.in(0)?.dtype ?? 0, shape: last ? [x[0], ...x.slice(1, -1).map(() => 1), x[x.length - 1]] : [x[0], x[1], ...x.slice(2).map(() => 1)] }];
  },
  QLinearConcat: qlinearConcat,
  QuantizeLinear: quantize,
  DequantizeLinear: dequantize,
  Gelu: unary,
  FastGelu: unary,
  BiasGelu: unary,
  QuickGelu: unary,
  SkipLayerNormalization: (c) => [same(c)],
  SkipSimplifiedLayerNormalization: (c) => [same(c)],
  SimplifiedLayerNormalization: (c) => [same(c)],
};

/** Operator key used in histograms and `unsupportedOps`: 'Conv', 'com.microsoft.QLinearConv'. */
export const opKey = (node: Pick<NodeProto, 'domain' | 'opType'>): string =>
  node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType}` : node.opType;

function ruleFor(node: NodeProto): Rule | undefined {
  if (!node.domain || node.domain === 'ai.onnx') return ONNX_RULES[node.opType];
  if (node.domain === 'com.microsoft') return MS_RULES[node.opType];
  return undefined;
}

// ───────────────────────────── element types ─────────────────────────────

const isDefaultDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';

const subgraphOutputType = (node: NodeProto, attrName: string, index: number): number | undefined => {
  const t = getAttr(node, attrName)?.g?.output[index]?.type?.tensorType?.elemType;
  return t ? t : undefined;
};

function constantValueType(node: NodeProto): number | undefined {
  for (const a of node.attribute) {
    switch (a.name) {
      case 'value':
        return a.t?.dataType;
      case 'sparse_value':
        return a.sparseTensor?.values?.dataType;
      case 'value_float':
      case 'value_floats':
        return DataType.FLOAT;
      case 'value_int':
      case 'value_ints':
        return DataType.INT64;
      case 'value_string':
      case 'value_strings':
        return DataType.STRING;
      default:
        break;
    }
  }
  return undefined;
}

/**
 * Operators newer than the signature table (opsets 18–23) whose outputs have the type of input 0, so
 * that inference does not stop at them.
 */
const NEWER_SAME_TYPE = new Set([
  'Gelu',
  'Mish',
  'GroupNormalization',
  'RMSNormalization',
  'BitwiseNot',
  'BitwiseAnd',
  'BitwiseOr',
  'BitwiseXor',
  'CenterCropPad',
  'Swish',
  'RotaryEmbedding',
  'AffineGrid',
]);

/**
 * The element type of output `k` of a default-domain `node` by its operator signature (and the few
 * ops whose output type an attribute or a sub-graph decides), given the types of its inputs;
 * undefined when the signature cannot tell.
 */
function outputElemType(node: NodeProto, k: number, inType: (i: number) => number | undefined, opset: number): number | undefined {
  if (!isDefaultDomain(node.domain)) return undefined;
  switch (node.opType) {
    case 'Constant':
      return constantValueType(node);
    case 'Cast':
      return attrInt(node, 'to');
    case 'CastLike':
      return inType(1);
    case 'ConstantOfShape':
      return attrTensor(node, 'value')?.dataType ?? DataType.FLOAT;
    case 'RandomNormal':
    case 'RandomUniform':
      return attrInt(node, 'dtype', DataType.FLOAT);
    case 'RandomNormalLike':
    case 'RandomUniformLike':
    case 'EyeLike':
    case 'Bernoulli':
      return attrInt(node, 'dtype') ?? inType(0);
    case 'Multinomial':
      return attrInt(node, 'dtype', DataType.INT32);
    case 'QuantizeLinear':
      return inType(2) ?? attrInt(node, 'output_dtype') ?? DataType.UINT8;
    case 'DequantizeLinear':
      return opset >= 19 ? inType(1) : DataType.FLOAT;
    case 'DynamicQuantizeLinear':
      return k === 1 ? DataType.FLOAT : DataType.UINT8;
    case 'LayerNormalization':
      return k === 0 ? inType(0) : attrInt(node, 'stash_type', DataType.FLOAT);
    case 'If':
      return subgraphOutputType(node, 'then_branch', k) ?? subgraphOutputType(node, 'else_branch', k);
    case 'Loop':
      return subgraphOutputType(node, 'body', k + 1);
    case 'Scan':
      return subgraphOutputType(node, 'body', k);
    default:
      break;
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

/** The ai.onnx opset a model imports (17 when it imports none). */
export function defaultOpset(model: Pick<ModelProto, 'opsetImport'>): number {
  return model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 17;
}

// ───────────────────────────── the walk ─────────────────────────────

/** What inference reads: a GraphProto (a model's graph or a sub-graph) or a compiler pass's Graph, seen the same way. */
interface GraphView {
  readonly nodes: readonly NodeProto[];
  readonly inputs: readonly ValueInfoProto[];
  readonly initializers: Iterable<TensorProto>;
  readonly sparseInitializers: Iterable<SparseTensorProto>;
  /** The declaration of a node output: value_info or graph output. */
  declared(name: string): ValueInfoProto | undefined;
}

function viewOf(graph: GraphProto | Graph): GraphView {
  if (graph instanceof Graph) {
    const outputs = new Map(graph.outputs.map((vi) => [vi.name, vi]));
    return {
      nodes: graph.nodes,
      inputs: graph.inputs,
      initializers: graph.initializers.values(),
      sparseInitializers: [],
      declared: (name) => outputs.get(name) ?? (graph.inputs.some((vi) => vi.name === name) ? undefined : graph.valueInfo(name)),
    };
  }
  const declared = new Map<string, ValueInfoProto>();
  for (const vi of [...graph.valueInfo, ...graph.output]) declared.set(vi.name, vi);
  return {
    nodes: graph.node,
    inputs: graph.input,
    initializers: graph.initializer,
    sparseInitializers: graph.sparseInitializer,
    declared: (name) => declared.get(name),
  };
}

/**
 * Nodes in an order where producers come first (ONNX requires it, but not every exporter obeys);
 * names in `available` (graph inputs, initializers, outer names) depend on no node.
 */
function topoOrder(nodes: readonly NodeProto[], available: Set<string>): NodeProto[] {
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output) if (o && !available.has(o)) producer.set(o, n);
  return topologicalOrder(nodes, { producer: (name) => producer.get(name), onCycle: 'keep' });
}

/** Merge inferred and declared shapes dimension by dimension: numbers beat symbols beat unknown. */
function merge(inferred: Shape | null, declared: Shape | null, trustDeclaredNumbers: boolean): Shape | null {
  if (!declared) return inferred;
  const usable = trustDeclaredNumbers ? declared : declared.map((d) => (num(d) ? null : d));
  if (!inferred) return trustDeclaredNumbers || usable.some((d) => d !== null) ? [...usable] : null;
  if (inferred.length !== declared.length) return inferred;
  return inferred.map((d, i) => {
    if (num(d)) return d;
    const v = usable[i];
    if (num(v)) return v;
    return d ?? v ?? null;
  });
}

/**
 * Infer element types, shapes and small values of every tensor in `graph` (a GraphProto, or a
 * compiler pass's Graph).
 */
export function inferShapes(graph: GraphProto | Graph, options: ShapeInferenceOptions = {}): ShapeInferenceResult {
  const opset = options.opset ?? 17;
  const view = viewOf(graph);
  const values = new Map<string, TensorInfo>(options.outer ?? []);
  const unknown = new Set<string>();
  const unsupportedOps = new Map<string, number>();
  const fromValueInfo = new Set<string>();
  const useValueInfo = options.useValueInfo !== false;
  const overrides = options.inputShapes ?? {};

  const initializerNames = new Set<string>();
  for (const t of view.initializers) {
    initializerNames.add(t.name);
    values.set(t.name, tensorInfo(t));
  }
  for (const s of view.sparseInitializers) if (s.values) values.set(s.values.name, { dtype: s.values.dataType, shape: [...s.dims] });

  // Declared shapes become stale when the caller changes a fixed input dimension.
  let trustDeclaredNumbers = true;
  for (const input of view.inputs) {
    const declared = declaredShape(input);
    const given = overrides[input.name];
    if (given && declared && declared.some((d, i) => num(d) && num(given[i]) && d !== given[i])) trustDeclaredNumbers = false;
    if (initializerNames.has(input.name) && !given) continue; // an initializer's default value is what runs
    values.set(input.name, { dtype: declaredDtype(input), shape: given ? [...given] : declared });
  }

  const declaredInfo = (name: string): ValueInfoProto | undefined => (useValueInfo ? view.declared(name) : undefined);
  const order = topoOrder(view.nodes, new Set(values.keys()));
  // Names read but defined nowhere here (an enclosing graph's, when no `outer` tells): what value_info declares.
  const produced = new Set(order.flatMap((n) => n.output));
  for (const node of order) {
    for (const name of node.input) {
      if (!name || values.has(name) || produced.has(name)) continue;
      const vi = declaredInfo(name);
      if (vi) values.set(name, { dtype: declaredDtype(vi), shape: declaredShape(vi) });
    }
  }

  for (const node of order) {
    const rule = ruleFor(node);
    let outs: Out[] = [];
    const inInfo = (i: number): TensorInfo | undefined => (node.input[i] ? values.get(node.input[i]) : undefined);
    if (rule) {
      const ctx: Ctx = { node, opset, in: inInfo, shape: (i) => inInfo(i)?.shape ?? null };
      try {
        outs = rule(ctx);
      } catch {
        outs = []; // malformed attributes: the runtime reports those; here the outputs stay unknown
      }
    } else {
      const key = opKey(node);
      unsupportedOps.set(key, (unsupportedOps.get(key) ?? 0) + 1);
    }
    const inType = (i: number): number | undefined => inInfo(i)?.dtype || undefined;
    node.output.forEach((name, i) => {
      if (!name) return;
      const info: TensorInfo = outs[i] ? { ...outs[i]! } : { dtype: 0, shape: null };
      let signatureType: number | undefined;
      try {
        signatureType = outputElemType(node, i, inType, opset);
      } catch {
        signatureType = undefined; // a malformed attribute: the type stays what the rule says
      }
      if (signatureType) info.dtype = signatureType;
      if (info.value && info.shape && isConcrete(info.shape) && elementCount(info.shape) !== info.value.length) delete info.value;
      const vi = declaredInfo(name);
      if (vi) {
        const before = info.shape;
        info.shape = merge(info.shape, declaredShape(vi), trustDeclaredNumbers);
        if (JSON.stringify(before) !== JSON.stringify(info.shape)) fromValueInfo.add(name);
        if (!info.dtype) info.dtype = declaredDtype(vi);
      }
      if (!isFullyKnown(info.shape)) unknown.add(name);
      values.set(name, info);
    });
  }
  return { values, unknown, unsupportedOps, fromValueInfo };
}

/** The element type of every tensor whose type is known (compiler passes' view of an inference result). */
export function elementTypes(values: ReadonlyMap<string, TensorInfo>): Map<string, number> {
  const types = new Map<string, number>();
  for (const [name, info] of values) if (info.dtype) types.set(name, info.dtype);
  return types;
}

/** The element types of a graph's tensors: `elementTypes(inferShapes(graph, { opset }).values)`. */
export const inferElemTypes = (graph: GraphProto | Graph, opset: number): Map<string, number> => elementTypes(inferShapes(graph, { opset }).values);

/** inferShapes on a model's main graph, with its ai.onnx opset. */
export function inferModelShapes(model: ModelProto, options: Omit<ShapeInferenceOptions, 'opset'> = {}): ShapeInferenceResult {
  if (!model.graph) throw new TypeError('inferModelShapes: the model has no graph');
  return inferShapes(model.graph, { ...options, opset: defaultOpset(model) });
}
