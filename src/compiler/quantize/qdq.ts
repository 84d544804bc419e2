/**
 * Static int8 quantization in QDQ form: QuantizeLinear/DequantizeLinear pairs around the nodes
 * that should run in int8, placed so that onnxruntime fuses them into integer kernels.
 *
 * Placement follows what onnxruntime's QDQ fusion needs (see shared/notes/platform-facts.md):
 * - the Q sits after a Conv/MatMul/Gemm/Add's Relu or Clip(0, …), with the range starting at 0
 *   (uint8 zero point 0), so the activation folds into QLinearConv instead of leaving a DQ→Q pair;
 * - glue ops between quantized nodes (Add, Mul, Concat, pooling, Sigmoid) are quantized too;
 * - data-movement ops (MaxPool, Reshape, Transpose, …) reuse their input's scale, as onnxruntime
 *   only drops Q/DQ around them when both sides match;
 * - weights are symmetric int8 (per output channel for Conv), biases int32 at scale x·w.
 * Pure: a Graph and calibrated ranges in, the same Graph rewritten out.
 */
import { DataType } from '../../onnx/dtypes.js';
import type { Graph } from '../../onnx/graph.js';
import { attr, attrInt, getAttr, makeNode } from '../../onnx/nodes.js';
import type { NodeProto, TensorProto } from '../../onnx/proto-types.js';
import { makeTensor, tensorFloats } from '../../onnx/tensor.js';
import { activationParams, quantizeWeightsSymmetric, type QuantParams, type Range } from '../calibration.js';

export interface QdqOptions {
  activations: 'uint8' | 'int8';
  reduceRange: boolean;
  perChannel: boolean;
  /** Calibrated range of every float activation tensor. */
  ranges: ReadonlyMap<string, Range>;
  includeOps?: ReadonlySet<string>;
  excludeOps?: ReadonlySet<string>;
  includeNodes?: ReadonlySet<string>;
  /** Run these nodes in float; they still read dequantized int8 where a neighbour quantizes their input. */
  excludeNodes?: ReadonlySet<string>;
  /** Keep these nodes and every tensor they touch in float (no Q on their inputs or outputs): for accuracy. */
  isolateNodes?: ReadonlySet<string>;
  /**
   * Beyond the plain QDQ graph: Slice moves int8 data too, shape-reading ops (Shape, Size) read the
   * int8 tensor (so no DequantizeLinear stays alive just for a shape), and a Concat's inputs share
   * its scale. @default true
   */
  extended?: boolean;
}

export interface QdqReport {
  /** Names of the nodes now running in int8. */
  quantized: string[];
  /** Candidates kept in float, with the reason. */
  excluded: { name: string; opType: string; reason: string }[];
  /** For each quantized node, a float tensor in the new graph holding its dequantized result. */
  observe: Map<string, { reference: string; quantized: string }>;
  /** Per-channel weights were wanted but the opset (< 13) allows only per-tensor. */
  perTensorFallback: boolean;
}

const WEIGHTED = new Set(['Conv', 'MatMul', 'Gemm']);
const GLUE = new Set(['Add', 'Mul', 'Concat', 'GlobalAveragePool', 'AveragePool', 'Sigmoid', 'LeakyRelu']);
const PASSTHROUGH = new Set(['MaxPool', 'Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze']);
/** Data-movement ops onnxruntime also runs on int8 data (its QDQ rules drop the pair around them); input 0 is the data. */
const EXTENDED_PASSTHROUGH = new Set(['Slice']);
/** Ops that read only their input's shape. */
const SHAPE_READERS = new Set(['Shape', 'Size']);
/** Ops whose Relu/Clip successor onnxruntime folds into the fused int8 kernel. */
const FUSES_ACTIVATION = new Set(['Conv', 'MatMul', 'Gemm', 'Add']);

export const QUANTIZABLE_OPS: readonly string[] = [...WEIGHTED, ...GLUE, ...PASSTHROUGH, ...EXTENDED_PASSTHROUGH];

function isFloatTensor(graph: Graph, name: string, ranges: ReadonlyMap<string, Range>): boolean {
  const init = graph.initializers.get(name);
  if (init) return init.dataType === DataType.FLOAT;
  return ranges.has(name);
}

