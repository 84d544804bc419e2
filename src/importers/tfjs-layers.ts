/**
 * Keras layers (as TF.js saves them) → ONNX nodes. Pure.
 *
 * Layout: TF.js tensors are channels-last (NHWC); ONNX convolutions and pools are NCHW. Each value
 * carries its TF ("logical") shape and the layout it physically has in the ONNX graph. Convolutions
 * and pools ask for NCHW, shape-sensitive layers (Dense, Flatten, Reshape, outputs) ask for TF
 * layout, and a Transpose is inserted only where the layout changes. Elementwise layers keep
 * whatever layout they get, so a conv stack stays NCHW from its first conv to its Flatten.
 */
import { KilnError } from '../errors.js';
import { float, int, ints, str, type AttrValue, type GraphEmitter } from './onnx-emit.js';
import type { LayerSpec, TfjsWeight } from './tfjs-format.js';

/** A dimension of a TF shape; null where unknown (the batch, or a dynamic size). */
export type Dim = number | null;

export interface Value {
  /** ONNX value name. */
  name: string;
  /** Shape as TF.js sees it (channels last). */
  shape: Dim[];
  /** 'nchw': a rank-4 value stored as [N, C, H, W] in the ONNX graph; 'tf': stored as `shape` says. */
  layout: 'tf' | 'nchw';
}

/** What a layer converter gets: its layer, the graph, its weights and a few helpers. */
export interface LayerContext {
  readonly layer: LayerSpec;
  readonly emit: GraphEmitter;
  /** Base for the names of the values and nodes this call creates. */
  readonly base: string;
  /** The layer's weight `key` (kernel, bias, gamma, ...), or a CONVERT error naming the layer. */
  weight(key: string, expectedShape?: readonly Dim[]): TfjsWeight;
  /** An initializer made once per layer and key (shared layers reuse it). */
  init(key: string, dims: readonly number[], make: () => Float32Array): string;
  toTf(v: Value): Value;
  toNchw(v: Value): Value;
  fail(message: string, hint?: string): never;
}

export type LayerConverter = (ctx: LayerContext, inputs: Value[]) => Value;

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Read a config key written snake_case (Keras, model.json) or camelCase (a TF.js getConfig()). */
function cfg(ctx: LayerContext, key: string): unknown {
  const c = ctx.layer.config;
  if (key in c) return c[key];
  const camel = key.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
  return c[camel];
}

function num(ctx: LayerContext, key: string, fallback: number): number {
  const v = cfg(ctx, key);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) ctx.fail(`${key} is ${JSON.stringify(v)}, not a number`);
  return v;
}

/** A required positive integer option (units, filters). */
function count(ctx: LayerContext, key: string): number {
  const v = cfg(ctx, key);
  if (!Number.isInteger(v) || (v as number) < 1) ctx.fail(`${key} is ${JSON.stringify(v)}; expected a positive integer`);
  return v as number;
}

function bool(ctx: LayerContext, key: string, fallback: boolean): boolean {
  const v = cfg(ctx, key);
  return typeof v === 'boolean' ? v : fallback;
}

/** A 2-tuple option written as n or [a, b]. */
function pair(ctx: LayerContext, key: string, fallback?: [number, number]): [number, number] {
  const v = cfg(ctx, key);
  if ((v === undefined || v === null) && fallback) return fallback;
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x > 0)) return [v[0], v[1]];
  ctx.fail(`${key} is ${JSON.stringify(v)}; expected a positive integer or a pair of them`);
}

function requireChannelsLast(ctx: LayerContext): void {
  const f = cfg(ctx, 'data_format');
  if (f !== undefined && f !== null && f !== 'channels_last') {
    ctx.fail(`data_format '${String(f)}' is not supported`, "supported: 'channels_last' (TF.js's default): re-create the layer with dataFormat 'channelsLast'");
  }
}

function requireRank(ctx: LayerContext, v: Value, rank: number, what: string): void {
  if (v.shape.length !== rank) ctx.fail(`${what} needs a rank-${rank} input, got shape [${fmtShape(v.shape)}]`);
}

export const fmtShape = (s: readonly Dim[]): string => s.map((d) => (d === null ? 'null' : String(d))).join(', ');

function paddingMode(ctx: LayerContext): 'valid' | 'same' {
  const p = cfg(ctx, 'padding') ?? 'valid';
  if (p !== 'valid' && p !== 'same') ctx.fail(`padding '${String(p)}' is not supported`, "supported: 'valid' and 'same'");
  return p;
}

