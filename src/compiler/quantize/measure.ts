/**
 * Is int8 really faster for this node, on this target's runtime? Each Conv/MatMul/Gemm is cut out
 * into a one-node model (with the Relu/Clip that folds into it), timed in float and in QDQ int8 on
 * the target runner, and the nodes where int8 loses are reported so they stay in float. (In
 * onnxruntime-web, int8 depthwise convolutions run 3× slower than float: see platform-facts.md.)
 */
import { GraphBuilder } from '../../onnx/builder.js';
import { Graph } from '../../onnx/graph.js';
import { serializeModel } from '../../onnx/model.js';
import type { ModelProto, NodeProto } from '../../onnx/proto-types.js';
import { tensorData } from '../../onnx/tensor.js';
import type { Range } from '../calibration.js';
import type { Sample } from './calibrate.js';
import { quantizeQdq, type QdqOptions } from './qdq.js';
import type { ModelRunner } from '../verify.js';

export interface NodeTiming {
  name: string;
  opType: string;
  floatMs: number;
  int8Ms: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Median latency of a model on a runner: a few warm-up runs, then `iterations` timed ones. */
export async function timeModel(runner: ModelRunner, bytes: Uint8Array, sample: Sample, iterations = 10): Promise<number> {
  const loaded = await runner.load(bytes);
  try {
    for (let i = 0; i < 3; i++) await loaded.run(sample);
    const times: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t = performance.now();
      await loaded.run(sample);
      times.push(performance.now() - t);
    }
    return median(times);
  } finally {
    await loaded.release();
  }
}

/**
 * Median latencies of several models on one runner, runs interleaved (A, B, A, B, …) so that noise
 * from other processes on a shared machine hits them alike.
 */
export async function timeSideBySide(runner: ModelRunner, models: readonly Uint8Array[], sample: Sample, iterations = 15): Promise<number[]> {
  const loaded = [];
  try {
    for (const bytes of models) loaded.push(await runner.load(bytes));
    for (let i = 0; i < 3; i++) for (const m of loaded) await m.run(sample);
    const times = models.map(() => [] as number[]);
    for (let i = 0; i < iterations; i++) {
      for (let k = 0; k < loaded.length; k++) {
        const t = performance.now();
        await loaded[k].run(sample);
        times[k].push(performance.now() - t);
      }
    }
    return times.map(median);
  } finally {
    for (const m of loaded) await m.release();
  }
}

/** A one-node model (plus its folded activation) with the node's real input shape and weights. */
function extract(
  model: ModelProto,
  graph: Graph,
  node: NodeProto,
  shapes: ReadonlyMap<string, readonly number[]>,
): { model: ModelProto; input: string; output: string } | undefined {
  const x = node.input[0];
  const dims = shapes.get(x);
  if (!dims) return undefined;
  const b = new GraphBuilder('probe');
  b.input(x, 'float32', [...dims]);
  for (const name of node.input.slice(1)) {
    if (!name) continue;
    const t = graph.initializers.get(name);
    if (!t) return undefined;
    b.initializer(name, [...t.dims], tensorData(t) as ArrayLike<number>, t.dataType);
  }
  let out = b.node(node.opType, [...node.input], node.attribute, { name: node.name, output: node.output[0] });
  const readers = graph.consumers(node.output[0]);
  if (readers.length === 1 && (readers[0].opType === 'Relu' || readers[0].opType === 'Clip')) {
    const act = readers[0];
    for (const name of act.input.slice(1)) {
      const t = name ? graph.initializers.get(name) : undefined;
      if (name && !t) return undefined;
      if (t) b.initializer(name, [...t.dims], tensorData(t) as ArrayLike<number>, t.dataType);
    }
    out = b.node(act.opType, [...act.input], act.attribute, { name: act.name, output: act.output[0] });
  }
  b.output(out, 'float32');
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 17;
  return { model: b.build({ opset, irVersion: model.irVersion }), input: x, output: out };
}

/**
 * Time every weighted node float vs int8 on `runner`. `shapes` holds each activation's dims (from
 * calibration); `ranges` its calibrated range.
 */
export async function measureNodes(
  model: ModelProto,
  shapes: ReadonlyMap<string, readonly number[]>,
  ranges: ReadonlyMap<string, Range>,
  runner: ModelRunner,
  qdq: Omit<QdqOptions, 'ranges'>,
  onProgress?: (done: number, total: number) => void,
): Promise<NodeTiming[]> {
  const graph = Graph.fromModel(structuredClone(model));
  const nodes = graph.nodes.filter((n) => ['Conv', 'MatMul', 'Gemm'].includes(n.opType) && (!n.domain || n.domain === 'ai.onnx'));
  const out: NodeTiming[] = [];
  let done = 0;
  for (const node of nodes) {
    onProgress?.(++done, nodes.length);
    const probe = extract(model, graph, node, shapes);
    if (!probe) continue;
    const floatBytes = serializeModel(probe.model);
    const g = Graph.fromModel(structuredClone(probe.model));
    const report = quantizeQdq(g, { ...qdq, ranges });
    if (report.quantized.length === 0) continue;
    const dims = shapes.get(probe.input)!;
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const r = ranges.get(probe.input);
    for (let i = 0; i < n; i++) data[i] = r ? r.min + (((i * 7919) % 1000) / 1000) * (r.max - r.min) : 0.5;
    const sample: Sample = { [probe.input]: { type: 'float32', dims, data } };
    const [floatMs, int8Ms] = await timeSideBySide(runner, [floatBytes, serializeModel(g.toModel())], sample);
    out.push({ name: node.name, opType: node.opType, floatMs, int8Ms });
  }
  return out;
}
