/**
 * Upgrade a graph's default ONNX opset (ai.onnx) from 7–12 to a newer version (13 by default), so that
 * later passes can use what only newer opsets have (per-channel QuantizeLinear/DequantizeLinear needs
 * opset 13's `axis`).
 *
 * The upgrade walks the opsets one at a time. At each version v it looks at every node whose operator
 * got a new version at v: an audited list says which of those changes cannot affect a valid model
 * (new types, negative axes, new attributes whose default is the old behaviour); the others have an
 * adapter that rewrites the node into the new form with the same results (attributes moved to inputs,
 * Softmax's 2-D coercion made explicit, Upsample turned into Resize with the coordinate mode onnxruntime
 * used for it, ...). A node no adapter can handle stops the upgrade: the graph is left as it was and
 * the result names the operator, the node and the opset. Sub-graphs (If/Loop/Scan bodies) are upgraded
 * with their graph.
 *
 * Nothing is changed unless the whole graph converts: the upgrade first runs on a copy.
 */
import { KilnError } from '../../errors.js';
import { DataType, dtypeName, numberToBfloat16, numberToFloat16 } from '../../onnx/dtypes.js';
import { Graph } from '../../onnx/graph.js';
import { attr, attrFloat, attrFloats, attrInt, attrString, getAttr, makeNode, subgraphsOf } from '../../onnx/nodes.js';
import type { AttributeProto, GraphProto, ModelProto, NodeProto } from '../../onnx/proto-types.js';
import { makeTensor, tensorFloats } from '../../onnx/tensor.js';
import { opVersions, signatureSince } from '../../onnx/op-signatures.js';
import { elementTypes, inferShapes, type TensorInfo } from '../../onnx/shape-inference.js';

/** The oldest default opset upgradeOpset starts from. */
export const UPGRADE_MIN_OPSET = 7;
/** The newest default opset upgradeOpset converts to. */
export const UPGRADE_MAX_OPSET = 13;

export interface UpgradeSuccess {
  upgraded: true;
  /** The default opset the graph had. */
  from: number;
  /** The default opset it has now: the target, or `from` when the graph was already at or past it. */
  to: number;
  /**
   * Conversions applied (attribute moved to an input, op replaced, ...): unchanged nodes are not
   * counted, a node converted at two opsets (Upsample at 9 and 10) counts twice.
   */
  converted: number;
  /** Converted nodes per operator type (of the node before conversion). */
  conversions: Record<string, number>;
  /**
   * The oldest IR version the upgraded model may declare (opset `to` needs it, and IR 3 did not allow
   * initializers that are not graph inputs). Raise the model's IR version to it (upgradeModelOpset does).
   */
  minIrVersion: number;
}

export interface UpgradeRefusal {
  upgraded: false;
  /** Why: e.g. "op Scan (node 'loop') changed in opset 9; conversion not implemented". */
  reason: string;
  from?: number;
  to: number;
  /** The operator that blocked the upgrade, where one did. */
  opType?: string;
  /** The name (or first output) of the node that blocked it. */
  node?: string;
}

export type UpgradeResult = UpgradeSuccess | UpgradeRefusal;

/**
 * The oldest IR version a model upgraded to each opset needs: ONNX's versioning table, and at least 4
 * because the upgrade adds initializers that are not graph inputs (IR 3 did not allow those).
 */
const MIN_IR_FOR_OPSET: Readonly<Record<number, number>> = {
  7: 4,
  8: 4,
  9: 4,
  10: 5,
  11: 6,
  12: 7,
  13: 7,
  14: 7,
  15: 8,
  16: 8,
  17: 8,
  18: 8,
  19: 9,
  20: 9,
  21: 10,
  22: 10,
  23: 11,
};

/**
 * Changes that cannot alter a valid model, audited against the operator signatures of onnx 1.12:
 * added element types, negative axes/indices accepted, new optional inputs or attributes whose
 * default keeps the old behaviour, broadcasting where equal shapes were required, text-only changes.
 * Keyed `Op@version` (the version that changed).
 */