/** Output size of a conv or pool along one axis, as TF computes it. */
function outSize(size: Dim, k: number, s: number, d: number, padding: 'valid' | 'same'): Dim {
  if (size === null) return null;
  const effective = (k - 1) * d + 1;
  return padding === 'same' ? Math.ceil(size / s) : Math.max(0, Math.ceil((size - effective + 1) / s));
}

/** ONNX padding attributes for TF's 'valid' / 'same' over H and W (explicit pads where sizes are known). */
function padAttrs(padding: 'valid' | 'same', hw: [Dim, Dim], k: [number, number], s: [number, number], d: [number, number]): Record<string, AttrValue> {
  if (padding === 'valid') return { pads: ints([0, 0, 0, 0]) };
  if (hw[0] === null || hw[1] === null) return { auto_pad: str('SAME_UPPER') };
  const begin: number[] = [];
  const end: number[] = [];
  for (let a = 0; a < 2; a++) {
    const size = hw[a] as number;
    const out = Math.ceil(size / s[a]);
    const total = Math.max(0, (out - 1) * s[a] + (k[a] - 1) * d[a] + 1 - size);
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
  }
  return { pads: ints([...begin, ...end]) };
}

/** Transpose a dense row-major array. */
export function permute(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  for (let r = rank - 1, acc = 1; r >= 0; r--) {
    strides[r] = acc;
    acc *= shape[r];
  }
  const outShape = perm.map((p) => shape[p]);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let off = 0;
    for (let r = 0; r < rank; r++) off += idx[r] * strides[perm[r]];
    out[o] = data[off];
    for (let r = rank - 1; r >= 0; r--) {
      if (++idx[r] < outShape[r]) break;
      idx[r] = 0;
    }
  }
  return out;
}

/** Where logical (channels-last) axis `axis` sits in the value's physical layout. */
function physicalAxis(v: Value, axis: number): number {
  if (v.layout === 'tf') return axis;
  return [0, 2, 3, 1][axis];
}

/** Normalize a possibly negative axis for a rank; fails if out of range. */
function normAxis(ctx: LayerContext, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) ctx.fail(`axis ${axis} is out of range for a rank-${rank} input`);
  return a;
}

const withName = (v: Value, name: string, shape: Dim[] = v.shape): Value => ({ name, shape, layout: v.layout });

// ---------------------------------------------------------------------------------------------
// Activations

type ActivationFn = (e: GraphEmitter, x: string, axis: number, base: string) => string;

const unary =
  (op: string, attrs: Record<string, AttrValue> = {}): ActivationFn =>
  (e, x, _axis, base) =>
    e.op(op, [x], attrs, base);

const ACTIVATIONS: Readonly<Record<string, ActivationFn>> = {
  linear: (_e, x) => x,
  relu: unary('Relu'),
  relu6: (e, x, _a, base) => e.op('Clip', [x, e.scalar(0), e.scalar(6)], {}, base),
  sigmoid: unary('Sigmoid'),
  // TF.js's hard sigmoid is clip(0.2·x + 0.5, 0, 1) (Keras 2's too).
  hard_sigmoid: unary('HardSigmoid', { alpha: float(0.2), beta: float(0.5) }),
  tanh: unary('Tanh'),
  softmax: (e, x, axis, base) => e.op('Softmax', [x], { axis: int(axis) }, base),
  log_softmax: (e, x, axis, base) => e.op('LogSoftmax', [x], { axis: int(axis) }, base),
  elu: unary('Elu', { alpha: float(1) }),
  selu: unary('Selu'),
  softplus: unary('Softplus'),
  softsign: unary('Softsign'),
  exponential: unary('Exp'),
  swish: (e, x, _a, base) => e.op('Mul', [x, e.op('Sigmoid', [x], {}, `${base}/sigmoid`)], {}, base),
  mish: (e, x, _a, base) => e.op('Mul', [x, e.op('Tanh', [e.op('Softplus', [x], {}, `${base}/softplus`)], {}, `${base}/tanh`)], {}, base),
  // 0.5 · x · (1 + erf(x / √2))
  gelu: (e, x, _a, base) => {
    const erf = e.op('Erf', [e.op('Mul', [x, e.scalar(Math.SQRT1_2)], {}, `${base}/scaled`)], {}, `${base}/erf`);
    const half = e.op('Mul', [e.op('Add', [erf, e.scalar(1)], {}, `${base}/cdf`), e.scalar(0.5)], {}, `${base}/halfcdf`);
    return e.op('Mul', [x, half], {}, base);
  },
  // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))
  gelu_new: (e, x, _a, base) => {
    const cube = e.op('Mul', [x, e.op('Mul', [x, x], {}, `${base}/sq`)], {}, `${base}/cube`);
    const inner = e.op('Add', [x, e.op('Mul', [cube, e.scalar(0.044715)], {}, `${base}/c3`)], {}, `${base}/inner`);
    const t = e.op('Tanh', [e.op('Mul', [inner, e.scalar(Math.sqrt(2 / Math.PI))], {}, `${base}/arg`)], {}, `${base}/tanh`);
    const half = e.op('Mul', [e.op('Add', [t, e.scalar(1)], {}, `${base}/onep`), e.scalar(0.5)], {}, `${base}/half`);
    return e.op('Mul', [x, half], {}, base);
  },
};

