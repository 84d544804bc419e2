/**
 * Tensors on the wire: Open Inference Protocol datatypes ⇄ onnxruntime dtypes, JSON and raw
 * little-endian bytes ⇄ typed arrays, and the checks of a request tensor against the model's
 * declared TensorSpec. Pure: no I/O.
 */
import { numberToFloat16, float16ToNumber } from '../onnx/dtypes.js';
import type { TensorSpec } from '../protocol/manifest.js';
import type { TensorData } from '../runtime/backend.js';
import { INT_RANGE } from '../numerics/input-tensors.js';
import { typedArrayFor } from '../numerics/tensor.js';

/** onnxruntime dtype name → OIP datatype. */
export const OIP_DATATYPE: Readonly<Record<string, string>> = Object.freeze({
  float32: 'FP32',
  float16: 'FP16',
  float64: 'FP64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  bool: 'BOOL',
  string: 'BYTES',
});

/** OIP datatype → onnxruntime dtype name. */
export const ORT_DTYPE: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(Object.entries(OIP_DATATYPE).map(([k, v]) => [v, k])));

const ELEMENT_BYTES: Readonly<Record<string, number>> = Object.freeze({
  float32: 4,
  float16: 2,
  float64: 8,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  bool: 1,
});

/** Bytes per element, or undefined for dtypes the agent does not carry as raw bytes (string). */
export const elementBytes = (dtype: string): number | undefined => ELEMENT_BYTES[dtype];

export const isSupportedDtype = (dtype: string): boolean => dtype in ELEMENT_BYTES;

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A spec's dims for OIP metadata: symbolic and unknown dims become -1. */
export const oipShape = (shape: TensorSpec['shape']): number[] => shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));

/** Does `shape` fit the declared `spec` shape? Returns the problem in words, or undefined. */
export function shapeProblem(spec: TensorSpec['shape'], shape: readonly number[]): string | undefined {
  const want = `[${spec.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))).join(', ')}]`;
  if (shape.length !== spec.length)
    return `has ${shape.length} dimension${shape.length === 1 ? '' : 's'} [${shape.join(', ')}], the model expects ${spec.length}: ${want}`;
  for (let i = 0; i < spec.length; i++) {
    const d = spec[i];
    if (!Number.isSafeInteger(shape[i]) || shape[i] < 0) return `has an invalid dimension ${shape[i]} at axis ${i}`;
    if (typeof d === 'number' && d >= 0 && d !== shape[i]) return `has shape [${shape.join(', ')}], the model expects ${want} (axis ${i} must be ${d})`;
  }
  return undefined;
}

/**
 * A typed array over `bytes` (little-endian raw tensor data) without copying when the bytes are
 * aligned for the element type, else with one copy. `bytes.byteLength` must equal count × size.
 */
export function typedFromBytes(dtype: string, bytes: Uint8Array): TensorData['data'] {
  const size = ELEMENT_BYTES[dtype];
  const Ctor = typedArrayFor(dtype);
  if (!size || !Ctor) throw new TypeError(`typedFromBytes: unsupported dtype '${dtype}'`);
  const count = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, count);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Ctor(copy.buffer, 0, count);
}

/** The raw little-endian bytes of a tensor's data (a view, no copy). */
export function tensorBytes(t: TensorData): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Flatten nested JSON arrays (row-major). Returns undefined when `value` holds a non-array, non-scalar thing. */
export function flattenJson(value: unknown): unknown[] {
  if (!Array.isArray(value)) return [value];
  if (!value.some(Array.isArray)) return value;
  const out: unknown[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else out.push(v);
  };
  walk(value);
  return out;
}

/**
 * A typed array from JSON values for `dtype`. Throws a TypeError naming the first bad element
 * (wrong JSON type, non-integer for an integer dtype, out of range).
 */
export function typedFromJson(dtype: string, values: readonly unknown[], where: string): TensorData['data'] {
  const Ctor = typedArrayFor(dtype);
  if (!Ctor) throw new TypeError(`${where}: dtype '${dtype}' cannot be sent as JSON here`);
  const n = values.length;
  const out = new Ctor(n);
  const bad = (i: number, what: string): never => {
    throw new TypeError(`${where}: element ${i} (${JSON.stringify(values[i])}) ${what}`);
  };
  if (dtype === 'bool') {
    const o = out as Uint8Array;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v === 'boolean') o[i] = v ? 1 : 0;
      else if (v === 0 || v === 1) o[i] = v;
      else bad(i, 'is not a boolean');
    }
    return out;
  }
  if (dtype === 'int64' || dtype === 'uint64') {
    const o = out as BigInt64Array | BigUint64Array;
    const [lo, hi] = dtype === 'int64' ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
    for (let i = 0; i < n; i++) {
      const v = values[i];
      let b: bigint;
      if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
      else if (typeof v === 'string' && /^-?\d+$/.test(v)) b = BigInt(v);
      else return bad(i, `is not an integer (${dtype})`);
      if (b < lo || b > hi) bad(i, `is out of range for ${dtype}`);
      o[i] = b;
    }
    return out;
  }
  const isFloat = dtype === 'float32' || dtype === 'float64' || dtype === 'float16';
  const o = out as unknown as { [i: number]: number };
  const range = INT_RANGE[dtype];
  for (let i = 0; i < n; i++) {
    let v = values[i];
    if (typeof v !== 'number') {
      // JSON has no NaN/Infinity literals; accept the strings Triton and numpy clients send.
      if (isFloat && (v === 'NaN' || v === 'nan')) v = NaN;
      else if (isFloat && (v === 'Infinity' || v === 'inf')) v = Infinity;
      else if (isFloat && (v === '-Infinity' || v === '-inf')) v = -Infinity;
      else return bad(i, `is not a number (${dtype})`);
    }
    const x = v as number;
    if (range) {
      if (!Number.isInteger(x)) bad(i, `is not an integer (${dtype})`);
      if (x < range[0] || x > range[1]) bad(i, `is out of range for ${dtype}`);
    }
    o[i] = dtype === 'float16' ? numberToFloat16(x) : x;
  }
  return out;
}

/** A tensor's data as plain JSON values (numbers; int64 beyond 2^53 as exact decimal strings; bools as booleans). */
export function tensorToJson(t: TensorData): unknown[] {
  const d = t.data;
  const n = d.length;
  const out = new Array<unknown>(n);
  if (t.type === 'bool') {
    for (let i = 0; i < n; i++) out[i] = (d[i] as number) !== 0;
  } else if (t.type === 'float16') {
    for (let i = 0; i < n; i++) out[i] = float16ToNumber(d[i] as number);
  } else if (t.type === 'int64' || t.type === 'uint64') {
    for (let i = 0; i < n; i++) {
      const b = d[i] as bigint;
      const num = Number(b);
      out[i] = Number.isSafeInteger(num) ? num : b.toString();
    }
  } else {
    for (let i = 0; i < n; i++) {
      const x = d[i] as number;
      // JSON cannot hold NaN/±Infinity: send them as the strings numpy-style clients read.
      out[i] = Number.isFinite(x) ? x : Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
    }
  }
  return out;
}

/** A zero-filled tensor for a spec, symbolic dims set to 1 (for warm-up inference). */
export function zeroTensor(spec: TensorSpec): TensorData {
  const dims = spec.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
  const Ctor = typedArrayFor(spec.dtype);
  if (!Ctor) throw new TypeError(`zeroTensor: input '${spec.name}' has dtype '${spec.dtype}', which the agent cannot feed`);
  return { type: spec.dtype, dims, data: new Ctor(elementCount(dims)) };
}