const COMPATIBLE = new Set([
  'Abs@13',
  'Add@13',
  'ArgMax@11',
  'ArgMax@12',
  'ArgMax@13',
  'ArgMin@11',
  'ArgMin@12',
  'ArgMin@13',
  'AveragePool@10',
  'AveragePool@11',
  'Cast@9',
  'Cast@13',
  'Ceil@13',
  'Clip@12',
  'Clip@13',
  'Compress@11',
  'Concat@11',
  'Concat@13',
  'Constant@9',
  'Constant@11',
  'Constant@12',
  'Constant@13',
  'Conv@11',
  'DepthToSpace@11',
  'DepthToSpace@13',
  'DequantizeLinear@13',
  'Div@13',
  'Dropout@13',
  'Equal@11',
  'Equal@13',
  'Erf@13',
  'Exp@13',
  'Expand@13',
  'Flatten@9',
  'Flatten@11',
  'Flatten@13',
  'Floor@13',
  'Gather@11',
  'Gather@13',
  'GatherElements@13',
  'GatherND@12',
  'GatherND@13',
  'Gemm@9',
  'Gemm@11',
  'Gemm@13',
  'Greater@9',
  'Greater@13',
  'Hardmax@11',
  'Identity@13',
  'If@11',
  'If@13',
  'IsNaN@13',
  'LRN@13',
  'Less@9',
  'Less@13',
  'Log@13',
  'LogSoftmax@11',
  'Loop@11',
  'Loop@13',
  'LpPool@11',
  'MatMul@9',
  'MatMul@13',
  'Max@8',
  'Max@12',
  'Max@13',
  'MaxPool@8',
  'MaxPool@10',
  'MaxPool@11',
  'MaxPool@12',
  'MaxUnpool@11',
  'Mean@8',
  'Mean@13',
  'MeanVarianceNormalization@13',
  'Min@8',
  'Min@12',
  'Min@13',
  'Mod@13',
  'Mul@13',
  'Neg@13',
  'NegativeLogLikelihoodLoss@13',
  'NonMaxSuppression@11',
  'NonZero@13',
  'OneHot@11',
  'PRelu@9',
  'Pad@13',
  'Pow@12',
  'Pow@13',
  'QuantizeLinear@13',
  'Reciprocal@13',
  'ReduceL1@11',
  'ReduceL1@13',
  'ReduceL2@11',
  'ReduceL2@13',
  'ReduceLogSum@11',
  'ReduceLogSum@13',
  'ReduceLogSumExp@11',
  'ReduceLogSumExp@13',
  'ReduceMax@11',
  'ReduceMax@12',
  'ReduceMax@13',
  'ReduceMean@11',
  'ReduceMean@13',
  'ReduceMin@11',
  'ReduceMin@12',
  'ReduceMin@13',
  'ReduceProd@11',
  'ReduceProd@13',
  'ReduceSum@11',
  'ReduceSumSquare@11',
  'ReduceSumSquare@13',
  'Relu@13',
  'Reshape@13',
  'Resize@13',
  'Scan@11',
  'ScatterElements@13',
  'ScatterND@13',
  'Shape@13',
  'Sigmoid@13',
  'Sign@13',
  'Size@13',
  'Slice@11',
  'Slice@13',
  'Softmax@11',
  'SoftmaxCrossEntropyLoss@13',
  'SpaceToDepth@13',
  'Split@11',
  'Sqrt@13',
  'Squeeze@11',
  'Sub@13',
  'Sum@8',
  'Sum@13',
  'Tanh@13',
  'Tile@13',
  'TopK@11',
  'Transpose@13',
  'Unsqueeze@11',
]);

/** Experimental operators of the early opsets that later opsets dropped: the last opset that has them. */
const LEGACY_OPS: Readonly<Record<string, number>> = { ImageScaler: 9 };

/** The spec's defaults of Clip-6's min/max attributes (±FLT_MAX). */
const FLT_MAX = 3.4028234663852886e38;

// ---- scope: one graph (the model's or a sub-graph) being converted ----------------------------------

class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly opType?: string,
    readonly nodeName?: string,
  ) {
    super(reason);
  }
}

interface Scope {
  graph: Graph;
  /** The model's graph: it hands out names unique across every sub-graph. */
  root: Graph;
  isRoot: boolean;
  /** Element types of the scope's tensors (constants this pass adds included). */
  types: Map<string, number>;
  /** What static inference knows about the scope's tensors when the step began (shapes give ranks). */
  tensors: ReadonlyMap<string, TensorInfo>;
  /** Constants made in this scope, by content, so that 28 Clips share one `6`. */
  constants: Map<string, string>;
  counts: Map<string, number>;
}

const nodeId = (node: NodeProto): string => node.name || (node.output[0] ? `writing ${node.output[0]}` : node.opType);
const nodeText = (node: NodeProto): string => (node.name ? `node '${node.name}'` : `node writing '${node.output[0] ?? ''}'`);

function refuse(node: NodeProto, version: number, detail?: string): never {
  const reason = `op ${node.opType} (${nodeText(node)}) changed in opset ${version}; conversion not implemented${detail ? ` (${detail})` : ''}`;
  throw new Refusal(reason, node.opType, nodeId(node));
}

