/**
 * TensorProto ⇄ typed arrays. A tensor's values can sit in raw_data (little-endian bytes) or in one
 * of the typed repeated fields; these helpers read either and write raw_data.
 */
import { KilnError } from '../errors.js';
import type { TensorProto } from './proto-types.js';
import { DataType, dtypeInfo, rawToTypedArray, typedArrayFor, typedArrayToRaw, type NumericArray } from './dtypes.js';

export const elementCount = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** An empty TensorProto with every field at its default. */
export function emptyTensor(name: string, dataType: number, dims: number[]): TensorProto {
  return {
    name,
    dims,
    dataType,
    floatData: [],
    int32Data: [],
    stringData: [],
    int64Data: [],
    doubleData: [],
    uint64Data: [],
    docString: '',
    externalData: [],
    dataLocation: 0,
    metadataProps: [],
  };
}

/** Build a TensorProto holding `data` in raw_data. */
export function makeTensor(name: string, dataType: number, dims: number[], data: ArrayLike<number | bigint>): TensorProto {
  const count = elementCount(dims);
  if (data.length !== count) {
    throw new RangeError(`makeTensor('${name}'): ${data.length} values for dims [${dims.join(', ')}] (${count} expected)`);
  }
  const t = emptyTensor(name, dataType, dims);
  let typed: ArrayLike<number | bigint> & { buffer?: ArrayBufferLike } = data;
  if (!ArrayBuffer.isView(data)) {
    const arr = typedArrayFor(dataType, count);
    for (let i = 0; i < count; i++)
      (arr as unknown as (number | bigint)[])[i] = arr instanceof BigInt64Array || arr instanceof BigUint64Array ? BigInt(data[i]) : Number(data[i]);
    typed = arr;
  }
  t.rawData = typedArrayToRaw(dataType, typed);
  return t;
}

export const isExternal = (t: TensorProto): boolean => t.dataLocation === 1;

/**
 * The tensor's values as the natural typed array for its data type (see dtypes.typedArrayFor).
 * External tensors must have been resolved by loadModel first.
 */
export function tensorData(t: TensorProto): NumericArray {
  const info = dtypeInfo(t.dataType, `tensor '${t.name}'`);
  const count = elementCount(t.dims);
  if (t.dataType === DataType.STRING) throw new TypeError(`tensor '${t.name}' holds strings; use tensorStrings()`);
  if (isExternal(t) && !t.rawData?.byteLength) {
    throw new KilnError('EXTERNAL_DATA', `tensor '${t.name}' keeps its data in an external file that was not loaded`);
  }
  if (t.rawData && t.rawData.byteLength > 0) return rawToTypedArray(t.dataType, t.rawData, count);
  if (count === 0) return typedArrayFor(t.dataType, 0);
  const out = typedArrayFor(t.dataType, count);
  const src = t[info.field] as ArrayLike<number | bigint>;
  if (info.bits === 4) {
    // 4-bit types: int32_data holds packed pairs, like raw bytes.
    return rawToTypedArray(t.dataType, Uint8Array.from(src as ArrayLike<number>), count);
  }
  if (t.dataType === DataType.COMPLEX64 || t.dataType === DataType.COMPLEX128) {
    if (src.length < count * 2) throw new KilnError('NOT_ONNX', `tensor '${t.name}' holds ${src.length} values, ${count * 2} expected`);
  } else if (src.length < count) {
    throw new KilnError('NOT_ONNX', `tensor '${t.name}' holds ${src.length} values, ${count} expected for dims [${t.dims.join(', ')}]`);
  }
  const bigintOut = out instanceof BigInt64Array || out instanceof BigUint64Array;
  for (let i = 0; i < out.length; i++) (out as unknown as (number | bigint)[])[i] = bigintOut ? BigInt(src[i]) : Number(src[i]);
  return out;
}

export function tensorStrings(t: TensorProto): string[] {
  const dec = new TextDecoder();
  return t.stringData.map((s) => dec.decode(s));
}

/** Float values of a float32/float16/double tensor as Float32Array (a convenience for passes). */
export function tensorFloats(t: TensorProto): Float32Array {
  const data = tensorData(t);
  if (data instanceof Float32Array) return data;
  if (t.dataType === DataType.FLOAT16 || t.dataType === DataType.BFLOAT16) {
    throw new TypeError(`tensor '${t.name}' is ${t.dataType === DataType.FLOAT16 ? 'float16' : 'bfloat16'}; decode it with dtypes.float16ToNumber`);
  }
  return Float32Array.from(data as ArrayLike<number>, Number);
}

/** Size in bytes of the tensor's values (as stored in raw form). */
export function tensorByteSize(t: TensorProto): number {
  if (t.dataType === DataType.STRING) return t.stringData.reduce((a, s) => a + s.byteLength, 0);
  const info = dtypeInfo(t.dataType, `tensor '${t.name}'`);
  return Math.ceil((info.bits * elementCount(t.dims)) / 8);
}