/** The activation (Relu / Clip from 0) that alone consumes `node`'s output, if ORT can fold it. */
function foldableActivation(graph: Graph, node: NodeProto): NodeProto | undefined {
  const out = node.output[0];
  if (graph.outputs.some((o) => o.name === out)) return undefined;
  const consumers = graph.consumers(out);
  if (consumers.length !== 1) return undefined;
  const act = consumers[0];
  if (act.opType === 'Relu') return act;
  if (act.opType === 'Clip') {
    const minName = act.input[1];
    if (minName) {
      const t = graph.initializers.get(minName);
      if (!t || tensorFloats(t)[0] !== 0) return undefined;
      return act;
    }
    const minAttr = getAttr(act, 'min');
    return minAttr && minAttr.f === 0 ? act : undefined;
  }
  return undefined;
}

export function quantizeQdq(graph: Graph, options: QdqOptions): QdqReport {
  const { ranges } = options;
  const report: QdqReport = { quantized: [], excluded: [], observe: new Map(), perTensorFallback: false };
  const perChannel = options.perChannel && (graph.opsetVersion('') ?? 0) >= 13;
  if (options.perChannel && !perChannel) report.perTensorFallback = true;
  const actType = options.activations === 'uint8' ? DataType.UINT8 : DataType.INT8;
  const extended = options.extended ?? true;
  const passthrough = extended ? new Set([...PASSTHROUGH, ...EXTENDED_PASSTHROUGH]) : PASSTHROUGH;
  /** Inputs past the data input of a data-movement op (shapes, indices) are not activations. */
  const dataOnly = (op: string) => op === 'Reshape' || EXTENDED_PASSTHROUGH.has(op);

  const nodes = [...graph.topologicalSort()];
  const selected = new Set<NodeProto>();
  const exclude = (node: NodeProto, reason: string) => report.excluded.push({ name: node.name, opType: node.opType, reason });
  const userAllows = (node: NodeProto): string | undefined => {
    if (options.excludeNodes?.has(node.name)) return 'excluded by name';
    if (options.excludeOps?.has(node.opType)) return `op type ${node.opType} excluded`;
    if (options.includeNodes && !options.includeNodes.has(node.name)) return 'not in the include list';
    if (options.includeOps && !options.includeOps.has(node.opType)) return `op type ${node.opType} not included`;
    return undefined;
  };
  const activationInputs = (node: NodeProto): string[] =>
    node.input.filter((n, i) => n && !graph.isConstant(n) && (!dataOnly(node.opType) || i === 0) && ranges.has(n));
  const producedBySelected = (name: string): boolean => {
    const p = graph.producer(name);
    if (!p) return false;
    if (selected.has(p)) return true;
    // Through a folded activation (Conv → Relu): the Relu's output is the quantized one.
    const feeding = p.opType === 'Relu' || p.opType === 'Clip' ? graph.producer(p.input[0]) : undefined;
    return !!feeding && selected.has(feeding) && foldableActivation(graph, feeding) === p;
  };

  for (const node of nodes) {
    if (node.domain && node.domain !== 'ai.onnx') continue;
    const op = node.opType;
    if (!WEIGHTED.has(op) && !GLUE.has(op) && !passthrough.has(op)) continue;
    const veto = userAllows(node);
    if (veto) {
      exclude(node, veto);
      continue;
    }
    if (node.input.some((n, i) => n && i < (dataOnly(op) ? 1 : node.input.length) && !isFloatTensor(graph, n, ranges) && !(op === 'Conv' || op === 'Gemm'))) {
      // Non-float data (e.g. an int64 Reshape shape is allowed above; anything else is not ours).
      continue;
    }
    if (WEIGHTED.has(op)) {
      if (op === 'Gemm' && attrInt(node, 'transA', 0) !== 0) {
        exclude(node, 'Gemm with transA is not fused by onnxruntime');
        continue;
      }
      if ((op === 'Conv' || op === 'Gemm') && !graph.isConstant(node.input[1])) {
        exclude(node, 'weights are not constant');
        continue;
      }
      selected.add(node);
    } else if (GLUE.has(op) || passthrough.has(op)) {
      const acts = activationInputs(node);
      if (acts.length === 0) continue;
      // Worth it only when the data already is int8: every activation input comes from a quantized node.
      if (acts.every(producedBySelected)) selected.add(node);
    }
  }

  // Unit outputs: what each selected node's Q is placed on.
  const unitOutput = new Map<NodeProto, string>();
  for (const node of selected) {
    const act = FUSES_ACTIVATION.has(node.opType) ? foldableActivation(graph, node) : undefined;
    unitOutput.set(node, act ? act.output[0] : node.output[0]);
  }

  // Tensors that get a Q, and their parameters.
  const params = new Map<string, QuantParams>();
  const paramsFor = (name: string): QuantParams | undefined => {
    const known = params.get(name);
    if (known) return known;
    const p = graph.producer(name);
    if (p && passthrough.has(p.opType) && selected.has(p)) {
      const inner = paramsFor(p.input[0]);
      if (inner) params.set(name, inner);
      return inner;
    }
    const range = ranges.get(name);
    if (!range) return undefined;
    // A tensor read only by a quantized Concat takes the Concat's scale: with every input at the
    // output's scale, QLinearConcat copies bytes instead of requantizing each input.
    const readers = graph.consumers(name);
    const concat =
      extended && readers.length === 1 && readers[0].opType === 'Concat' && selected.has(readers[0]) && !graph.outputs.some((o) => o.name === name)
        ? readers[0]
        : undefined;
    const qp = activationParams((concat && ranges.get(concat.output[0])) || range, options.activations);
    params.set(name, qp);
    return qp;
  };
  // Tensors that must stay float: around nodes kept as float islands (the accuracy search's choice).
  const floatTensors = new Set<string>();
  for (const node of nodes) {
    if (!options.isolateNodes?.has(node.name)) continue;
    for (const input of node.input) if (input) floatTensors.add(input);
    const act = FUSES_ACTIVATION.has(node.opType) ? foldableActivation(graph, node) : undefined;
    floatTensors.add(act ? act.output[0] : node.output[0]);
    if (selected.delete(node)) exclude(node, 'kept in float with its inputs and output');
  }
  // Choose the tensors to quantize, then drop nodes that lost a quantized input or output, until stable.
  const toQuantize = new Set<string>();
  const why = new Map<NodeProto, string>();
  for (;;) {
    toQuantize.clear();
    for (const node of nodes) {
      if (!selected.has(node)) continue;
      for (const input of activationInputs(node)) toQuantize.add(input);
      toQuantize.add(unitOutput.get(node)!);
    }
    for (const name of [...toQuantize]) {
      const implicit = graph.consumers(name).some((c) => graph.implicitInputs(c).includes(name));
      if (implicit || floatTensors.has(name) || !paramsFor(name)) toQuantize.delete(name);
    }
    let dropped = false;
    for (const node of [...selected]) {
      const missingInput = activationInputs(node).find((n) => !toQuantize.has(n));
      const output = unitOutput.get(node)!;
      if (missingInput !== undefined || !toQuantize.has(output)) {
        selected.delete(node);
        why.set(node, floatTensors.has(missingInput ?? output) ? 'next to a node kept in float' : 'an input or output has no calibrated range');
        dropped = true;
      }
    }
    if (!dropped) break;
  }
  for (const [node, reason] of why) exclude(node, reason);

  // Rewrite activations: producer → Q → one DQ per reader.
  const dqOf = new Map<string, string>();
  const scalar = (name: string, type: number, value: number): string => {
    const n = graph.uniqueName(name);
    graph.addInitializer(makeTensor(n, type, [], [value]));
    return n;
  };
  for (const name of toQuantize) {
    const qp = params.get(name)!;
    const scale = scalar(`${name}_scale`, DataType.FLOAT, qp.scale);
    const zp = scalar(`${name}_zero_point`, actType, qp.zeroPoint);
    const readers = graph.consumers(name);
    const isOutput = graph.outputs.some((o) => o.name === name);
    const producer = graph.producer(name);
    let source = name;
    if (producer) {
      // The producer now writes a float tensor that only the Q reads.
      source = graph.uniqueName(`${name}_float`);
      producer.output[producer.output.indexOf(name)] = source;
      graph.invalidate();
    }
    const q = graph.uniqueName(`${name}_quantized`);
    graph.addNode(makeNode('QuantizeLinear', [source, scale, zp], [q], [], { name: graph.uniqueName(`${name}_QuantizeLinear`) }));
    if (isOutput) {
      graph.addNode(makeNode('DequantizeLinear', [q, scale, zp], [name], [], { name: graph.uniqueName(`${name}_DequantizeLinear`) }));
      dqOf.set(name, name);
    }
    for (const reader of readers) {
      const dq = graph.uniqueName(`${name}_dequantized`);
      graph.addNode(makeNode('DequantizeLinear', [q, scale, zp], [dq], [], { name: graph.uniqueName(`${name}_DequantizeLinear`) }));
      for (let i = 0; i < reader.input.length; i++) if (reader.input[i] === name) reader.input[i] = dq;
      if (!dqOf.has(name)) dqOf.set(name, dq);
    }
    graph.invalidate();
  }

  // Constant inputs: weights and biases of Conv/MatMul/Gemm, other constants of glue ops.
  const quantizedWeights = new Map<string, { qName: string; sName: string; zName: string; scales: Float32Array }>();
  for (const node of selected) {
    const xParams = params.get(node.input[0]) ?? (node.input[0] ? paramsOfDequantized(graph, node.input[0]) : undefined);
    if (WEIGHTED.has(node.opType)) {
      const wIndex = 1;
      const wName = node.input[wIndex];
      const w = graph.initializers.get(wName);
      if (w && graph.isConstant(wName) && w.dataType === DataType.FLOAT) {
        const axis = node.opType === 'Conv' && perChannel ? 0 : -1;
        // A weight shared by several nodes (tied or reused) is quantized once; each reader gets its own DQ.
        const key = `${wName}@${axis}`;
        let shared = quantizedWeights.get(key);
        if (!shared) {
          const qw = quantizeWeightsSymmetric(tensorFloats(w), w.dims, Math.max(axis, 0), axis >= 0, options.reduceRange);
          const qName = graph.uniqueName(`${wName}_quantized`);
          graph.addInitializer(makeTensor(qName, DataType.INT8, [...w.dims], qw.data));
          const sName = graph.uniqueName(`${wName}_scale`);
          const zName = graph.uniqueName(`${wName}_zero_point`);
          const chDims = axis >= 0 ? [qw.scales.length] : [];
          graph.addInitializer(makeTensor(sName, DataType.FLOAT, chDims, qw.scales));
          graph.addInitializer(makeTensor(zName, DataType.INT8, chDims, new Int8Array(qw.scales.length)));
          shared = { qName, sName, zName, scales: qw.scales };
          quantizedWeights.set(key, shared);
        }
        const { qName, sName, zName } = shared;
        const qw = { scales: shared.scales };
        const base = wName;
        const dqName = graph.uniqueName(`${base}_dequantized`);
        graph.addNode(
          makeNode('DequantizeLinear', [qName, sName, zName], [dqName], axis >= 0 ? [attr.int('axis', 0)] : [], {
            name: graph.uniqueName(`${base}_DequantizeLinear`),
          }),
        );
        node.input[wIndex] = dqName;
        // Bias: int32 at scale x_scale · w_scale, so onnxruntime can fold it into the integer kernel.
        const bName = node.input[2];
        const b = bName ? graph.initializers.get(bName) : undefined;
        if (b && xParams && graph.isConstant(bName) && b.dataType === DataType.FLOAT && (node.opType === 'Conv' || node.opType === 'Gemm')) {
          const bias = tensorFloats(b);
          const n = bias.length;
          const scales = new Float32Array(n);
          const data = new Int32Array(n);
          for (let c = 0; c < n; c++) {
            scales[c] = xParams.scale * qw.scales[axis >= 0 ? c : 0];
            data[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(bias[c] / scales[c])));
          }
          const bq = graph.uniqueName(`${bName}_quantized`);
          const bs = graph.uniqueName(`${bName}_scale`);
          const bz = graph.uniqueName(`${bName}_zero_point`);
          const perC = axis >= 0 || (node.opType === 'Gemm' && n > 1 && b.dims.length === 1);
          const bDims = perC && axis >= 0 ? [n] : [];
          graph.addInitializer(makeTensor(bq, DataType.INT32, [...b.dims], data));
          graph.addInitializer(makeTensor(bs, DataType.FLOAT, bDims, axis >= 0 ? scales : [scales[0]]));
          graph.addInitializer(makeTensor(bz, DataType.INT32, bDims, new Int32Array(bDims.length ? n : 1)));
          const bdq = graph.uniqueName(`${bName}_dequantized`);
          graph.addNode(
            makeNode('DequantizeLinear', [bq, bs, bz], [bdq], axis >= 0 ? [attr.int('axis', 0)] : [], { name: graph.uniqueName(`${bName}_DequantizeLinear`) }),
          );
          node.input[2] = bdq;
        }
        graph.invalidate();
      }
    } else if (GLUE.has(node.opType)) {
      for (let i = 0; i < node.input.length; i++) {
        const name = node.input[i];
        const t = name ? graph.initializers.get(name) : undefined;
        if (!t || t.dataType !== DataType.FLOAT || !graph.isConstant(name)) continue;
        const values = tensorFloats(t);
        let lo = 0;
        let hi = 0;
        for (const v of values) {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        const qp = activationParams({ min: lo, max: hi }, options.activations);
        const q = new (actType === DataType.UINT8 ? Uint8Array : Int8Array)(values.length);
        const [qmin, qmax] = actType === DataType.UINT8 ? [0, 255] : [-128, 127];
        for (let k = 0; k < values.length; k++) q[k] = Math.max(qmin, Math.min(qmax, Math.round(values[k] / qp.scale) + qp.zeroPoint));
        const qName = graph.uniqueName(`${name}_quantized`);
        graph.addInitializer(makeTensor(qName, actType, [...t.dims], q));
        const s = scalar(`${name}_scale`, DataType.FLOAT, qp.scale);
        const z = scalar(`${name}_zero_point`, actType, qp.zeroPoint);
        const dq = graph.uniqueName(`${name}_dequantized`);
        graph.addNode(makeNode('DequantizeLinear', [qName, s, z], [dq], [], { name: graph.uniqueName(`${name}_DequantizeLinear`) }));
        node.input[i] = dq;
        graph.invalidate();
      }
    }
    report.quantized.push(node.name);
    const out = unitOutput.get(node)!;
    const dq = dqOf.get(out);
    if (dq) report.observe.set(node.name, { reference: out, quantized: dq });
  }
  if (extended) readShapesFromInt8(graph);
  graph.removeDeadNodes();
  graph.topologicalSort();
  return report;
}