type Values = Float32Array | Float64Array | Uint16Array | BigInt64Array;

/** A constant tensor in the scope: an initializer in the model's graph, a Constant node in a sub-graph. */
function constant(scope: Scope, hint: string, dataType: number, dims: number[], values: Values): string {
  const text = (v: number | bigint): string => (Object.is(v, -0) ? '-0' : String(v));
  const key = `${dataType}|${dims.join(',')}|${Array.from(values as ArrayLike<number | bigint>, text).join(',')}`;
  const cached = scope.constants.get(key);
  if (cached) return cached;
  const name = scope.root.uniqueName(hint);
  const tensor = makeTensor(name, dataType, dims, values);
  if (scope.isRoot) scope.graph.addInitializer(tensor);
  else scope.graph.addNode(makeNode('Constant', [], [name], [attr.tensor('value', tensor)], { name: scope.root.uniqueName(`${name}_const`) }));
  scope.constants.set(key, name);
  scope.types.set(name, dataType);
  return name;
}

const int64s = (scope: Scope, hint: string, values: readonly bigint[]): string =>
  constant(scope, hint, DataType.INT64, [values.length], BigInt64Array.from(values));

/** A scalar of the element type of a float tensor; refuses for other types. */
function floatScalar(scope: Scope, node: NodeProto, version: number, hint: string, dataType: number, value: number): string {
  switch (dataType) {
    case DataType.FLOAT:
      return constant(scope, hint, dataType, [], Float32Array.of(value));
    case DataType.DOUBLE:
      return constant(scope, hint, dataType, [], Float64Array.of(value));
    case DataType.FLOAT16:
      return constant(scope, hint, dataType, [], Uint16Array.of(numberToFloat16(value)));
    case DataType.BFLOAT16:
      return constant(scope, hint, dataType, [], Uint16Array.of(numberToBfloat16(value)));
    default:
      return refuse(node, version, `its input is ${dtypeName(dataType)}, not a float type`);
  }
}

/** The element type of a node's input, or a refusal saying it cannot be told. */
function elemTypeOf(scope: Scope, node: NodeProto, version: number, index = 0): number {
  const t = scope.types.get(node.input[index]) ?? scope.types.get(node.output[0]);
  if (t === undefined) refuse(node, version, `the element type of '${node.input[index]}' cannot be told from the graph; add value_info for it`);
  return t;
}

/** Float values of a constant tensor (initializer or Constant node) of the scope, or undefined. */
function constantFloats(scope: Scope, name: string): Float32Array | undefined {
  if (!name || !scope.graph.isConstant(name)) return undefined;
  const init = scope.graph.initializers.get(name);
  const t = init ?? scope.graph.producer(name)?.attribute.find((a) => a.name === 'value')?.t;
  if (!t || (t.dataType !== DataType.FLOAT && t.dataType !== DataType.DOUBLE)) return undefined;
  return tensorFloats(t);
}

/** Whether anything reads a tensor: a node (or a sub-graph) or a graph output. */
const isUsed = (scope: Scope, name: string): boolean =>
  !!name && (scope.graph.consumers(name).length > 0 || scope.graph.outputs.some((vi) => vi.name === name));

const without = (node: NodeProto, names: readonly string[]): AttributeProto[] => node.attribute.filter((a) => !names.includes(a.name));

/** Replace `node` by a copy with other inputs/attributes/op type (same name, domain and outputs). */
function rebuild(scope: Scope, node: NodeProto, change: { opType?: string; inputs?: string[]; outputs?: string[]; attrs?: AttributeProto[] }): void {
  const next = makeNode(change.opType ?? node.opType, change.inputs ?? node.input, change.outputs ?? node.output, change.attrs ?? node.attribute, {
    name: node.name,
    domain: node.domain,
  });
  next.docString = node.docString;
  next.metadataProps = node.metadataProps;
  scope.graph.replaceNode(node, [next]);
}

/** Input lists end without trailing '' (omitted optional inputs). */
const trimInputs = (inputs: string[]): string[] => {
  const out = [...inputs];
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
};

// ---- adapters ------------------------------------------------------------------------------------

/** An adapter rewrites one node into the form of `version`; returns false when the node needed no change. */
type Adapter = (scope: Scope, node: NodeProto, version: number) => boolean;

