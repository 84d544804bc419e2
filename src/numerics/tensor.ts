/**
 * kiln's one tensor: onnxruntime's `{ type, dims, data }` shape, plain data (no onnxruntime import
 * needed to build one: `new ort.Tensor(t.type, t.data, t.dims)` takes it as it is). Backends,
 * calibration data, zoo samples and the agent's requests all speak it.
 */

/** Element types, by onnxruntime's names. */
export type TensorType = 'float32' | 'float16' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

/** A tensor, as it crosses the backend boundary. */
export interface TensorData {
  type: TensorType | string;
  dims: readonly number[];
  data: ArrayBufferView & ArrayLike<number | bigint>;
}

/** A typed-array class, as `new` takes it: a length, or a buffer with an offset and length. */
export type TypedArrayClass = {
  new (length: number): TensorData['data'];
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TensorData['data'];
};

/** The array class that holds each element type (float16 as its IEEE binary16 bits; bool as bytes). */
export const TYPED_ARRAYS: Readonly<Record<TensorType, TypedArrayClass>> = Object.freeze({
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
} as Record<TensorType, TypedArrayClass>);

/** The array class for a type name, or undefined for a type kiln does not carry as raw numbers (string). */
export const typedArrayFor = (type: string): TypedArrayClass | undefined => (TYPED_ARRAYS as Record<string, TypedArrayClass>)[type];

/** Tensors by name: a model's feeds or its outputs. */
export type NamedTensors = Record<string, TensorData>;

/** The same tensor with its data's array class told by its type: what kiln builds itself (zoo samples, calibration data). */
export type TypedTensor =
  | { type: 'float32'; dims: number[]; data: Float32Array }
  | { type: 'float64'; dims: number[]; data: Float64Array }
  /** float16 as IEEE binary16 bits, as onnxruntime-node takes it. */
  | { type: 'float16'; dims: number[]; data: Uint16Array }
  | { type: 'int8'; dims: number[]; data: Int8Array }
  | { type: 'uint8'; dims: number[]; data: Uint8Array }
  | { type: 'int16'; dims: number[]; data: Int16Array }
  | { type: 'uint16'; dims: number[]; data: Uint16Array }
  | { type: 'int32'; dims: number[]; data: Int32Array }
  | { type: 'uint32'; dims: number[]; data: Uint32Array }
  | { type: 'int64'; dims: number[]; data: BigInt64Array }
  | { type: 'uint64'; dims: number[]; data: BigUint64Array }
  | { type: 'bool'; dims: number[]; data: Uint8Array };
