/**
 * kiln's own graph passes that run before onnxruntime's offline optimizer: each a function over a
 * Graph that returns how many things it changed.
 */
import { DataType } from '../../onnx/dtypes.js';
import type { Graph } from '../../onnx/graph.js';
import { attrFloat, attrInt } from '../../onnx/nodes.js';
import { makeTensor, tensorFloats } from '../../onnx/tensor.js';

export interface PassResult {
  name: string;
  changed: number;
}

export type GraphPass = (graph: Graph) => number;

/** Give every unnamed node a unique name (`Conv_12`), so reports and exclusion lists can refer to it. */
export const nameNodes: GraphPass = (graph) => {
  let changed = 0;
  graph.nodes.forEach((node, i) => {
    if (!node.name) {
      node.name = graph.uniqueName(`${node.opType}_${i}`);
      changed++;
    }
  });
  return changed;
};

/**
 * Constant nodes holding a tensor become initializers (PaddlePaddle exports keep every weight in a
 * Constant node); the quantizer and BatchNorm folding read weights from initializers.
 */
export const constantsToInitializers: GraphPass = (graph) => {
  let changed = 0;
  for (const node of [...graph.nodes]) {
    if (node.opType !== 'Constant' || (node.domain && node.domain !== 'ai.onnx')) continue;
    const value = node.attribute.find((a) => a.name === 'value' && a.t);
    if (!value?.t || node.attribute.length !== 1) continue;
    const name = node.output[0];
    // Sub-graphs may read it from the outer scope; initializers are visible there too.
    graph.removeNode(node);
    graph.addInitializer({ ...value.t, name });
    changed++;
  }
  return changed;
};

/** Remove Identity nodes and inference-time Dropout (when its mask output is unused). */
export const removeIdentities: GraphPass = (graph) => {
  let changed = 0;
  for (const node of [...graph.nodes]) {
    if (node.domain && node.domain !== 'ai.onnx') continue;
    const isDropout = node.opType === 'Dropout' && !(node.output[1] && graph.consumers(node.output[1]).length > 0);
    if (node.opType !== 'Identity' && !isDropout) continue;
    const out = node.output[0];
    const input = node.input[0];
    const isOutput = graph.outputs.some((o) => o.name === out);
    if (isOutput) {
      // Keep the graph's output name: let the producer write it directly, if it has no other readers.
      const p = graph.producer(input);
      if (!p || graph.outputs.some((o) => o.name === input) || graph.consumers(input).length !== 1) continue;
      graph.removeNode(node);
      p.output[p.output.indexOf(input)] = out;
      graph.invalidate();
    } else {
      graph.removeNode(node);
      graph.replaceAllUses(out, input);
    }
    changed++;
  }
  return changed;
};

/** Fold BatchNormalization into the Conv before it (constant parameters, Conv output read only by the BN). */
export const foldBatchNorm: GraphPass = (graph) => {
  let changed = 0;
  for (const bn of [...graph.nodes]) {
    if (bn.opType !== 'BatchNormalization' || (bn.domain && bn.domain !== 'ai.onnx') || bn.output.filter(Boolean).length !== 1) continue;
    const conv = graph.producer(bn.input[0]);
    if (!conv || conv.opType !== 'Conv' || graph.consumers(conv.output[0]).length !== 1) continue;
    if (graph.outputs.some((o) => o.name === conv.output[0])) continue;
    const params = bn.input.slice(1, 5).map((n) => graph.initializers.get(n));
    const w = graph.initializers.get(conv.input[1]);
    const b = conv.input[2] ? graph.initializers.get(conv.input[2]) : undefined;
    if (params.some((p, i) => !p || !graph.isConstant(bn.input[i + 1]) || p.dataType !== DataType.FLOAT)) continue;
    if (!w || !graph.isConstant(conv.input[1]) || w.dataType !== DataType.FLOAT) continue;
    if (conv.input[2] && (!b || !graph.isConstant(conv.input[2]))) continue;
    // Shared weights would change another Conv too.
    if (graph.consumers(conv.input[1]).length !== 1 || (conv.input[2] && graph.consumers(conv.input[2]).length !== 1)) continue;
    const [scale, shift, mean, variance] = params.map((p) => tensorFloats(p!));
    const eps = attrFloat(bn, 'epsilon', 1e-5);
    const cout = w.dims[0];
    if (scale.length !== cout) continue;
    const weights = tensorFloats(w);
    const per = weights.length / cout;
    const bias = b ? tensorFloats(b) : new Float32Array(cout);
    const newW = new Float32Array(weights.length);
    const newB = new Float32Array(cout);
    for (let c = 0; c < cout; c++) {
      const f = scale[c] / Math.sqrt(variance[c] + eps);
      for (let k = 0; k < per; k++) newW[c * per + k] = weights[c * per + k] * f;
      newB[c] = (bias[c] - mean[c]) * f + shift[c];
    }
    const wName = graph.uniqueName(`${conv.input[1]}_bn_folded`);
    const bName = graph.uniqueName(`${conv.name || 'conv'}_bias_bn_folded`);
    graph.addInitializer(makeTensor(wName, DataType.FLOAT, [...w.dims], newW));
    graph.addInitializer(makeTensor(bName, DataType.FLOAT, [cout], newB));
    conv.input[1] = wName;
    conv.input[2] = bName;
    const out = bn.output[0];
    graph.removeNode(bn);
    conv.output[0] = out;
    graph.invalidate();
    changed++;
  }
  if (changed) graph.removeDeadNodes();
  return changed;
};

/** Nodes that no graph output depends on, and initializers nothing reads. */
export const removeDead: GraphPass = (graph) => {
  const r = graph.removeDeadNodes();
  return r.nodes + r.initializers;
};

export const CLEANUP_PASSES: readonly [string, GraphPass][] = [
  ['name-nodes', nameNodes],
  ['constants-to-initializers', constantsToInitializers],
  ['remove-identity-dropout', removeIdentities],
  ['fold-batchnorm', foldBatchNorm],
  ['remove-dead-nodes', removeDead],
];

export function runPasses(graph: Graph, passes: readonly [string, GraphPass][] = CLEANUP_PASSES): PassResult[] {
  return passes.map(([name, pass]) => ({ name, changed: pass(graph) }));
}

/** Ops whose training mode a model might still carry; kept as a check for the spec's is_test. */
export const isTrainingMode = (graph: Graph): boolean => graph.nodes.some((n) => n.opType === 'BatchNormalization' && attrInt(n, 'training_mode', 0) === 1);