/** An INTS attribute becomes an int64 input at `index` (Squeeze, Unsqueeze, Split, ReduceSum at 13). */
const attributeToInput =
  (attrName: string, index: number, required: boolean): Adapter =>
  (scope, node, version) => {
    const a = getAttr(node, attrName);
    if (node.input.length > index) refuse(node, version, `it already has an input at position ${index}`);
    if (!a) {
      if (required) refuse(node, version, `its required attribute '${attrName}' is missing`);
      return false;
    }
    const inputs = [...node.input];
    while (inputs.length < index) inputs.push('');
    if (a.ints.length > 0) inputs.push(int64s(scope, `${node.name || node.opType}_${attrName}`, a.ints));
    rebuild(scope, node, { inputs: trimInputs(inputs), attrs: without(node, [attrName]) });
    return true;
  };

/**
 * Softmax, LogSoftmax, Hardmax before 13 flatten the input to 2-D at `axis` (default 1) and normalize
 * each row; from 13 they normalize along `axis` alone (default -1). The two agree when `axis` is the
 * last dimension. Otherwise the 2-D form is written out: Flatten → op(axis 1) → Reshape to Shape(x).
 */
const softmaxTo13: Adapter = (scope, node, version) => {
  const axisAttr = getAttr(node, 'axis');
  const axis = axisAttr ? Number(axisAttr.i) : 1;
  const x = node.input[0];
  const rank = scope.tensors.get(x)?.shape?.length;
  if (rank !== undefined && (axis < -rank || axis >= rank)) refuse(node, version, `axis ${axis} is outside the input's rank ${rank}`);
  const normalized = rank !== undefined && axis < 0 ? axis + rank : axis;
  if (axis === -1 || (rank !== undefined && normalized === rank - 1)) {
    if (axisAttr && Number(axisAttr.i) === axis) return false;
    rebuild(scope, node, { attrs: [...without(node, ['axis']), attr.int('axis', axis)] });
    return true;
  }
  const base = node.name || node.opType;
  const shape = scope.root.uniqueName(`${x}_shape`);
  const flat = scope.root.uniqueName(`${x}_2d`);
  const rows = scope.root.uniqueName(`${node.output[0]}_2d`);
  const nodes = [
    makeNode('Shape', [x], [shape], [], { name: scope.root.uniqueName(`${base}/shape`) }),
    makeNode('Flatten', [x], [flat], [attr.int('axis', normalized)], { name: scope.root.uniqueName(`${base}/flatten`) }),
    makeNode(node.opType, [flat], [rows], [attr.int('axis', 1)], { name: node.name }),
    makeNode('Reshape', [rows, shape], [node.output[0]], [], { name: scope.root.uniqueName(`${base}/reshape`) }),
  ];
  scope.graph.replaceNode(node, nodes);
  return true;
};

/** Clip 11: min/max attributes become inputs of the input's element type. */
const clipTo11: Adapter = (scope, node, version) => {
  const minA = getAttr(node, 'min');
  const maxA = getAttr(node, 'max');
  const type = elemTypeOf(scope, node, version);
  // Clip-6 clamps to ±FLT_MAX when an attribute is absent (so ±inf become ±FLT_MAX); keep that for
  // float and double. In float16, FLT_MAX is infinity: no bound at all, as an omitted input.
  const bound = (a: AttributeProto | undefined, fallback: number, hint: string): string =>
    a ? floatScalar(scope, node, version, hint, type, a.f) : type === DataType.FLOAT16 ? '' : floatScalar(scope, node, version, hint, type, fallback);
  const inputs = trimInputs([node.input[0], bound(minA, -FLT_MAX, 'clip_min'), bound(maxA, FLT_MAX, 'clip_max')]);
  rebuild(scope, node, { inputs, attrs: without(node, ['min', 'max']) });
  return true;
};

/** Pad 11: `pads` becomes an int64 input, `value` the optional constant_value input. */
const padTo11: Adapter = (scope, node, version) => {
  const pads = getAttr(node, 'pads');
  if (!pads) refuse(node, version, "its required attribute 'pads' is missing");
  const value = attrFloat(node, 'value', 0);
  const mode = attrString(node, 'mode', 'constant');
  const inputs = [node.input[0], int64s(scope, `${node.name || 'pad'}_pads`, pads.ints)];
  if (mode === 'constant' && !Object.is(value, 0)) inputs.push(floatScalar(scope, node, version, 'pad_value', elemTypeOf(scope, node, version), value));
  rebuild(scope, node, { inputs, attrs: without(node, ['pads', 'value']) });
  return true;
};