const ACTIVATION_ALIASES: Readonly<Record<string, string>> = {
  hardSigmoid: 'hard_sigmoid',
  logSoftmax: 'log_softmax',
  silu: 'swish',
  geluNew: 'gelu_new',
};

export const SUPPORTED_ACTIVATIONS: readonly string[] = Object.keys(ACTIVATIONS);

/** The activation name in a layer config: a string, or Keras 3's {class_name, config} form. */
function activationName(ctx: LayerContext, value: unknown): string {
  if (value === undefined || value === null) return 'linear';
  if (typeof value === 'string') return ACTIVATION_ALIASES[value] ?? value;
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const inner = typeof o.config === 'string' ? o.config : typeof o.registered_name === 'string' ? o.registered_name : o.class_name;
    if (typeof inner === 'string') return ACTIVATION_ALIASES[inner] ?? inner;
  }
  ctx.fail(`activation ${JSON.stringify(value)} is not understood`, `supported activations: ${SUPPORTED_ACTIVATIONS.join(', ')}`);
}

/** Apply the activation named by `value` (a layer's `activation` option) to `v`. */
export function applyActivation(ctx: LayerContext, v: Value, value: unknown, axis = -1): Value {
  const name = activationName(ctx, value);
  const fn = ACTIVATIONS[name];
  if (!fn) ctx.fail(`activation '${name}' is not supported`, `supported activations: ${SUPPORTED_ACTIVATIONS.join(', ')}`);
  if (name === 'linear') return v;
  const phys = physicalAxis(v, normAxis(ctx, axis, v.shape.length));
  return withName(v, fn(ctx.emit, v.name, phys, `${ctx.base}/${name}`));
}

// ---------------------------------------------------------------------------------------------
// Layers

const identity: LayerConverter = (_ctx: LayerContext, [x]) => x;

const dense: LayerConverter = (ctx: LayerContext, [input]) => {
  const x = ctx.toTf(input);
  if (x.shape.length < 2) ctx.fail(`needs an input of rank ≥ 2, got [${fmtShape(x.shape)}]`);
  const units = count(ctx, 'units');
  const inDim = x.shape[x.shape.length - 1];
  const kernel = ctx.weight('kernel', [inDim, units]);
  const w = ctx.init('kernel', kernel.shape, () => kernel.data);
  const useBias = bool(ctx, 'use_bias', true);
  const b = useBias ? ctx.init('bias', [units], () => ctx.weight('bias', [units]).data) : undefined;
  const shape = [...x.shape.slice(0, -1), units];
  let y: string;
  if (x.shape.length === 2) {
    y = ctx.emit.op('Gemm', b ? [x.name, w, b] : [x.name, w], {}, ctx.base);
  } else {
    y = ctx.emit.op('MatMul', [x.name, w], {}, b ? `${ctx.base}/matmul` : ctx.base);
    if (b) y = ctx.emit.op('Add', [y, b], {}, ctx.base);
  }
  return applyActivation(ctx, { name: y, shape, layout: 'tf' }, cfg(ctx, 'activation'));
};

const conv2d: LayerConverter = (ctx: LayerContext, [input]) => {
  requireChannelsLast(ctx);
  requireRank(ctx, input, 4, 'Conv2D');
  const x = ctx.toNchw(input);
  const k = pair(ctx, 'kernel_size');
  const s = pair(ctx, 'strides', [1, 1]);
  const d = pair(ctx, 'dilation_rate', [1, 1]);
  const padding = paddingMode(ctx);
  const groups = cfg(ctx, 'groups') === undefined || cfg(ctx, 'groups') === null ? 1 : count(ctx, 'groups');
  const filters = count(ctx, 'filters');
  const cin = input.shape[3];
  const kernel = ctx.weight('kernel', [k[0], k[1], cin === null ? null : cin / groups, filters]);
  const [kh, kw, cinPerGroup, cout] = kernel.shape;
  const w = ctx.init('kernel', [cout, cinPerGroup, kh, kw], () => permute(kernel.data, kernel.shape, [3, 2, 0, 1]));
  const inputs = [x.name, w];
  if (bool(ctx, 'use_bias', true)) inputs.push(ctx.init('bias', [cout], () => ctx.weight('bias', [cout]).data));
  const hw: [Dim, Dim] = [input.shape[1], input.shape[2]];
  const y = ctx.emit.op(
    'Conv',
    inputs,
    {
      kernel_shape: ints([kh, kw]),
      strides: ints(s),
      dilations: ints(d),
      group: int(groups),
      ...padAttrs(padding, hw, [kh, kw], s, d),
    },
    ctx.base,
  );
  const shape: Dim[] = [input.shape[0], outSize(hw[0], kh, s[0], d[0], padding), outSize(hw[1], kw, s[1], d[1], padding), cout];
  return applyActivation(ctx, { name: y, shape, layout: 'nchw' }, cfg(ctx, 'activation'));
};

