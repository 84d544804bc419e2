/**
 * What is in a model: inputs and outputs, versions, operators, parameters, size and compute (MACs).
 * Pure: works over a ModelProto already in memory (see model.ts to load one).
 */
import type { GraphProto, ModelProto, NodeProto, TensorProto, TypeProto } from './proto-types.js';
import { encodeModelProto } from './proto.js';
import { dtypeShort } from './dtypes.js';
import { elementCount, tensorByteSize } from './tensor.js';
import { attrFloats, attrInts, getAttr, subgraphsOf } from './nodes.js';
import { declaredShape, defaultOpset, inferShapes, isConcrete, opKey, type Dim } from './shape-inference.js';
import { formatDims, runtimeInputs } from './input-shapes.js';
import { isComputeOp, nodeMacs } from './macs.js';

export interface InspectOptions {
  /**
   * Concrete shapes for inputs, by name (check them first with resolveInputShapes). Inputs with
   * symbolic dims need one for MACs to be computed.
   */
  shapes?: Readonly<Record<string, readonly number[]>>;
  /** The model's serialized size when the caller knows it (file size + external data). Default: encode the model and measure. */
  serializedBytes?: number;
}

export interface ValueSummary {
  name: string;
  /** 'float32', 'int64', ... or 'sequence' / 'map' / 'optional' for non-tensor values. */
  dtype: string;
  /** Dimensions: numbers, symbolic names as strings, null for an unnamed dynamic dim; null when the rank is unknown. */
  shape: Dim[] | null;
}

export interface OperatorCount {
  /** Operator type, prefixed by its domain when not ai.onnx ('com.microsoft.QLinearConv'). */
  op: string;
  count: number;
}

export interface MacsByOp {
  op: string;
  macs: number;
  nodes: number;
}

export interface UnknownNode {
  name: string;
  op: string;
}

export type MacsReport =
  | {
      status: 'ok';
      /** Total multiply-accumulates at `inputShapes`, over the nodes whose shapes are known. */
      total: number;
      /** Input shapes the figure is for. */
      inputShapes: Record<string, number[]>;
      byOp: MacsByOp[];
      /** Conv / MatMul / Gemm / recurrent (and variant) nodes in the main graph. */
      computeNodes: number;
      /** Such nodes inside If / Loop / Scan bodies: which branch runs, or how often, is not known statically, so they are not counted. */
      subgraphComputeNodes: number;
      /** Compute nodes whose shapes could not be inferred: `total` leaves them out. */
      unknownShapeNodes: UnknownNode[];
    }
  | {
      status: 'needs-shape';
      /** Inputs with dynamic or unknown dims that need a concrete shape. */
      inputs: { name: string; shape: Dim[] | null }[];
      /** Says which input and what to pass. */
      message: string;
    };

export interface InspectReport {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: { name: string; version: string };
  graphName: string;
  modelVersion: number;
  /** Inputs fed at run time (initializers listed as graph inputs are not among them). */
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  /** Output shapes at the given input shapes (present when MACs were computed). */
  inferredOutputShapes?: Record<string, Dim[] | null>;
  /** Nodes, sub-graphs included. */
  nodes: number;
  /** Operator histogram, most used first. Sub-graph nodes included. */
  operators: OperatorCount[];
  parameters: {
    /** Elements in initializers and Constant node tensors (sub-graphs included). */
    count: number;
    /** Tensors holding them. */
    tensors: number;
    /** Initializers also listed as graph inputs (defaults a caller may override); counted in `count`. */
    overridable: number;
  };
  size: {
    /** Serialized model size (with external data, the size it would have inline). */
    totalBytes: number;
    /** Bytes of initializer and Constant tensor data. */
    weightsBytes: number;
    /** totalBytes − weightsBytes: nodes, names, attributes, metadata. */
    graphBytes: number;
  };
  macs: MacsReport;
  shapeInference: {
    /** Operators with no shape rule, with their node counts. */
    unsupportedOps: OperatorCount[];
    /** Node outputs whose shapes stayed unknown. */
    unknownTensors: number;
  };
}

function valueType(type: TypeProto | undefined): string {
  if (!type) return 'unknown';
  if (type.tensorType) return dtypeShort(type.tensorType.elemType);
  if (type.sparseTensorType) return `sparse ${dtypeShort(type.sparseTensorType.elemType)}`;
  if (type.sequenceType) return 'sequence';
  if (type.mapType) return 'map';
  if (type.optionalType) return 'optional';
  return 'unknown';
}

function* allGraphs(graph: GraphProto): Generator<GraphProto> {
  yield graph;
  for (const node of graph.node) for (const g of subgraphsOf(node)) yield* allGraphs(g);
}

const weightTensors = (graph: GraphProto): TensorProto[] => [...graph.initializer, ...graph.sparseInitializer.flatMap((s) => (s.values ? [s.values] : []))];

/** Elements and bytes held by a Constant node. */
function constantSize(node: NodeProto): { elements: number; bytes: number } | undefined {
  const t = getAttr(node, 'value')?.t;
  if (t) return { elements: elementCount(t.dims), bytes: tensorByteSize(t) };
  const sparse = getAttr(node, 'sparse_value')?.sparseTensor;
  if (sparse?.values) {
    const bytes = tensorByteSize(sparse.values) + (sparse.indices ? tensorByteSize(sparse.indices) : 0);
    return { elements: elementCount(sparse.values.dims), bytes };
  }
  const floats = attrFloats(node, 'value_floats');
  if (floats) return { elements: floats.length, bytes: floats.length * 4 };
  const ints = attrInts(node, 'value_ints');
  if (ints) return { elements: ints.length, bytes: ints.length * 8 };
  if (getAttr(node, 'value_float')) return { elements: 1, bytes: 4 };
  if (getAttr(node, 'value_int')) return { elements: 1, bytes: 8 };
  return undefined;
}