/** Slice 10: starts/ends/axes attributes become int64 inputs. */
const sliceTo10: Adapter = (scope, node, version) => {
  const starts = getAttr(node, 'starts');
  const ends = getAttr(node, 'ends');
  if (!starts || !ends) refuse(node, version, "its required attributes 'starts'/'ends' are missing");
  const axes = getAttr(node, 'axes');
  const base = node.name || 'slice';
  const inputs = [node.input[0], int64s(scope, `${base}_starts`, starts.ints), int64s(scope, `${base}_ends`, ends.ints)];
  if (axes) inputs.push(int64s(scope, `${base}_axes`, axes.ints));
  rebuild(scope, node, { inputs, attrs: without(node, ['starts', 'ends', 'axes']) });
  return true;
};

/** TopK 10: `k` becomes a 1-element int64 input. */
const topkTo10: Adapter = (scope, node, version) => {
  const k = getAttr(node, 'k');
  if (!k) refuse(node, version, "its required attribute 'k' is missing");
  rebuild(scope, node, { inputs: [node.input[0], int64s(scope, `${node.name || 'topk'}_k`, [k.i])], attrs: without(node, ['k']) });
  return true;
};

/** Dropout 10: the mask output turns from T into bool. Fine when nothing reads the mask. */
const dropoutTo10: Adapter = (scope, node, version) => {
  const mask = node.output[1];
  if (!mask) return false;
  if (isUsed(scope, mask)) refuse(node, version, 'its mask output, whose type changes to bool, is read');
  rebuild(scope, node, { outputs: [node.output[0]] });
  return true;
};

/** Dropout 12: `ratio` becomes an input (only used in training mode, which inference never enables). */
const dropoutTo12: Adapter = (scope, node) => {
  const ratio = getAttr(node, 'ratio');
  if (!ratio) return false;
  const inputs = [node.input[0], constant(scope, 'dropout_ratio', DataType.FLOAT, [], Float32Array.of(ratio.f))];
  rebuild(scope, node, { inputs, attrs: without(node, ['ratio']) });
  return true;
};

/**
 * BatchNormalization 9 dropped `spatial` (opset 1's `consumed_inputs` and `is_test` linger in some
 * exports too). spatial = 1 (the default) is opset 9's only behaviour. spatial = 0 (statistics per
 * element) is written out as (x - mean) / sqrt(var + epsilon) * scale + B.
 */
const batchNormTo9: Adapter = (scope, node, version) => {
  const legacy = ['spatial', 'consumed_inputs', 'is_test'];
  if (!node.attribute.some((a) => legacy.includes(a.name))) return false;
  const spatial = attrInt(node, 'spatial', 1);
  if (spatial !== 0) {
    rebuild(scope, node, { attrs: without(node, legacy) });
    return true;
  }
  if (node.output.slice(1).some((o) => isUsed(scope, o))) refuse(node, version, 'spatial = 0 with training outputs');
  const [x, scale, bias, mean, variance] = node.input;
  const type = elemTypeOf(scope, node, version);
  const eps = floatScalar(scope, node, version, 'bn_epsilon', type, attrFloat(node, 'epsilon', 1e-5));
  const base = node.name || 'batchnorm';
  const t = (suffix: string): string => scope.root.uniqueName(`${base}_${suffix}`);
  const [centered, varEps, std, normalized, scaled] = ['centered', 'var_eps', 'std', 'normalized', 'scaled'].map(t);
  const n = (op: string, inputs: string[], output: string): NodeProto =>
    makeNode(op, inputs, [output], [], { name: scope.root.uniqueName(`${base}/${op.toLowerCase()}`) });
  scope.graph.replaceNode(node, [
    n('Sub', [x, mean], centered),
    n('Add', [variance, eps], varEps),
    n('Sqrt', [varEps], std),
    n('Div', [centered, std], normalized),
    n('Mul', [normalized, scale], scaled),
    n('Add', [scaled, bias], node.output[0]),
  ]);
  return true;
};

/** Upsample 9: the `scales` attribute becomes a float input. */
const upsampleTo9: Adapter = (scope, node, version) => {
  const scales = getAttr(node, 'scales');
  if (!scales) refuse(node, version, "its required attribute 'scales' is missing");
  const input = constant(scope, `${node.name || 'upsample'}_scales`, DataType.FLOAT, [scales.floats.length], Float32Array.from(scales.floats));
  rebuild(scope, node, { inputs: [node.input[0], input], attrs: without(node, ['scales']) });
  return true;
};

/** Upsample is deprecated at 10: Resize-10 has the same inputs and, in onnxruntime, the same arithmetic. */
const upsampleTo10: Adapter = (scope, node) => {
  rebuild(scope, node, { opType: 'Resize' });
  return true;
};