/** Depthwise conv of `input` with a [kh, kw, cin, mult] kernel as a grouped ONNX Conv; no activation. */
function depthwise(ctx: LayerContext, input: Value, withBias: boolean, base: string): Value {
  requireChannelsLast(ctx);
  requireRank(ctx, input, 4, ctx.layer.className);
  const x = ctx.toNchw(input);
  const k = pair(ctx, 'kernel_size');
  const s = pair(ctx, 'strides', [1, 1]);
  const d = pair(ctx, 'dilation_rate', [1, 1]);
  const padding = paddingMode(ctx);
  // TF.js's SeparableConv2D does not save depth_multiplier: the kernel's shape says it.
  const mult = cfg(ctx, 'depth_multiplier') === undefined || cfg(ctx, 'depth_multiplier') === null ? null : count(ctx, 'depth_multiplier');
  const kernel = ctx.weight('depthwise_kernel', [k[0], k[1], input.shape[3], mult]);
  const [kh, kw, cin, m] = kernel.shape;
  // ONNX weight[c·m + j, 0, :, :] = kernel[:, :, c, j]: output channel order matches TF's.
  const w = ctx.init('depthwise_kernel', [cin * m, 1, kh, kw], () => permute(kernel.data, kernel.shape, [2, 3, 0, 1]));
  const inputs = [x.name, w];
  if (withBias) inputs.push(ctx.init('bias', [cin * m], () => ctx.weight('bias', [cin * m]).data));
  const hw: [Dim, Dim] = [input.shape[1], input.shape[2]];
  const y = ctx.emit.op(
    'Conv',
    inputs,
    {
      kernel_shape: ints([kh, kw]),
      strides: ints(s),
      dilations: ints(d),
      group: int(cin),
      ...padAttrs(padding, hw, [kh, kw], s, d),
    },
    base,
  );
  const shape: Dim[] = [input.shape[0], outSize(hw[0], kh, s[0], d[0], padding), outSize(hw[1], kw, s[1], d[1], padding), cin * m];
  return { name: y, shape, layout: 'nchw' };
}

const depthwiseConv2d: LayerConverter = (ctx: LayerContext, [input]) =>
  applyActivation(ctx, depthwise(ctx, input, bool(ctx, 'use_bias', true), ctx.base), cfg(ctx, 'activation'));

const separableConv2d: LayerConverter = (ctx: LayerContext, [input]) => {
  const dw = depthwise(ctx, input, false, `${ctx.base}/depthwise`);
  const c = dw.shape[3] as number;
  const filters = count(ctx, 'filters');
  const kernel = ctx.weight('pointwise_kernel', [1, 1, c, filters]);
  const cout = kernel.shape[3];
  const w = ctx.init('pointwise_kernel', [cout, c, 1, 1], () => permute(kernel.data, kernel.shape, [3, 2, 0, 1]));
  const inputs = [dw.name, w];
  if (bool(ctx, 'use_bias', true)) inputs.push(ctx.init('bias', [cout], () => ctx.weight('bias', [cout]).data));
  const y = ctx.emit.op('Conv', inputs, { kernel_shape: ints([1, 1]) }, ctx.base);
  return applyActivation(ctx, { name: y, shape: [...dw.shape.slice(0, 3), cout], layout: 'nchw' }, cfg(ctx, 'activation'));
};

const pool =
  (op: 'MaxPool' | 'AveragePool'): LayerConverter =>
  (ctx: LayerContext, [input]) => {
    requireChannelsLast(ctx);
    requireRank(ctx, input, 4, ctx.layer.className);
    const x = ctx.toNchw(input);
    const k = pair(ctx, 'pool_size', [2, 2]);
    const s = pair(ctx, 'strides', k);
    const padding = paddingMode(ctx);
    const hw: [Dim, Dim] = [input.shape[1], input.shape[2]];
    const attrs: Record<string, AttrValue> = { kernel_shape: ints(k), strides: ints(s), ...padAttrs(padding, hw, k, s, [1, 1]) };
    // TF averages over the window's valid cells only.
    if (op === 'AveragePool') attrs.count_include_pad = int(0);
    const y = ctx.emit.op(op, [x.name], attrs, ctx.base);
    return { name: y, shape: [input.shape[0], outSize(hw[0], k[0], s[0], 1, padding), outSize(hw[1], k[1], s[1], 1, padding), input.shape[3]], layout: 'nchw' };
  };