const sortedCounts = (map: Map<string, number>): OperatorCount[] =>
  [...map].map(([op, count]) => ({ op, count })).sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));

const dimsHint = (shape: Dim[] | null): string => (shape ? shape.map((d) => (typeof d === 'number' ? d : '?')).join('x') : '...');

/** Inspect a model. Throws TypeError when the model has no graph (loadModel already refuses those). */
export function inspectModel(model: ModelProto, options: InspectOptions = {}): InspectReport {
  const graph = model.graph;
  if (!graph) throw new TypeError('inspectModel: the model has no graph');
  const shapes = options.shapes ?? {};

  const histogram = new Map<string, number>();
  let nodes = 0;
  let paramCount = 0;
  let paramTensors = 0;
  let weightsBytes = 0;
  for (const g of allGraphs(graph)) {
    for (const t of weightTensors(g)) {
      paramCount += elementCount(t.dims);
      paramTensors++;
      weightsBytes += tensorByteSize(t);
    }
    for (const s of g.sparseInitializer) if (s.indices) weightsBytes += tensorByteSize(s.indices);
    for (const node of g.node) {
      nodes++;
      const key = opKey(node);
      histogram.set(key, (histogram.get(key) ?? 0) + 1);
      if (node.opType === 'Constant' && (!node.domain || node.domain === 'ai.onnx')) {
        const c = constantSize(node);
        if (c) {
          paramCount += c.elements;
          paramTensors++;
          weightsBytes += c.bytes;
        }
      }
    }
  }
  const initializerNames = new Set(graph.initializer.map((t) => t.name));
  const overridable = graph.input.filter((i) => initializerNames.has(i.name)).length;
  const totalBytes = options.serializedBytes ?? encodeModelProto(model).byteLength;

  const inputs = runtimeInputs(graph).map((vi) => ({ name: vi.name, dtype: valueType(vi.type), shape: declaredShape(vi) }));
  const outputs = graph.output.map((vi) => ({ name: vi.name, dtype: valueType(vi.type), shape: declaredShape(vi) }));

  const report: InspectReport = {
    irVersion: model.irVersion,
    opsets: model.opsetImport.map((o) => ({ domain: o.domain || 'ai.onnx', version: o.version })),
    producer: { name: model.producerName, version: model.producerVersion },
    graphName: graph.name,
    modelVersion: model.modelVersion,
    inputs,
    outputs,
    nodes,
    operators: sortedCounts(histogram),
    parameters: { count: paramCount, tensors: paramTensors, overridable },
    size: { totalBytes, weightsBytes, graphBytes: Math.max(0, totalBytes - weightsBytes) },
    macs: { status: 'needs-shape', inputs: [], message: '' },
    shapeInference: { unsupportedOps: [], unknownTensors: 0 },
  };

  // MACs need every input's shape to be concrete: a guessed batch size would be a guessed figure.
  const missing = inputs.filter((i) => !shapes[i.name] && !isConcrete(i.shape) && i.dtype !== 'sequence' && i.dtype !== 'map' && i.dtype !== 'optional');
  const inferred = inferShapes(graph, { inputShapes: shapes, opset: defaultOpset(model) });
  report.shapeInference = { unsupportedOps: sortedCounts(inferred.unsupportedOps), unknownTensors: inferred.unknown.size };
  if (missing.length > 0) {
    const described = missing.map((i) => `'${i.name}' is ${i.shape ? formatDims(i.shape) : 'of unknown shape'}`).join(', ');
    const example = missing.map((i) => `--shape ${i.name}=${dimsHint(i.shape)}`).join(' ');
    report.macs = {
      status: 'needs-shape',
      inputs: missing.map((i) => ({ name: i.name, shape: i.shape })),
      message: `MACs need concrete input shapes: ${described}; pass ${example} with each ? replaced by the size you will run`,
    };
    return report;
  }

  const byOp = new Map<string, MacsByOp>();
  const unknownShapeNodes: UnknownNode[] = [];
  let total = 0;
  let computeNodes = 0;
  for (const node of graph.node) {
    if (!isComputeOp(node)) continue;
    computeNodes++;
    const macs = nodeMacs(node, inferred.values);
    const op = opKey(node);
    if (macs === null || macs === undefined) {
      unknownShapeNodes.push({ name: node.name || node.output[0] || '', op });
      continue;
    }
    total += macs;
    const entry = byOp.get(op) ?? { op, macs: 0, nodes: 0 };
    entry.macs += macs;
    entry.nodes++;
    byOp.set(op, entry);
  }
  let subgraphComputeNodes = 0;
  for (const node of graph.node) {
    for (const g of subgraphsOf(node)) for (const sub of allGraphs(g)) subgraphComputeNodes += sub.node.filter(isComputeOp).length;
  }
  const inputShapes: Record<string, number[]> = {};
  for (const i of inputs) {
    const s = shapes[i.name] ?? i.shape;
    if (s && isConcrete(s as Dim[])) inputShapes[i.name] = [...(s as number[])];
  }
  report.macs = {
    status: 'ok',
    total,
    inputShapes,
    byOp: [...byOp.values()].sort((a, b) => b.macs - a.macs),
    computeNodes,
    subgraphComputeNodes,
    unknownShapeNodes,
  };
  report.inferredOutputShapes = Object.fromEntries(outputs.map((o) => [o.name, inferred.values.get(o.name)?.shape ?? null]));
  return report;
}
