/**
 * Which quantized nodes add the most error: each node's output compared between the float model
 * and the quantized one, on a few evaluation samples. The accuracy search keeps the worst in float.
 */
import { Graph } from '../../onnx/graph.js';
import { serializeModel } from '../../onnx/model.js';
import type { ModelProto } from '../../onnx/proto-types.js';
import type { DataSource } from '../io-spec.js';
import { cosineSimilarity } from '../metrics.js';
import { ortNodeRunner } from '../verify.js';
import { withIntermediateOutputs } from './calibrate.js';

export interface Sensitivity {
  name: string;
  opType: string;
  /** Cosine of the node's own output, float vs quantized model. */
  cosine: number;
  /** How much error this node adds beyond what reaches it. */
  added: number;
}

/** Rank quantized nodes by the error they add, comparing each node's output in the float and quantized models. */
export async function rankSensitivity(
  float: ModelProto,
  quantized: { model: ModelProto; observe?: Map<string, { reference: string; quantized: string }> },
  data: DataSource,
): Promise<Sensitivity[]> {
  const observe = quantized.observe;
  if (!observe || observe.size === 0) {
    // Dynamic quantization: every quantized MatMul is a candidate, in graph order.
    return quantized.model
      .graph!.node.filter((n) => n.opType === 'MatMulInteger')
      .map((n, i) => ({ name: n.name.replace(/_MatMulInteger.*$/, ''), opType: 'MatMul', cosine: 0, added: -i }));
  }
  const runner = ortNodeRunner({ optimization: 'all' });
  const a = await runner.load(
    serializeModel(
      withIntermediateOutputs(
        float,
        [...observe.values()].map((o) => o.reference),
      ),
    ),
  );
  const b = await runner.load(
    serializeModel(
      withIntermediateOutputs(
        quantized.model,
        [...observe.values()].map((o) => o.quantized),
      ),
    ),
  );
  const cos = new Map<string, number[]>();
  let n = 0;
  try {
    for await (const sample of data.stream()) {
      if (n++ >= 4) break;
      const [ra, rb] = [await a.run(sample), await b.run(sample)];
      for (const [node, o] of observe) {
        const x = ra[o.reference];
        const y = rb[o.quantized];
        if (!x || !y) continue;
        const list = cos.get(node) ?? [];
        list.push(cosineSimilarity(x.data as ArrayLike<number>, y.data as ArrayLike<number>));
        cos.set(node, list);
      }
    }
  } finally {
    await a.release();
    await b.release();
  }
  const g = Graph.fromModel(float);
  const byName = new Map(g.nodes.map((node) => [node.name, node]));
  const nodeCos = new Map([...cos].map(([k, v]) => [k, v.reduce((s, c) => s + c, 0) / v.length]));
  const result: Sensitivity[] = [];
  for (const [name, c] of nodeCos) {
    const node = byName.get(name);
    if (!node) continue;
    // Error reaching the node: the worst cosine among quantized producers of its inputs.
    let incoming = 1;
    for (const input of node.input) {
      const p = input ? g.producer(input) : undefined;
      const pc = p ? (nodeCos.get(p.name) ?? nodeCos.get(g.producer(p.input[0] ?? '')?.name ?? '')) : undefined;
      if (pc !== undefined) incoming = Math.min(incoming, pc);
    }
    result.push({ name, opType: node.opType, cosine: c, added: 1 - c - (1 - incoming) });
  }
  return result.sort((x, y) => y.added - x.added);
}