const globalPool =
  (op: 'GlobalAveragePool' | 'GlobalMaxPool'): LayerConverter =>
  (ctx: LayerContext, [input]) => {
    requireChannelsLast(ctx);
    requireRank(ctx, input, 4, ctx.layer.className);
    const x = ctx.toNchw(input);
    const keep = bool(ctx, 'keepdims', false);
    const pooled = ctx.emit.op(op, [x.name], {}, keep ? ctx.base : `${ctx.base}/pool`);
    if (keep) return { name: pooled, shape: [input.shape[0], 1, 1, input.shape[3]], layout: 'nchw' };
    const y = ctx.emit.op('Flatten', [pooled], { axis: int(1) }, ctx.base);
    return { name: y, shape: [input.shape[0], input.shape[3]], layout: 'tf' };
  };

const flatten: LayerConverter = (ctx: LayerContext, [input]) => {
  requireChannelsLast(ctx);
  if (input.shape.length <= 2) return input;
  const x = ctx.toTf(input);
  const rest = x.shape.slice(1);
  const size = rest.every((d) => d !== null) ? (rest as number[]).reduce((a, b) => a * b, 1) : null;
  const y = ctx.emit.op('Flatten', [x.name], { axis: int(1) }, ctx.base);
  return { name: y, shape: [x.shape[0], size], layout: 'tf' };
};

const reshape: LayerConverter = (ctx: LayerContext, [input]) => {
  // TF.js saves a -1 in target_shape as null.
  const raw = cfg(ctx, 'target_shape');
  const target = Array.isArray(raw) ? raw.map((d) => (d === null ? -1 : d)) : raw;
  if (!Array.isArray(target) || !target.every((d) => Number.isInteger(d) && (d > 0 || d === -1)) || target.filter((d) => d === -1).length > 1) {
    ctx.fail(`target_shape ${JSON.stringify(target)} is not a list of positive sizes (with at most one -1)`);
  }
  const x = ctx.toTf(input);
  const known = x.shape.slice(1);
  const shape: Dim[] = target.map((d: number) => d);
  if (target.includes(-1)) {
    const total = known.every((d) => d !== null) ? (known as number[]).reduce((a, b) => a * b, 1) : null;
    const rest = (target as number[]).filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    shape[target.indexOf(-1)] = total === null ? null : total / rest;
  }
  const y = ctx.emit.op('Reshape', [x.name, ctx.emit.int64s(`${ctx.base}/shape`, [0, ...target])], {}, ctx.base);
  return { name: y, shape: [x.shape[0], ...shape], layout: 'tf' };
};

const permuteLayer: LayerConverter = (ctx: LayerContext, [input]) => {
  const dims = cfg(ctx, 'dims');
  const rank = input.shape.length;
  if (!Array.isArray(dims) || dims.length !== rank - 1 || [...dims].sort().some((d, i) => d !== i + 1)) {
    ctx.fail(`dims ${JSON.stringify(dims)} is not a permutation of 1..${rank - 1}`);
  }
  const x = ctx.toTf(input);
  const perm = [0, ...(dims as number[])];
  const y = ctx.emit.op('Transpose', [x.name], { perm: ints(perm) }, ctx.base);
  return { name: y, shape: perm.map((p) => x.shape[p]), layout: 'tf' };
};

const activationLayer: LayerConverter = (ctx: LayerContext, [x]) => applyActivation(ctx, x, cfg(ctx, 'activation'));

const reluLayer: LayerConverter = (ctx: LayerContext, [x]) => {
  const max = cfg(ctx, 'max_value');
  const slope = num(ctx, 'negative_slope', 0);
  const threshold = num(ctx, 'threshold', 0);
  if (threshold !== 0) ctx.fail(`threshold ${threshold} is not supported`, 'supported: ReLU with threshold 0');
  if (slope !== 0) {
    if (max !== null && max !== undefined) ctx.fail('a negative_slope together with max_value is not supported');
    return withName(x, ctx.emit.op('LeakyRelu', [x.name], { alpha: float(slope) }, ctx.base));
  }
  if (max === null || max === undefined) return withName(x, ctx.emit.op('Relu', [x.name], {}, ctx.base));
  if (typeof max !== 'number') ctx.fail(`max_value ${JSON.stringify(max)} is not a number`);
  return withName(x, ctx.emit.op('Clip', [x.name, ctx.emit.scalar(0), ctx.emit.scalar(max)], {}, ctx.base));
};

