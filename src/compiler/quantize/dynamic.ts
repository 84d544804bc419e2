/**
 * Dynamic int8 quantization for MatMul/Gemm-heavy models (transformers, RNN heads): weights are
 * stored as int8, activations are quantized at run time by DynamicQuantizeLinear. The emitted
 * pattern DynamicQuantizeLinear → MatMulInteger → Cast → Mul(x_scale · w_scale) is standard ONNX,
 * and onnxruntime fuses it into DynamicQuantizeMatMul (bias folded when followed by Add(x, bias)).
 * A weight that several nodes read (tied or shared layers) is quantized once and shared. Embedding
 * tables (Gather on a float initializer) are stored int8: Gather reads int8 rows, a DequantizeLinear
 * turns them back into float.
 */
import { DataType } from '../../onnx/dtypes.js';
import type { Graph } from '../../onnx/graph.js';
import { attr, attrFloat, attrInt, makeNode } from '../../onnx/nodes.js';
import type { NodeProto } from '../../onnx/proto-types.js';
import { makeTensor, tensorFloats } from '../../onnx/tensor.js';
import { quantizeWeightsSymmetric } from '../calibration.js';

export interface DynamicOptions {
  /** Per output column weight scales (default true). */
  perChannel: boolean;
  reduceRange: boolean;
  includeOps?: ReadonlySet<string>;
  excludeOps?: ReadonlySet<string>;
  includeNodes?: ReadonlySet<string>;
  excludeNodes?: ReadonlySet<string>;
  /** Store embedding tables (Gather on a float initializer, axis 0) as int8. @default true */
  embeddings?: boolean;
}

export interface DynamicReport {
  quantized: string[];
  excluded: { name: string; opType: string; reason: string }[];
}

/** Transpose a row-major [rows, cols] float matrix. */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

export function quantizeDynamic(graph: Graph, options: DynamicOptions): DynamicReport {
  const report: DynamicReport = { quantized: [], excluded: [] };
  const veto = (node: NodeProto): string | undefined => {
    if (options.excludeNodes?.has(node.name)) return 'excluded by name';
    if (options.excludeOps?.has(node.opType)) return `op type ${node.opType} excluded`;
    if (options.includeNodes && !options.includeNodes.has(node.name)) return 'not in the include list';
    if (options.includeOps && !options.includeOps.has(node.opType)) return `op type ${node.opType} not included`;
    return undefined;
  };
  const sharedWeights = new Map<string, { wq: string; ws: string; wz: string }>();
  const sharedTables = new Map<string, { q: string; s: string; z: string }>();
  for (const node of [...graph.topologicalSort()]) {
    if (node.domain && node.domain !== 'ai.onnx') continue;
    if (node.opType === 'Gather' && (options.embeddings ?? true) && !veto(node)) {
      if (quantizeEmbedding(graph, node, sharedTables)) report.quantized.push(node.name);
      continue;
    }
    if (node.opType !== 'MatMul' && node.opType !== 'Gemm') continue;
    const why = veto(node);
    if (why) {
      report.excluded.push({ name: node.name, opType: node.opType, reason: why });
      continue;
    }
    const wName = node.input[1];
    const w = graph.initializers.get(wName);
    if (!w || !graph.isConstant(wName) || w.dataType !== DataType.FLOAT || w.dims.length !== 2) {
      report.excluded.push({ name: node.name, opType: node.opType, reason: 'weights are not a constant float matrix' });
      continue;
    }
    let [k, n] = w.dims;
    let weights = tensorFloats(w);
    let bias: string | undefined;
    if (node.opType === 'Gemm') {
      if (attrInt(node, 'transA', 0) !== 0 || attrFloat(node, 'alpha', 1) !== 1 || attrFloat(node, 'beta', 1) !== 1) {
        report.excluded.push({ name: node.name, opType: node.opType, reason: 'Gemm with transA/alpha/beta is kept in float' });
        continue;
      }
      if (attrInt(node, 'transB', 0) === 1) {
        weights = transpose2d(weights, k, n);
        [k, n] = [n, k];
      }
      bias = node.input[2] || undefined;
    }
    const base = node.name || wName;
    const name = (s: string) => graph.uniqueName(`${base}_${s}`);
    // One int8 copy per weight (and orientation), however many nodes read it.
    const key = `${wName}@${attrInt(node, 'transB', 0)}`;
    let shared = sharedWeights.get(key);
    if (!shared) {
      const q = quantizeWeightsSymmetric(weights, [k, n], 1, options.perChannel, options.reduceRange);
      const w8 = graph.uniqueName(`${wName}_quantized`);
      const s8 = graph.uniqueName(`${wName}_scale`);
      const z8 = graph.uniqueName(`${wName}_zero_point`);
      graph.addInitializer(makeTensor(w8, DataType.INT8, [k, n], q.data));
      graph.addInitializer(makeTensor(s8, DataType.FLOAT, options.perChannel ? [n] : [], q.scales));
      // Symmetric weights: one zero point (0) serves every column.
      graph.addInitializer(makeTensor(z8, DataType.INT8, [], new Int8Array(1)));
      shared = { wq: w8, ws: s8, wz: z8 };
      sharedWeights.set(key, shared);
    }
    const { wq, ws, wz } = shared;
    const [xq, xs, xz] = [name('input_quantized'), name('input_scale'), name('input_zero_point')];
    const acc = name('matmul_int32');
    const accF = name('matmul_float');
    const scale = name('scale');
    const out = node.output[0];
    const result = bias ? name('matmul_output') : out;
    const replacement = [
      makeNode('DynamicQuantizeLinear', [node.input[0]], [xq, xs, xz], [], { name: name('DynamicQuantizeLinear') }),
      makeNode('MatMulInteger', [xq, wq, xz, wz], [acc], [], { name: name('MatMulInteger') }),
      makeNode('Cast', [acc], [accF], [attr.int('to', DataType.FLOAT)], { name: name('Cast') }),
      makeNode('Mul', [xs, ws], [scale], [], { name: name('ScaleMul') }),
      makeNode('Mul', [accF, scale], [result], [], { name: name('Mul') }),
    ];
    if (bias) replacement.push(makeNode('Add', [result, bias], [out], [], { name: name('BiasAdd') }));
    graph.replaceNode(node, replacement);
    report.quantized.push(node.name);
  }
  graph.removeDeadNodes();
  return report;
}

