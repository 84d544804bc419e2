/**
 * ONNX tensor data types: codes, names, sizes, and conversions between the wire format and JS
 * typed arrays. Pure functions only.
 */
import { KilnError } from '../errors.js';

export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
} as const;

export type DataTypeName = keyof typeof DataType;

interface DTypeInfo {
  /** ONNX name, as in the spec (FLOAT, INT64, ...). */
  name: DataTypeName;
  /** Short lower-case name as onnxruntime's JS API spells it, where it has one. */
  short: string;
  /** Bits per element in raw_data (0 for STRING, which has no raw form). */
  bits: number;
  /** The TensorProto field holding typed (non-raw) data. */
  field: 'floatData' | 'int32Data' | 'int64Data' | 'doubleData' | 'uint64Data' | 'stringData';
}

const INFO: Record<number, DTypeInfo> = {
  1: { name: 'FLOAT', short: 'float32', bits: 32, field: 'floatData' },
  2: { name: 'UINT8', short: 'uint8', bits: 8, field: 'int32Data' },
  3: { name: 'INT8', short: 'int8', bits: 8, field: 'int32Data' },
  4: { name: 'UINT16', short: 'uint16', bits: 16, field: 'int32Data' },
  5: { name: 'INT16', short: 'int16', bits: 16, field: 'int32Data' },
  6: { name: 'INT32', short: 'int32', bits: 32, field: 'int32Data' },
  7: { name: 'INT64', short: 'int64', bits: 64, field: 'int64Data' },
  8: { name: 'STRING', short: 'string', bits: 0, field: 'stringData' },
  9: { name: 'BOOL', short: 'bool', bits: 8, field: 'int32Data' },
  10: { name: 'FLOAT16', short: 'float16', bits: 16, field: 'int32Data' },
  11: { name: 'DOUBLE', short: 'float64', bits: 64, field: 'doubleData' },
  12: { name: 'UINT32', short: 'uint32', bits: 32, field: 'uint64Data' },
  13: { name: 'UINT64', short: 'uint64', bits: 64, field: 'uint64Data' },
  14: { name: 'COMPLEX64', short: 'complex64', bits: 64, field: 'floatData' },
  15: { name: 'COMPLEX128', short: 'complex128', bits: 128, field: 'doubleData' },
  16: { name: 'BFLOAT16', short: 'bfloat16', bits: 16, field: 'int32Data' },
  17: { name: 'FLOAT8E4M3FN', short: 'float8e4m3fn', bits: 8, field: 'int32Data' },
  18: { name: 'FLOAT8E4M3FNUZ', short: 'float8e4m3fnuz', bits: 8, field: 'int32Data' },
  19: { name: 'FLOAT8E5M2', short: 'float8e5m2', bits: 8, field: 'int32Data' },
  20: { name: 'FLOAT8E5M2FNUZ', short: 'float8e5m2fnuz', bits: 8, field: 'int32Data' },
  21: { name: 'UINT4', short: 'uint4', bits: 4, field: 'int32Data' },
  22: { name: 'INT4', short: 'int4', bits: 4, field: 'int32Data' },
  23: { name: 'FLOAT4E2M1', short: 'float4e2m1', bits: 4, field: 'int32Data' },
};

/** The newest data type code kiln knows. */
export const MAX_KNOWN_DTYPE = 23;

export const isKnownDataType = (code: number): boolean => code in INFO;

export function dtypeInfo(code: number, where = 'tensor'): DTypeInfo {
  const info = INFO[code];
  if (!info) {
    throw new KilnError('UNKNOWN_DTYPE', `${where} has data type ${code}, which kiln does not know (known: 1..${MAX_KNOWN_DTYPE})`, {
      hint: 'the model may come from a newer ONNX release; re-export it with a supported data type',
    });
  }
  return info;
}

export const dtypeName = (code: number): string => INFO[code]?.name ?? `UNKNOWN(${code})`;
/** onnxruntime-style short name: float32, int64, float16, ... */
export const dtypeShort = (code: number): string => INFO[code]?.short ?? `unknown(${code})`;