const leakyRelu: LayerConverter = (ctx: LayerContext, [x]) => {
  const alpha = num(ctx, 'alpha', num(ctx, 'negative_slope', 0.3));
  return withName(x, ctx.emit.op('LeakyRelu', [x.name], { alpha: float(alpha) }, ctx.base));
};

const eluLayer: LayerConverter = (ctx: LayerContext, [x]) => withName(x, ctx.emit.op('Elu', [x.name], { alpha: float(num(ctx, 'alpha', 1)) }, ctx.base));

const thresholdedRelu: LayerConverter = (ctx: LayerContext, [x]) =>
  withName(x, ctx.emit.op('ThresholdedRelu', [x.name], { alpha: float(num(ctx, 'theta', 1)) }, ctx.base));

const softmaxLayer: LayerConverter = (ctx: LayerContext, [x]) => {
  let axis = cfg(ctx, 'axis') ?? -1;
  if (Array.isArray(axis) && axis.length === 1) axis = axis[0];
  if (typeof axis !== 'number') ctx.fail(`axis ${JSON.stringify(axis)} is not supported`, 'supported: a single axis');
  const phys = physicalAxis(x, normAxis(ctx, axis, x.shape.length));
  return withName(x, ctx.emit.op('Softmax', [x.name], { axis: int(phys) }, ctx.base));
};

const prelu: LayerConverter = (ctx: LayerContext, [x]) => {
  const alpha = ctx.weight('alpha');
  if (alpha.shape.length !== x.shape.length - 1)
    ctx.fail(`alpha has shape [${alpha.shape.join(', ')}], which does not fit an input of shape [${fmtShape(x.shape)}]`);
  let slope: string;
  if (x.layout === 'nchw') {
    const [h, w, c] = alpha.shape;
    slope = ctx.init('alpha', [c, h, w], () => permute(alpha.data, alpha.shape, [2, 0, 1]));
  } else {
    slope = ctx.init('alpha', alpha.shape, () => alpha.data);
  }
  return withName(x, ctx.emit.op('PRelu', [x.name, slope], {}, ctx.base));
};

const batchNorm: LayerConverter = (ctx: LayerContext, [x]) => {
  const rank = x.shape.length;
  let axisOpt = cfg(ctx, 'axis') ?? -1;
  if (Array.isArray(axisOpt) && axisOpt.length === 1) axisOpt = axisOpt[0];
  if (typeof axisOpt !== 'number') ctx.fail(`axis ${JSON.stringify(axisOpt)} is not supported`, 'supported: a single axis');
  const axis = normAxis(ctx, axisOpt, rank);
  if (axis !== rank - 1) {
    // TF.js 4.x's batchNorm kernels (cpu and wasm) broadcast the statistics along the last axis
    // whatever `axis` says, so TF.js itself does not compute Keras's result: no ONNX model could match it.
    ctx.fail(
      `normalizing over axis ${axisOpt} of a rank-${rank} input (not the last axis) is not supported`,
      'TF.js computes this case incorrectly itself; supported: axis -1 (channels last)',
    );
  }
  const c = x.shape[axis];
  const mean = ctx.weight('moving_mean', [c]);
  const channels = mean.shape[0];
  const variance = ctx.weight('moving_variance', [channels]);
  const gamma = bool(ctx, 'scale', true) ? ctx.weight('gamma', [channels]).data : new Float32Array(channels).fill(1);
  const beta = bool(ctx, 'center', true) ? ctx.weight('beta', [channels]).data : new Float32Array(channels);
  const eps = num(ctx, 'epsilon', 1e-3);
  const phys = physicalAxis(x, axis);
  if (phys === 1) {
    const y = ctx.emit.op(
      'BatchNormalization',
      [
        x.name,
        ctx.init('gamma', [channels], () => gamma),
        ctx.init('beta', [channels], () => beta),
        ctx.init('moving_mean', [channels], () => mean.data),
        ctx.init('moving_variance', [channels], () => variance.data),
      ],
      { epsilon: float(eps) },
      ctx.base,
    );
    return withName(x, y);
  }
  // Another axis: fold into y = x · scale + shift, broadcast along the axis.
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let i = 0; i < channels; i++) {
    scale[i] = gamma[i] / Math.sqrt(variance.data[i] + eps);
    shift[i] = beta[i] - mean.data[i] * scale[i];
  }
  const dims = [channels, ...new Array<number>(rank - 1 - phys).fill(1)];
  const mul = ctx.emit.op('Mul', [x.name, ctx.init('scale', dims, () => scale)], {}, `${ctx.base}/scale`);
  return withName(x, ctx.emit.op('Add', [mul, ctx.init('shift', dims, () => shift)], {}, ctx.base));
};

