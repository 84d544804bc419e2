/**
 * Plain TypeScript shapes of the ONNX protobuf messages, as kiln's decoder returns them.
 *
 * int64 fields whose values are sizes or versions (dims, ir_version, opset versions, dim_value) are
 * `number` (the decoder refuses values beyond 2^53). int64 fields that carry user data and may hold
 * any 64-bit value (attribute `i`/`ints`, int64/uint64 tensor data) are `bigint`, so INT64_MAX in a
 * Slice's `ends` survives a round trip.
 */

export interface StringStringEntry {
  key: string;
  value: string;
}

export interface OperatorSetId {
  /** '' (or 'ai.onnx') is the default ONNX domain. */
  domain: string;
  version: number;
}

export interface TensorSegment {
  begin: number;
  end: number;
}

export interface TensorProto {
  name: string;
  dims: number[];
  /** A `DataType` code (see dtypes.ts). */
  dataType: number;
  segment?: TensorSegment;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: bigint[];
  doubleData: number[];
  uint64Data: bigint[];
  rawData?: Uint8Array;
  docString: string;
  externalData: StringStringEntry[];
  /** 0 = DEFAULT (inline), 1 = EXTERNAL. */
  dataLocation: number;
  metadataProps: StringStringEntry[];
}

export interface SparseTensorProto {
  values?: TensorProto;
  indices?: TensorProto;
  dims: number[];
}

export interface Dimension {
  dimValue?: number;
  dimParam?: string;
  denotation: string;
}

export interface TensorShapeProto {
  dim: Dimension[];
}

export interface TypeProto {
  tensorType?: { elemType: number; shape?: TensorShapeProto };
  sparseTensorType?: { elemType: number; shape?: TensorShapeProto };
  sequenceType?: { elemType?: TypeProto };
  mapType?: { keyType: number; valueType?: TypeProto };
  optionalType?: { elemType?: TypeProto };
  opaqueType?: { domain: string; name: string };
  denotation: string;
}

export interface ValueInfoProto {
  name: string;
  type?: TypeProto;
  docString: string;
  metadataProps: StringStringEntry[];
}

/** AttributeProto.AttributeType codes. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

export interface AttributeProto {
  name: string;
  refAttrName: string;
  docString: string;
  type: number;
  f: number;
  i: bigint;
  s: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparseTensor?: SparseTensorProto;
  tp?: TypeProto;
  floats: number[];
  ints: bigint[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparseTensors: SparseTensorProto[];
  typeProtos: TypeProto[];
}

export interface NodeProto {
  name: string;
  opType: string;
  domain: string;
  overload: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
  docString: string;
  metadataProps: StringStringEntry[];
}

export interface TensorAnnotation {
  tensorName: string;
  quantParameterTensorNames: StringStringEntry[];
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  sparseInitializer: SparseTensorProto[];
  docString: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  quantizationAnnotation: TensorAnnotation[];
  metadataProps: StringStringEntry[];
}

export interface TrainingInfoProto {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  initializationBinding: StringStringEntry[];
  updateBinding: StringStringEntry[];
}

export interface FunctionProto {
  name: string;
  domain: string;
  overload: string;
  input: string[];
  output: string[];
  attribute: string[];
  attributeProto: AttributeProto[];
  node: NodeProto[];
  docString: string;
  opsetImport: OperatorSetId[];
  valueInfo: ValueInfoProto[];
  metadataProps: StringStringEntry[];
}

export interface ModelProto {
  irVersion: number;
  opsetImport: OperatorSetId[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph?: GraphProto;
  metadataProps: StringStringEntry[];
  trainingInfo: TrainingInfoProto[];
  functions: FunctionProto[];
}