/**
 * Resize 11 adds roi (empty here) and the coordinate modes. Resize-10 (and Upsample) map output
 * coordinates as `asymmetric` (x / scale). Their nearest pixel, as onnxruntime computes it, truncates
 * when enlarging and rounds up when shrinking: `floor` or `ceil`, which needs constant scales that
 * all enlarge or all shrink.
 */
const resizeTo11: Adapter = (scope, node, version) => {
  const mode = attrString(node, 'mode', 'nearest');
  const attrs = [...without(node, ['coordinate_transformation_mode', 'nearest_mode']), attr.string('coordinate_transformation_mode', 'asymmetric')];
  if (mode === 'nearest') {
    const scales = constantFloats(scope, node.input[1]);
    if (!scales) refuse(node, version, 'nearest mode with scales computed at run time: its rounding depends on them');
    const up = scales.every((s) => s >= 1);
    const down = scales.every((s) => s <= 1);
    if (!up && !down) refuse(node, version, 'nearest mode with scales that enlarge some axes and shrink others');
    attrs.push(attr.string('nearest_mode', up ? 'floor' : 'ceil'));
  } else if (mode !== 'linear') {
    refuse(node, version, `mode '${mode}'`);
  }
  const roi = constant(scope, 'resize_roi', DataType.FLOAT, [0], new Float32Array(0));
  rebuild(scope, node, { inputs: [node.input[0], roi, node.input[1]], attrs });
  return true;
};

/** Scatter is deprecated at 11 in favour of ScatterElements, the same operation. */
const scatterTo11: Adapter = (scope, node) => {
  rebuild(scope, node, { opType: 'ScatterElements' });
  return true;
};

/** ConvTranspose 11 swapped which side SAME_UPPER/SAME_LOWER put the odd padding on. */
const convTransposeTo11: Adapter = (_scope, node, version) => {
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') refuse(node, version, `auto_pad ${autoPad}, whose padding side changed`);
  return false;
};

/** ImageScaler (experimental, gone at 10): y = x * scale + bias[channel]. */
const imageScalerTo10: Adapter = (scope, node, version) => {
  const type = elemTypeOf(scope, node, version);
  if (type !== DataType.FLOAT) refuse(node, version, `its input is ${dtypeName(type)}`);
  const scale = attrFloat(node, 'scale', 1);
  const bias = attrFloats(node, 'bias', []);
  const rank = scope.tensors.get(node.input[0])?.shape?.length ?? 4;
  const base = node.name || 'image_scaler';
  const scaled = scope.root.uniqueName(`${base}_scaled`);
  const nodes = [
    makeNode('Mul', [node.input[0], floatScalar(scope, node, version, 'image_scale', type, scale)], [scaled], [], {
      name: scope.root.uniqueName(`${base}/mul`),
    }),
  ];
  const biasDims = [1, bias.length, ...Array.from({ length: Math.max(0, rank - 2) }, () => 1)];
  const biasName = constant(scope, `${base}_bias`, DataType.FLOAT, biasDims, Float32Array.from(bias));
  nodes.push(makeNode('Add', [scaled, biasName], [node.output[0]], [], { name: scope.root.uniqueName(`${base}/add`) }));
  scope.graph.replaceNode(node, nodes);
  return true;
};

const notImplemented =
  (detail: string): Adapter =>
  (_scope, node, version) =>
    refuse(node, version, detail);

/** Adapters keyed `Op@version` (the version whose change they bridge). */
const ADAPTERS: Readonly<Record<string, Adapter>> = {
  'BatchNormalization@9': batchNormTo9,
  'Upsample@9': upsampleTo9,
  'Scan@9': notImplemented("Scan-8's batch axis and sequence_lens input have no Scan-9 equivalent"),
  'Slice@10': sliceTo10,
  'TopK@10': topkTo10,
  'Dropout@10': dropoutTo10,
  'Upsample@10': upsampleTo10,
  'ImageScaler@10': imageScalerTo10,
  'Clip@11': clipTo11,
  'Pad@11': padTo11,
  'Resize@11': resizeTo11,
  'Scatter@11': scatterTo11,
  'ConvTranspose@11': convTransposeTo11,
  'Dropout@12': dropoutTo12,
  'Softmax@13': softmaxTo13,
  'LogSoftmax@13': softmaxTo13,
  'Hardmax@13': softmaxTo13,
  'Squeeze@13': attributeToInput('axes', 1, false),
  'Unsqueeze@13': attributeToInput('axes', 1, true),
  'Split@13': attributeToInput('split', 1, false),
  'ReduceSum@13': attributeToInput('axes', 1, false),
};