const rescaling: LayerConverter = (ctx: LayerContext, [x]) => {
  const scale = num(ctx, 'scale', 1);
  const offset = num(ctx, 'offset', 0);
  let y = x.name;
  if (scale !== 1) y = ctx.emit.op('Mul', [y, ctx.emit.scalar(scale)], {}, offset !== 0 ? `${ctx.base}/scale` : ctx.base);
  if (offset !== 0) y = ctx.emit.op('Add', [y, ctx.emit.scalar(offset)], {}, ctx.base);
  return withName(x, y);
};

/** [[top, bottom], [left, right]] from n, [h, w] or [[t, b], [l, r]]. */
function pads2d(ctx: LayerContext, key: string): [[number, number], [number, number]] {
  const v = cfg(ctx, key);
  const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0;
  if (ok(v))
    return [
      [v, v],
      [v, v],
    ];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1]))
    return [
      [v[0], v[0]],
      [v[1], v[1]],
    ];
  if (Array.isArray(v) && v.length === 2 && v.every((p) => Array.isArray(p) && p.length === 2 && ok(p[0]) && ok(p[1]))) {
    return [
      [v[0][0], v[0][1]],
      [v[1][0], v[1][1]],
    ];
  }
  ctx.fail(`${key} ${JSON.stringify(v)} is not n, [h, w] or [[top, bottom], [left, right]]`);
}

const zeroPadding2d: LayerConverter = (ctx: LayerContext, [input]) => {
  requireChannelsLast(ctx);
  requireRank(ctx, input, 4, 'ZeroPadding2D');
  const [[t, b], [l, r]] = pads2d(ctx, 'padding');
  const x = ctx.toNchw(input);
  const y = ctx.emit.op('Pad', [x.name, ctx.emit.int64s(`${ctx.base}/pads`, [0, 0, t, l, 0, 0, b, r])], {}, ctx.base);
  const [n, h, w, c] = input.shape;
  return { name: y, shape: [n, h === null ? null : h + t + b, w === null ? null : w + l + r, c], layout: 'nchw' };
};

const INT64_MAX = 9223372036854775807n;

const cropping2d: LayerConverter = (ctx: LayerContext, [input]) => {
  requireChannelsLast(ctx);
  requireRank(ctx, input, 4, 'Cropping2D');
  const [[t, b], [l, r]] = pads2d(ctx, 'cropping');
  const x = ctx.toNchw(input);
  const y = ctx.emit.op(
    'Slice',
    [
      x.name,
      ctx.emit.int64s(`${ctx.base}/starts`, [t, l]),
      ctx.emit.int64s(`${ctx.base}/ends`, [b > 0 ? -b : INT64_MAX, r > 0 ? -r : INT64_MAX]),
      ctx.emit.int64s(`${ctx.base}/axes`, [2, 3]),
    ],
    {},
    ctx.base,
  );
  const [n, h, w, c] = input.shape;
  return { name: y, shape: [n, h === null ? null : h - t - b, w === null ? null : w - l - r, c], layout: 'nchw' };
};

const upSampling2d: LayerConverter = (ctx: LayerContext, [input]) => {
  requireChannelsLast(ctx);
  requireRank(ctx, input, 4, 'UpSampling2D');
  const interpolation = cfg(ctx, 'interpolation') ?? 'nearest';
  if (interpolation !== 'nearest') ctx.fail(`interpolation '${String(interpolation)}' is not supported`, "supported: 'nearest'");
  const [sh, sw] = pair(ctx, 'size', [2, 2]);
  const x = ctx.toNchw(input);
  const scales = ctx.init('scales', [4], () => new Float32Array([1, 1, sh, sw]));
  const y = ctx.emit.op(
    'Resize',
    [x.name, '', scales],
    {
      mode: str('nearest'),
      coordinate_transformation_mode: str('asymmetric'),
      nearest_mode: str('floor'),
    },
    ctx.base,
  );
  const [n, h, w, c] = input.shape;
  return { name: y, shape: [n, h === null ? null : h * sh, w === null ? null : w * sw, c], layout: 'nchw' };
};

/** Put all inputs of a merge layer in one layout: NCHW if they all are, TF layout otherwise. */
function sameLayout(ctx: LayerContext, inputs: Value[]): Value[] {
  if (inputs.length < 2) ctx.fail(`needs at least 2 inputs, got ${inputs.length}`);
  if (inputs.every((v) => v.layout === 'nchw')) return inputs;
  return inputs.map((v) => ctx.toTf(v));
}