export function dtypeFromShort(short: string): number {
  for (const [code, info] of Object.entries(INFO)) if (info.short === short || info.name === short.toUpperCase()) return Number(code);
  throw new KilnError('UNKNOWN_DTYPE', `unknown data type name '${short}'`, {
    hint: `use one of ${Object.values(INFO)
      .map((i) => i.short)
      .join(', ')}`,
  });
}

/** Bytes needed to hold `count` elements in raw_data (4-bit types pack two per byte). */
export function rawByteLength(code: number, count: number): number {
  const { bits } = dtypeInfo(code);
  return Math.ceil((bits * count) / 8);
}

// ---- float16 / bfloat16 -------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits → number. */
export function float16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f64v = new DataView(new ArrayBuffer(8));

/**
 * Round a finite |value| (a double) to a binary float with `mantBits` fraction bits and exponent
 * `bias`, to nearest even, in one step. Returns (exponent field << mantBits) | fraction; a result at
 * or beyond the all-ones exponent field means overflow. Used for doubles that float32 cannot hold
 * exactly, where going through float32 first would round twice.
 */
function roundDoubleToBinary(abs: number, mantBits: number, bias: number): number {
  const roundHalfEven = (q: number): number => {
    const f = Math.floor(q);
    const d = q - f;
    return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
  };
  const minNormalExp = 1 - bias;
  if (abs < 2 ** minNormalExp) return roundHalfEven(abs * 2 ** (mantBits - minNormalExp)); // subnormal (may round up to the smallest normal)
  f64v.setFloat64(0, abs);
  const e = ((f64v.getUint32(0) >>> 20) & 0x7ff) - 1023;
  let r = roundHalfEven(abs * 2 ** (mantBits - e)); // in [2^mantBits, 2^(mantBits+1)]
  let exp = e;
  if (r === 2 ** (mantBits + 1)) {
    r /= 2;
    exp++;
  }
  return (exp + bias) * 2 ** mantBits + (r - 2 ** mantBits);
}

