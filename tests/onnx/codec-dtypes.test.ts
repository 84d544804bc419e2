/** Every ONNX data type survives makeTensor → protobuf encode → decode → tensorData, bit for bit. */
import { describe, expect, it } from 'vitest';
import { DataType, float8ToNumber, rawByteLength, typedArrayToRaw, type NumericArray } from '../../src/onnx/dtypes.js';
import { decodeTensorProto, encodeTensorProto } from '../../src/onnx/proto.js';
import { emptyTensor, makeTensor, tensorData, tensorStrings } from '../../src/onnx/tensor.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const UINT64_MAX = 18446744073709551615n;

const roundTrip = (t: ReturnType<typeof makeTensor>) => decodeTensorProto(encodeTensorProto(t));
/** Compare typed arrays by their bytes, so NaN payloads and -0 count. */
const bytesOf = (a: NumericArray): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);

const cases: [string, number, NumericArray][] = [
  ['FLOAT', DataType.FLOAT, Float32Array.from([1.5, -0, NaN, Infinity, -3.4028234663852886e38, 1e-45])],
  ['UINT8', DataType.UINT8, Uint8Array.from([0, 1, 128, 255])],
  ['INT8', DataType.INT8, Int8Array.from([-128, -1, 0, 127])],
  ['UINT16', DataType.UINT16, Uint16Array.from([0, 1, 65535])],
  ['INT16', DataType.INT16, Int16Array.from([-32768, 0, 32767])],
  ['INT32', DataType.INT32, Int32Array.from([-2147483648, -1, 0, 2147483647])],
  ['INT64', DataType.INT64, BigInt64Array.from([INT64_MIN, -1n, 0n, INT64_MAX])],
  ['BOOL', DataType.BOOL, Uint8Array.from([0, 1, 1, 0])],
  ['FLOAT16 (bits)', DataType.FLOAT16, Uint16Array.from([0x3c00, 0x7bff, 0x8001, 0x7c00, 0xfe00])],
  ['DOUBLE', DataType.DOUBLE, Float64Array.from([Math.PI, -1.7976931348623157e308, 5e-324, NaN])],
  ['UINT32', DataType.UINT32, Uint32Array.from([0, 4294967295])],
  ['UINT64', DataType.UINT64, BigUint64Array.from([0n, 1n, UINT64_MAX])],
  ['BFLOAT16 (bits)', DataType.BFLOAT16, Uint16Array.from([0x3f80, 0x7f7f, 0x0001, 0xff80, 0x7fc0])],
  ['FLOAT8E4M3FN (bits)', DataType.FLOAT8E4M3FN, allBytes],
  ['FLOAT8E4M3FNUZ (bits)', DataType.FLOAT8E4M3FNUZ, allBytes],
  ['FLOAT8E5M2 (bits)', DataType.FLOAT8E5M2, allBytes],
  ['FLOAT8E5M2FNUZ (bits)', DataType.FLOAT8E5M2FNUZ, allBytes],
];

describe('raw_data round trip, per data type', () => {
  it.each(cases)('%s', (_name, code, values) => {
    const t = makeTensor('t', code, [values.length], values);
    expect(t.rawData!.byteLength).toBe(rawByteLength(code, values.length));
    const back = roundTrip(t);
    expect(back.dataType).toBe(code);
    expect(back.dims).toEqual([values.length]);
    const data = tensorData(back);
    expect(data.constructor).toBe(values.constructor);
    expect(bytesOf(data)).toEqual(bytesOf(values));
  });

  it('a scalar (dims []) keeps one element', () => {
    const back = roundTrip(makeTensor('s', DataType.FLOAT, [], [2.5]));
    expect(back.dims).toEqual([]);
    expect(Array.from(tensorData(back) as Float32Array)).toEqual([2.5]);
  });

  it('COMPLEX64 and COMPLEX128 keep (re, im) pairs', () => {
    const c64 = emptyTensor('c64', DataType.COMPLEX64, [2]);
    c64.rawData = typedArrayToRaw(DataType.COMPLEX64, Float32Array.from([1, -2, 3.5, 0.25]));
    expect(Array.from(tensorData(roundTrip(c64)) as Float32Array)).toEqual([1, -2, 3.5, 0.25]);
    const c128 = emptyTensor('c128', DataType.COMPLEX128, [1]);
    c128.doubleData = [Math.E, -Math.PI];
    expect(Array.from(tensorData(roundTrip(c128)) as Float64Array)).toEqual([Math.E, -Math.PI]);
  });

  it('STRING tensors keep UTF-8 text, empty strings included', () => {
    const t = emptyTensor('s', DataType.STRING, [3]);
    const enc = new TextEncoder();
    t.stringData = ['', 'héllo', '日本語'].map((s) => enc.encode(s));
    expect(tensorStrings(roundTrip(t))).toEqual(['', 'héllo', '日本語']);
  });
});