function broadcastShape(inputs: Value[]): Dim[] {
  const rank = Math.max(...inputs.map((v) => v.shape.length));
  const out: Dim[] = new Array<Dim>(rank).fill(1);
  for (const v of inputs) {
    const off = rank - v.shape.length;
    v.shape.forEach((d, i) => {
      const cur = out[off + i];
      if (d === null) out[off + i] = cur === 1 ? null : cur;
      else if (d !== 1) out[off + i] = d;
    });
  }
  if (inputs.some((v) => v.shape[0] === null)) out[0] = null;
  return out;
}

const merge =
  (kind: 'Add' | 'Sub' | 'Mul' | 'Mean' | 'Max' | 'Min'): LayerConverter =>
  (ctx: LayerContext, raw) => {
    const inputs = sameLayout(ctx, raw);
    const names = inputs.map((v) => v.name);
    let y: string;
    if (kind === 'Sub') {
      if (inputs.length !== 2) ctx.fail(`needs exactly 2 inputs, got ${inputs.length}`);
      y = ctx.emit.op('Sub', names, {}, ctx.base);
    } else if (kind === 'Add' && names.length > 2) {
      y = ctx.emit.op('Sum', names, {}, ctx.base);
    } else if (kind === 'Mul' || kind === 'Add') {
      y = names[0];
      for (let i = 1; i < names.length; i++) y = ctx.emit.op(kind, [y, names[i]], {}, i === names.length - 1 ? ctx.base : `${ctx.base}/${i}`);
    } else {
      y = ctx.emit.op(kind, names, {}, ctx.base);
    }
    return { name: y, shape: broadcastShape(inputs), layout: inputs[0].layout };
  };

const concatenate: LayerConverter = (ctx: LayerContext, raw) => {
  const inputs = sameLayout(ctx, raw);
  const rank = inputs[0].shape.length;
  if (inputs.some((v) => v.shape.length !== rank)) ctx.fail('inputs of different ranks cannot be concatenated');
  const axis = normAxis(ctx, num(ctx, 'axis', -1), rank);
  const shape = [...inputs[0].shape];
  shape[axis] = inputs.every((v) => v.shape[axis] !== null) ? inputs.reduce((a, v) => a + (v.shape[axis] as number), 0) : null;
  const y = ctx.emit.op(
    'Concat',
    inputs.map((v) => v.name),
    { axis: int(physicalAxis(inputs[0], axis)) },
    ctx.base,
  );
  return { name: y, shape, layout: inputs[0].layout };
};

/** Keras class name → converter. Aliases are the older Keras spellings. */
export const LAYER_CONVERTERS: Readonly<Record<string, LayerConverter>> = {
  Dense: dense,
  Conv2D: conv2d,
  Convolution2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  SeparableConvolution2D: separableConv2d,
  MaxPooling2D: pool('MaxPool'),
  MaxPool2D: pool('MaxPool'),
  AveragePooling2D: pool('AveragePool'),
  AvgPool2D: pool('AveragePool'),
  GlobalAveragePooling2D: globalPool('GlobalAveragePool'),
  GlobalAvgPool2D: globalPool('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPool('GlobalMaxPool'),
  GlobalMaxPool2D: globalPool('GlobalMaxPool'),
  Flatten: flatten,
  Reshape: reshape,
  Permute: permuteLayer,
  Dropout: identity,
  SpatialDropout1D: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  ActivityRegularization: identity,
  Activation: activationLayer,
  ReLU: reluLayer,
  LeakyReLU: leakyRelu,
  ELU: eluLayer,
  PReLU: prelu,
  ThresholdedReLU: thresholdedRelu,
  Softmax: softmaxLayer,
  BatchNormalization: batchNorm,
  Rescaling: rescaling,
  ZeroPadding2D: zeroPadding2d,
  Cropping2D: cropping2d,
  UpSampling2D: upSampling2d,
  Add: merge('Add'),
  Subtract: merge('Sub'),
  Multiply: merge('Mul'),
  Average: merge('Mean'),
  Maximum: merge('Max'),
  Minimum: merge('Min'),
  Concatenate: concatenate,
};

export const SUPPORTED_LAYERS: readonly string[] = ['InputLayer', ...Object.keys(LAYER_CONVERTERS)];

/** A CONVERT error about one layer, naming it and its class. */
export function layerError(source: string, layer: Pick<LayerSpec, 'name' | 'className'>, message: string, hint?: string): KilnError {
  return new KilnError('CONVERT', `${source}: layer '${layer.name}' (${layer.className}): ${message}`, { hint });
}