/**
 * How upgradeOpset treats the change of `opType` at opset `version`: 'compatible' (the node stays as
 * it is), 'converted' (an adapter rewrites it; some cases may still be refused, e.g. Resize-10 nearest
 * with scales computed at run time), 'refused' (not implemented), or 'unchanged' when the operator
 * has no new version at `version`.
 */
export function classifyChange(opType: string, version: number): 'compatible' | 'converted' | 'refused' | 'unchanged' {
  if (!changePoints(opType)?.includes(version)) return 'unchanged';
  const key = `${opType}@${version}`;
  if (COMPATIBLE.has(key)) return 'compatible';
  return ADAPTERS[key] && key !== 'Scan@9' ? 'converted' : 'refused';
}

// ---- driver --------------------------------------------------------------------------------------

const isDefaultDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';

/** The opset versions at which `opType` changed, with the legacy ops' removal as a change too. */
function changePoints(opType: string): number[] | undefined {
  const legacy = LEGACY_OPS[opType];
  if (legacy !== undefined) return [1, legacy + 1];
  return opVersions(opType);
}

/** Refuse nodes that are not operators of the source opset at all. */
function checkExists(nodes: readonly NodeProto[], from: number): void {
  for (const node of nodes) {
    for (const g of subgraphsOf(node)) checkExists(g.node, from);
    if (!isDefaultDomain(node.domain)) continue;
    const legacy = LEGACY_OPS[node.opType];
    const versions = opVersions(node.opType);
    if (legacy !== undefined ? from > legacy : !versions) {
      throw new Refusal(`op ${node.opType} (${nodeText(node)}) is not an operator of the default ONNX domain at opset ${from}`, node.opType, nodeId(node));
    }
    if (versions && versions[0] > from) {
      throw new Refusal(
        `op ${node.opType} (${nodeText(node)}) does not exist before opset ${versions[0]}, yet the model declares opset ${from}`,
        node.opType,
        nodeId(node),
      );
    }
  }
}

function emptyModel(graph: GraphProto, opset: number): ModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    producerName: '',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    graph,
    metadataProps: [],
    trainingInfo: [],
    functions: [],
  };
}

interface RunState {
  from: number;
  counts: Map<string, number>;
}

/** Convert every node of one scope (and its sub-graphs) from opset `version - 1` to `version`. */
function step(scope: Scope, version: number, state: RunState): void {
  for (const node of [...scope.graph.nodes]) {
    let touchedSubgraph = false;
    for (const a of node.attribute) {
      if (a.g) {
        a.g = stepSubgraph(a.g, scope, version, state);
        touchedSubgraph = true;
      }
      if (a.graphs.length > 0) {
        a.graphs = a.graphs.map((g) => stepSubgraph(g, scope, version, state));
        touchedSubgraph = true;
      }
    }
    if (touchedSubgraph) scope.graph.invalidate();
    if (!isDefaultDomain(node.domain)) continue;
    const points = changePoints(node.opType);
    const key = `${node.opType}@${version}`;
    const legacyCleanup = node.opType === 'BatchNormalization' && version === state.from + 1 && state.from >= 9;
    if (!points?.includes(version) && !legacyCleanup) continue;
    const adapter = ADAPTERS[key] ?? (legacyCleanup ? ADAPTERS['BatchNormalization@9'] : undefined);
    if (!adapter) {
      if (COMPATIBLE.has(key)) continue;
      const sig = signatureSince(node.opType, version);
      refuse(node, version, sig?.deprecated ? 'the operator is deprecated there' : undefined);
    }
    if (adapter(scope, node, version)) state.counts.set(node.opType, (state.counts.get(node.opType) ?? 0) + 1);
  }
}

function stepSubgraph(g: GraphProto, parent: Scope, version: number, state: RunState): GraphProto {
  const graph = Graph.fromModel(emptyModel(g, version - 1));
  const { values } = inferShapes(g, { opset: version - 1, outer: parent.tensors });
  const scope: Scope = {
    graph,
    root: parent.root,
    isRoot: false,
    types: new Map([...parent.types, ...elementTypes(values)]),
    tensors: values,
    constants: new Map(),
    counts: state.counts,
  };
  step(scope, version, state);
  return graph.toModel().graph!;
}

function run(graph: Graph, from: number, to: number): Map<string, number> {
  checkExists(graph.nodes, from);
  const state: RunState = { from, counts: new Map() };
  const constants = new Map<string, string>();
  for (let version = from + 1; version <= to; version++) {
    const { values } = inferShapes(graph, { opset: version - 1 });
    const scope: Scope = {
      graph,
      root: graph,
      isRoot: true,
      types: elementTypes(values),
      tensors: values,
      constants,
      counts: state.counts,
    };
    step(scope, version, state);
  }
  return state.counts;
}

