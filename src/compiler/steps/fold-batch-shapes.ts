/**
 * Shape arithmetic that does not depend on the batch, folded to constants. A torch export with a
 * dynamic batch dimension computes every Reshape target and Slice bound at run time
 * (Shape → Gather → Div → Unsqueeze → Concat): tiny ops, but dozens of them per block, each a kernel
 * launch, and they keep DequantizeLinear nodes alive in an int8 graph (shufflenet_v2: ~20 % of its
 * int8 run time). Each shape tensor is evaluated at two batch sizes: a value equal at both becomes
 * a constant; a Reshape target that differs only where it copies its input's dimension gets 0 there
 * (ONNX Reshape: 0 copies the input's dimension). The folded model is checked against the original
 * at a third batch size and dropped if any output differs, so the artifact's batch stays dynamic.
 */
import { DataType } from '../../onnx/dtypes.js';
import { Graph } from '../../onnx/graph.js';
import { serializeModel } from '../../onnx/model.js';
import type { ModelProto, NodeProto } from '../../onnx/proto-types.js';
import { makeTensor } from '../../onnx/tensor.js';
import { createOrtNodeSession, ort } from '../../runtime/ort-node.js';
import { inputSpecs } from '../io-spec.js';
import { withIntermediateOutputs } from '../quantize/calibrate.js';

const INT_TYPES = new Set<number>([DataType.INT64, DataType.INT32]);

/** Inputs with only a dynamic leading dimension: what this pass can vary. */
function batchInputs(model: ModelProto) {
  const specs = inputSpecs(model);
  if (
    !specs.length ||
    specs.some((s) => s.shape.length === 0 || typeof s.shape[0] === 'number' || s.shape.slice(1).some((d) => typeof d !== 'number') || s.dtype !== 'float32')
  )
    return undefined;
  return specs;
}

/** Tensors computed from shapes and constants only (never from activation values). */
function shapeTensors(graph: Graph): { tensors: string[]; nodes: Set<NodeProto> } {
  const derived = new Set<string>();
  const nodes = new Set<NodeProto>();
  for (const node of graph.topologicalSort()) {
    const fromShape = node.opType === 'Shape' || node.opType === 'Size';
    const allDerived = node.input.length > 0 && node.input.every((i) => !i || derived.has(i) || graph.isConstant(i));
    if ((fromShape || (allDerived && node.input.some((i) => derived.has(i)))) && !graph.implicitInputs(node).length) {
      for (const o of node.output) if (o) derived.add(o);
      nodes.add(node);
    }
  }
  return { tensors: [...derived], nodes };
}

type Values = Map<string, { dims: readonly number[]; data: ArrayLike<number | bigint>; type: string }>;

async function runAt(model: ModelProto, batch: number, names: readonly string[]): Promise<Values> {
  const session = await createOrtNodeSession(serializeModel(withIntermediateOutputs(model, names)), { optimization: 'disabled', source: 'shape folding' });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const spec of inputSpecs(model)) {
      const dims = [batch, ...(spec.shape.slice(1) as number[])];
      const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1000) / 1000 - 0.5;
      feeds[spec.name] = new ort.Tensor('float32', data, dims);
    }
    const out = await session.run(feeds);
    const values: Values = new Map();
    for (const [k, v] of Object.entries(out)) values.set(k, { dims: v.dims, data: v.data as ArrayLike<number | bigint>, type: v.type });
    return values;
  } finally {
    await session.release();
  }
}

const sameValues = (a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>) => a.length === b.length && Array.from(a).every((x, i) => x === b[i]);

export interface FoldResult {
  model: ModelProto;
  /** Shape tensors now constants (0 when nothing was folded or the check failed). */
  folded: number;
  note?: string;
}

export async function foldBatchShapes(model: ModelProto): Promise<FoldResult> {
  if (!batchInputs(model)) return { model, folded: 0 };
  const graph = Graph.fromModel(structuredClone(model));
  const { tensors, nodes } = shapeTensors(graph);
  if (!tensors.length) return { model, folded: 0 };
  // Reshape data inputs too: their dims say which target entries copy the input's dimension.
  const reshapes = graph.nodes.filter((n) => n.opType === 'Reshape' && tensors.includes(n.input[1]) && !nodes.has(n));
  const names = [...tensors, ...reshapes.map((r) => r.input[0])];
  const [one, three] = [await runAt(model, 1, names), await runAt(model, 3, names)];
  let folded = 0;
  const constant = (name: string, v: { dims: readonly number[]; data: ArrayLike<number | bigint>; type: string }) => {
    const type = v.type === 'int64' ? DataType.INT64 : DataType.INT32;
    const fresh = graph.uniqueName(`${name}_folded`);
    graph.addInitializer(makeTensor(fresh, type, [...v.dims], Array.from(v.data) as number[] | bigint[]));
    for (const c of graph.consumers(name)) for (let i = 0; i < c.input.length; i++) if (c.input[i] === name) c.input[i] = fresh;
    graph.invalidate();
    folded++;
  };
  // Reshape targets first (they may vary with the batch), then every other shape value the two batches agree on.
  for (const r of reshapes) {
    const [a, b, x1, x3] = [one.get(r.input[1]), three.get(r.input[1]), one.get(r.input[0]), three.get(r.input[0])];
    if (!a || !b || !x1 || !x3 || a.type !== 'int64' || sameValues(a.data, b.data)) continue;
    const target: bigint[] = [];
    let ok = true;
    for (let i = 0; i < a.data.length && ok; i++) {
      const [u, w] = [BigInt(a.data[i]), BigInt(b.data[i])];
      if (u === w && u !== 0n) target.push(u);
      else if (i < x1.dims.length && u === BigInt(x1.dims[i]) && w === BigInt(x3.dims[i])) target.push(0n);
      else ok = false;
    }
    if (ok && !getAllowZero(r)) constant(r.input[1], { dims: a.dims, data: target, type: 'int64' });
  }
  for (const name of tensors) {
    const [a, b] = [one.get(name), three.get(name)];
    const t = a && graph.valueInfo(name)?.type?.tensorType?.elemType;
    if (!a || !b || !sameValues(a.data, b.data) || (a.type !== 'int64' && a.type !== 'int32') || (t !== undefined && !INT_TYPES.has(t) && t !== 0)) continue;
    if (graph.consumers(name).length === 0 || graph.outputs.some((o) => o.name === name)) continue;
    constant(name, a);
  }
  if (!folded) return { model, folded: 0 };
  graph.removeDeadNodes();
  const result = graph.toModel();
  // The check: same outputs at a batch size neither evaluation used.
  const outputs = model.graph!.output.map((o) => o.name);
  const [before, after] = [await runAt(model, 2, outputs), await runAt(result, 2, outputs)];
  for (const name of outputs) {
    const [x, y] = [before.get(name)!, after.get(name)!];
    if (!y || x.dims.join() !== y.dims.join() || Array.from(x.data).some((v, i) => Math.abs(Number(v) - Number(y.data[i])) > 1e-5)) {
      return { model, folded: 0, note: `shape folding dropped: output ${name} differs at batch 2` };
    }
  }
  return { model: result, folded };
}

function getAllowZero(node: NodeProto): boolean {
  return node.attribute.some((a) => a.name === 'allowzero' && Number(a.i) === 1);
}
