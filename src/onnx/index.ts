/**
 * The public surface of kiln's ONNX layer: model I/O, tensors and data types, the mutable graph
 * that compiler passes edit, node/attribute helpers, and the builders of test models.
 */
export { loadModel, parseModel, saveModel, serializeModel, allTensors, MAX_IR_VERSION, MAX_OPSET } from './model.js';
export type { LoadOptions, ParseOptions, SaveOptions } from './model.js';

export { decodeModelProto, encodeModelProto, decodeTensorProto, encodeTensorProto, decodeGraphProto, encodeGraphProto, ProtoDecodeError } from './proto.js';
export * from './proto-types.js';

export {
  DataType,
  MAX_KNOWN_DTYPE,
  isKnownDataType,
  dtypeInfo,
  dtypeName,
  dtypeShort,
  dtypeFromShort,
  rawByteLength,
  float16ToNumber,
  numberToFloat16,
  bfloat16ToNumber,
  numberToBfloat16,
  float8ToNumber,
  typedArrayFor,
  rawToTypedArray,
  typedArrayToRaw,
} from './dtypes.js';
export type { DataTypeName, NumericArray } from './dtypes.js';

export { elementCount, emptyTensor, makeTensor, isExternal, tensorData, tensorStrings, tensorFloats, tensorByteSize } from './tensor.js';

export {
  attr,
  attributeTypeName,
  makeNode,
  makeValueInfo,
  nodeLabel,
  getAttr,
  setAttr,
  attrInt,
  attrInts,
  attrFloat,
  attrFloats,
  attrString,
  attrStrings,
  attrTensor,
  attrGraph,
  subgraphsOf,
} from './nodes.js';
export type { Dim, MakeNodeOptions } from './nodes.js';

export { Graph, outerScopeNames } from './graph.js';
export type { RemovedCounts, AddInitializerOptions } from './graph.js';

export { GraphBuilder, buildMlp, buildCnn, buildMatMulAdd } from './builder.js';
export type {
  DTypeLike,
  RandomInitializerOptions,
  NodeOptions,
  BuildOptions,
  GraphBuilderOptions,
  MlpOptions,
  CnnOptions,
  MatMulAddOptions,
} from './builder.js';

export { Rng, mulberry32 } from './random.js';