/** number → IEEE binary16 bits, round to nearest even. */
export function numberToFloat16(value: number): number {
  if (Number.isFinite(value) && Math.fround(value) !== value) {
    const sign = value < 0 ? 0x8000 : 0;
    const bits = roundDoubleToBinary(Math.abs(value), 10, 15);
    return sign | (bits >= 0x7c00 ? 0x7c00 : bits);
  }
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

export function bfloat16ToNumber(b: number): number {
  u32[0] = b << 16;
  return f32[0];
}

export function numberToBfloat16(value: number): number {
  if (Number.isFinite(value) && Math.fround(value) !== value) {
    const sign = value < 0 ? 0x8000 : 0;
    const bits = roundDoubleToBinary(Math.abs(value), 7, 127);
    return sign | (bits >= 0x7f80 ? 0x7f80 : bits);
  }
  f32[0] = value;
  const x = u32[0];
  if (Number.isNaN(value)) return 0x7fc0;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

// ---- float8 / float4 ----------------------------------------------------------------------------

/** Decode an 8-bit float with `expBits` exponent bits (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ). */
export function float8ToNumber(code: number, bits: number): number {
  switch (code) {
    case DataType.FLOAT8E4M3FN: {
      if ((bits & 0x7f) === 0x7f) return NaN;
      return decodeMinifloat(bits, 4, 3, 7);
    }
    case DataType.FLOAT8E4M3FNUZ:
      if (bits === 0x80) return NaN;
      return decodeMinifloat(bits, 4, 3, 8);
    case DataType.FLOAT8E5M2: {
      const exp = (bits >> 2) & 0x1f;
      if (exp === 0x1f) return bits & 0x3 ? NaN : bits & 0x80 ? -Infinity : Infinity;
      return decodeMinifloat(bits, 5, 2, 15);
    }
    case DataType.FLOAT8E5M2FNUZ:
      if (bits === 0x80) return NaN;
      return decodeMinifloat(bits, 5, 2, 16);
    case DataType.FLOAT4E2M1:
      return decodeMinifloat(bits & 0xf, 2, 1, 1, 3);
    default:
      throw new RangeError(`float8ToNumber: ${dtypeName(code)} is not an 8- or 4-bit float`);
  }
}

function decodeMinifloat(bits: number, expBits: number, mantBits: number, bias: number, signBit = 7): number {
  const sign = (bits >> signBit) & 1 ? -1 : 1;
  const exp = (bits >> mantBits) & ((1 << expBits) - 1);
  const mant = bits & ((1 << mantBits) - 1);
  if (exp === 0) return sign * (mant / (1 << mantBits)) * 2 ** (1 - bias);
  return sign * (1 + mant / (1 << mantBits)) * 2 ** (exp - bias);
}

// ---- typed views --------------------------------------------------------------------------------

export type NumericArray =
  Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/**
 * The natural JS array for a data type, as onnxruntime-web/node expect it: float16 and bfloat16 as
 * Uint16Array bits, bool as Uint8Array, int4/uint4 unpacked to Int8Array/Uint8Array, float8 as
 * Uint8Array bits.
 */
export function typedArrayFor(code: number, length: number): NumericArray {
  switch (code) {
    case DataType.FLOAT:
      return new Float32Array(length);
    case DataType.DOUBLE:
      return new Float64Array(length);
    case DataType.INT8:
    case DataType.INT4:
      return new Int8Array(length);
    case DataType.UINT8:
    case DataType.BOOL:
    case DataType.UINT4:
    case DataType.FLOAT4E2M1:
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
      return new Uint8Array(length);
    case DataType.INT16:
      return new Int16Array(length);
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return new Uint16Array(length);
    case DataType.INT32:
      return new Int32Array(length);
    case DataType.UINT32:
      return new Uint32Array(length);
    case DataType.INT64:
      return new BigInt64Array(length);
    case DataType.UINT64:
      return new BigUint64Array(length);
    case DataType.COMPLEX64:
      return new Float32Array(length * 2);
    case DataType.COMPLEX128:
      return new Float64Array(length * 2);
    default:
      throw new KilnError('UNKNOWN_DTYPE', `no array type for ${dtypeName(code)}`);
  }
}

/** Read little-endian raw_data into the natural typed array (copying, so alignment never matters). */
export function rawToTypedArray(code: number, raw: Uint8Array, count: number): NumericArray {
  const info = dtypeInfo(code);
  if (info.bits === 4) {
    const out = typedArrayFor(code, count);
    const signed = code === DataType.INT4;
    for (let i = 0; i < count; i++) {
      const byte = raw[i >> 1];
      let nib = i & 1 ? byte >> 4 : byte & 0xf;
      if (signed && nib & 0x8) nib -= 16;
      out[i] = nib;
    }
    return out;
  }
  const out = typedArrayFor(code, count);
  const needed = out.byteLength;
  if (raw.byteLength < needed) {
    throw new KilnError('NOT_ONNX', `raw data holds ${raw.byteLength} bytes, ${needed} expected for ${count} × ${info.name}`);
  }
  new Uint8Array(out.buffer, out.byteOffset, needed).set(raw.subarray(0, needed));
  return out;
}

/** Pack a typed array into little-endian raw_data bytes (4-bit types packed two per byte). */
export function typedArrayToRaw(code: number, data: ArrayLike<number | bigint> & { buffer?: ArrayBufferLike }): Uint8Array {
  const info = dtypeInfo(code);
  if (info.bits === 4) {
    const count = data.length;
    const out = new Uint8Array(Math.ceil(count / 2));
    for (let i = 0; i < count; i++) {
      const nib = Number(data[i]) & 0xf;
      out[i >> 1] |= i & 1 ? nib << 4 : nib;
    }
    return out;
  }
  const view = data as NumericArray;
  return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}