/**
 * A copy of a graph that a trial run may edit freely: nodes, attributes, sub-graphs and value infos are
 * copied; tensors are shared, because no adapter edits a tensor (they make new ones).
 */
function trialGraph(g: GraphProto): GraphProto {
  const node = (n: NodeProto): NodeProto => ({
    ...n,
    input: [...n.input],
    output: [...n.output],
    attribute: n.attribute.map((a) => ({ ...a, ints: [...a.ints], floats: [...a.floats], g: a.g && trialGraph(a.g), graphs: a.graphs.map(trialGraph) })),
  });
  return {
    ...g,
    node: g.node.map(node),
    input: g.input.map((vi) => ({ ...vi })),
    output: g.output.map((vi) => ({ ...vi })),
    valueInfo: g.valueInfo.map((vi) => ({ ...vi })),
    initializer: [...g.initializer],
  };
}

function trialCopy(model: ModelProto): ModelProto {
  return { ...model, opsetImport: model.opsetImport.map((o) => ({ ...o })), graph: trialGraph(model.graph!) };
}

/**
 * Upgrade the graph's default ONNX opset to `targetVersion` (7–13; default 13), converting the nodes
 * whose operators changed on the way. On success the graph is edited in place and its opset import set
 * to `targetVersion`; if any node cannot be converted, the graph is left unchanged and the result says
 * which operator, node and opset blocked it. A graph already at the target, or newer, is left as it is
 * (upgraded: true, converted: 0, `to` its own opset): kiln never downgrades.
 *
 * Raise the model's IR version to `minIrVersion` when writing it (or use upgradeModelOpset).
 * Throws RangeError for a target outside 7–13.
 */
export function upgradeOpset(graph: Graph, targetVersion = UPGRADE_MAX_OPSET): UpgradeResult {
  const to = targetVersion;
  if (!Number.isInteger(to) || to < UPGRADE_MIN_OPSET || to > UPGRADE_MAX_OPSET) {
    throw new RangeError(`upgradeOpset: targetVersion must be an integer from ${UPGRADE_MIN_OPSET} to ${UPGRADE_MAX_OPSET}, got ${String(targetVersion)}`);
  }
  const from = graph.opsetVersion('');
  if (from === undefined) return { upgraded: false, reason: 'the model imports no default ONNX opset (ai.onnx), so there is nothing to upgrade', to };
  if (from < UPGRADE_MIN_OPSET) {
    return {
      upgraded: false,
      reason: `the model is at opset ${from}; kiln upgrades from opset ${UPGRADE_MIN_OPSET} (re-export the model with opset ≥ ${UPGRADE_MIN_OPSET})`,
      from,
      to,
    };
  }
  // Already there (or newer: kiln upgrades, it never downgrades): nothing to convert.
  if (from >= to) return { upgraded: true, from, to: from, converted: 0, conversions: {}, minIrVersion: MIN_IR_FOR_OPSET[from] ?? MIN_IR_FOR_OPSET[23] };
  const minIrVersion = MIN_IR_FOR_OPSET[to];

  try {
    run(Graph.fromModel(trialCopy(graph.toModel())), from, to);
  } catch (err) {
    if (err instanceof Refusal) return { upgraded: false, reason: err.reason, from, to, opType: err.opType, node: err.nodeName };
    throw err;
  }
  let counts: Map<string, number>;
  try {
    counts = run(graph, from, to);
  } catch (err) {
    throw new KilnError('INTERNAL', `upgradeOpset: the upgrade succeeded on a copy of the graph but failed on the graph itself (${(err as Error).message})`, {
      cause: err,
    });
  }
  graph.setOpset('', to);
  const conversions = Object.fromEntries([...counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  const converted = [...counts.values()].reduce((a, b) => a + b, 0);
  return { upgraded: true, from, to, converted, conversions, minIrVersion };
}

/**
 * upgradeOpset for a whole model: returns the upgraded model (IR version raised where the new opset
 * needs it) with the result, or the model as it was with the refusal. Like Graph.fromModel it takes
 * ownership of `model`: on success its nodes are the upgraded ones.
 */
export function upgradeModelOpset(model: ModelProto, targetVersion = UPGRADE_MAX_OPSET): { model: ModelProto; result: UpgradeResult } {
  const graph = Graph.fromModel(model);
  const result = upgradeOpset(graph, targetVersion);
  if (!result.upgraded || result.from === result.to) return { model, result };
  const out = graph.toModel();
  out.irVersion = Math.max(out.irVersion, result.minIrVersion);
  return { model: out, result };
}