/** Shape/Size reading a dequantized tensor read the int8 tensor instead (same shape), so the DQ can go. */
function readShapesFromInt8(graph: Graph): void {
  for (const node of graph.nodes) {
    if (!SHAPE_READERS.has(node.opType) || (node.domain && node.domain !== 'ai.onnx')) continue;
    const dq = graph.producer(node.input[0]);
    if (dq?.opType !== 'DequantizeLinear' || graph.initializers.has(dq.input[0])) continue;
    node.input[0] = dq.input[0];
    graph.invalidate();
  }
}

/** The scale of a tensor that is the output of a DequantizeLinear (after the rewrite). */
function paramsOfDequantized(graph: Graph, name: string): QuantParams | undefined {
  const p = graph.producer(name);
  if (!p || p.opType !== 'DequantizeLinear') return undefined;
  const s = graph.initializers.get(p.input[1]);
  const z = p.input[2] ? graph.initializers.get(p.input[2]) : undefined;
  if (!s) return undefined;
  return { scale: tensorFloats(s)[0], zeroPoint: z ? Number(readScalar(z)) : 0 };
}

function readScalar(t: TensorProto): number {
  const raw = t.rawData;
  if (raw && raw.byteLength) return t.dataType === DataType.INT8 ? new Int8Array(raw.buffer, raw.byteOffset, 1)[0] : raw[0];
  return t.int32Data[0] ?? 0;
}