/** Smallest table worth storing int8 (a Gather on a small constant is shape arithmetic, not an embedding). */
const MIN_EMBEDDING_ELEMENTS = 4096;

/** Gather(table, ids) on a float [rows, width] initializer → DequantizeLinear(Gather(table_int8, ids)). */
function quantizeEmbedding(graph: Graph, node: NodeProto, shared: Map<string, { q: string; s: string; z: string }>): boolean {
  const tName = node.input[0];
  const t = graph.initializers.get(tName);
  if (!t || !graph.isConstant(tName) || t.dataType !== DataType.FLOAT || t.dims.length !== 2 || attrInt(node, 'axis', 0) !== 0) return false;
  if (Number(t.dims[0]) * Number(t.dims[1]) < MIN_EMBEDDING_ELEMENTS) return false;
  let table = shared.get(tName);
  if (!table) {
    // Per tensor: the rows Gather picks then share one scale, so one DequantizeLinear serves them.
    const qt = quantizeWeightsSymmetric(tensorFloats(t), t.dims, 0, false, false);
    table = { q: graph.uniqueName(`${tName}_quantized`), s: graph.uniqueName(`${tName}_scale`), z: graph.uniqueName(`${tName}_zero_point`) };
    graph.addInitializer(makeTensor(table.q, DataType.INT8, [...t.dims], qt.data));
    graph.addInitializer(makeTensor(table.s, DataType.FLOAT, [], qt.scales));
    graph.addInitializer(makeTensor(table.z, DataType.INT8, [], new Int8Array(1)));
    shared.set(tName, table);
  }
  const rows = graph.uniqueName(`${node.name || tName}_rows_int8`);
  graph.replaceNode(node, [
    makeNode('Gather', [table.q, node.input[1]], [rows], [attr.int('axis', 0)], { name: graph.uniqueName(`${node.name || tName}_Gather_int8`) }),
    makeNode('DequantizeLinear', [rows, table.s, table.z], [node.output[0]], [], { name: graph.uniqueName(`${node.name || tName}_DequantizeLinear`) }),
  ]);
  return true;
}