describe('typed (non-raw) fields round trip', () => {
  it('int64_data keeps INT64_MIN and INT64_MAX exactly', () => {
    const t = emptyTensor('i64', DataType.INT64, [4]);
    t.int64Data = [INT64_MIN, -1n, 0n, INT64_MAX];
    const back = roundTrip(t);
    expect(back.int64Data).toEqual([INT64_MIN, -1n, 0n, INT64_MAX]);
    expect(Array.from(tensorData(back) as BigInt64Array)).toEqual([INT64_MIN, -1n, 0n, INT64_MAX]);
  });

  it('uint64_data keeps 2^64 - 1 exactly', () => {
    const t = emptyTensor('u64', DataType.UINT64, [2]);
    t.uint64Data = [UINT64_MAX, 1n];
    const back = roundTrip(t);
    expect(back.uint64Data).toEqual([UINT64_MAX, 1n]);
    expect(Array.from(tensorData(back) as BigUint64Array)).toEqual([UINT64_MAX, 1n]);
  });

  it('float_data, double_data and int32_data (float16 bits) decode to the same values', () => {
    const f = emptyTensor('f', DataType.FLOAT, [3]);
    f.floatData = [0.5, -1, 1e30];
    expect(Array.from(tensorData(roundTrip(f)) as Float32Array)).toEqual([0.5, -1, Math.fround(1e30)]);
    const h = emptyTensor('h', DataType.FLOAT16, [2]);
    h.int32Data = [0x3c00, 0xc000];
    expect(Array.from(tensorData(roundTrip(h)) as Uint16Array)).toEqual([0x3c00, 0xc000]);
  });

  it('a typed field holding too few values is an error naming the tensor', () => {
    const t = emptyTensor('short', DataType.FLOAT, [4]);
    t.floatData = [1, 2];
    expect(() => tensorData(roundTrip(t))).toThrow(/'short' holds 2 values, 4 expected/);
  });
});

describe('4-bit types pack two per byte, low nibble first', () => {
  it('INT4 with an odd count packs into ceil(n/2) bytes and sign-extends on the way back', () => {
    const values = Int8Array.from([-8, 7, -1, 0, 3]);
    const t = makeTensor('i4', DataType.INT4, [5], values);
    expect(Array.from(t.rawData!)).toEqual([0x78, 0x0f, 0x03]);
    const back = roundTrip(t);
    expect(Array.from(tensorData(back) as Int8Array)).toEqual([-8, 7, -1, 0, 3]);
  });

  it('UINT4 covers 0..15 with an odd count', () => {
    const values = Uint8Array.from({ length: 15 }, (_, i) => 15 - i);
    const t = makeTensor('u4', DataType.UINT4, [3, 5], values);
    expect(t.rawData!.byteLength).toBe(8);
    expect(t.rawData![7]).toBe(0x01); // last element alone in the low nibble
    expect(Array.from(tensorData(roundTrip(t)) as Uint8Array)).toEqual(Array.from(values));
  });

  it('INT4 in int32_data is read as packed bytes too', () => {
    const t = emptyTensor('i4typed', DataType.INT4, [3]);
    t.int32Data = [0x9f, 0x02]; // -1, -7 | 2
    expect(Array.from(tensorData(roundTrip(t)) as Int8Array)).toEqual([-1, -7, 2]);
  });

  it('FLOAT4E2M1 keeps all 16 codes', () => {
    const values = Uint8Array.from({ length: 16 }, (_, i) => i);
    const back = roundTrip(makeTensor('f4', DataType.FLOAT4E2M1, [16], values));
    expect(Array.from(tensorData(back) as Uint8Array)).toEqual(Array.from(values));
    expect(float8ToNumber(DataType.FLOAT4E2M1, 0x7)).toBe(6);
    expect(float8ToNumber(DataType.FLOAT4E2M1, 0x1)).toBe(0.5);
    expect(float8ToNumber(DataType.FLOAT4E2M1, 0xf)).toBe(-6);
  });
});

describe('float8 variants decode their known values', () => {
  it.each([
    ['E4M3FN max', DataType.FLOAT8E4M3FN, 0x7e, 448],
    ['E4M3FN smallest subnormal', DataType.FLOAT8E4M3FN, 0x01, 2 ** -9],
    ['E4M3FN one', DataType.FLOAT8E4M3FN, 0x38, 1],
    ['E4M3FN negative zero', DataType.FLOAT8E4M3FN, 0x80, -0],
    ['E4M3FNUZ max', DataType.FLOAT8E4M3FNUZ, 0x7f, 240],
    ['E4M3FNUZ one', DataType.FLOAT8E4M3FNUZ, 0x40, 1],
    ['E5M2 max', DataType.FLOAT8E5M2, 0x7b, 57344],
    ['E5M2 infinity', DataType.FLOAT8E5M2, 0x7c, Infinity],
    ['E5M2 minus infinity', DataType.FLOAT8E5M2, 0xfc, -Infinity],
    ['E5M2 one', DataType.FLOAT8E5M2, 0x3c, 1],
    ['E5M2FNUZ max', DataType.FLOAT8E5M2FNUZ, 0x7f, 57344],
    ['E5M2FNUZ smallest subnormal', DataType.FLOAT8E5M2FNUZ, 0x01, 2 ** -17],
  ])('%s', (_name, code, bits, value) => {
    expect(Object.is(float8ToNumber(code, bits), value)).toBe(true);
  });

  it.each([
    ['E4M3FN', DataType.FLOAT8E4M3FN, [0x7f, 0xff]],
    ['E4M3FNUZ', DataType.FLOAT8E4M3FNUZ, [0x80]],
    ['E5M2', DataType.FLOAT8E5M2, [0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff]],
    ['E5M2FNUZ', DataType.FLOAT8E5M2FNUZ, [0x80]],
  ])('%s has NaN exactly at its NaN codes', (_name, code, nanCodes) => {
    const nans = Array.from(allBytes).filter((b) => Number.isNaN(float8ToNumber(code, b)));
    expect(nans).toEqual(nanCodes);
  });
});
