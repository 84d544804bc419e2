/**
 * The graph steps of a compile: kiln's own cleanup passes, onnxruntime's offline optimization at
 * 'basic' (standard ONNX ops only), and the opset upgrade per-channel int8 weights need.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph } from '../../onnx/graph.js';
import { loadModel, serializeModel } from '../../onnx/model.js';
import type { ModelProto } from '../../onnx/proto-types.js';
import { createOrtNodeSession } from '../../runtime/ort-node.js';
import { nameNodes, runPasses, type PassResult } from '../passes/cleanup.js';
import { upgradeModelOpset } from '../passes/upgrade-opset.js';
import type { QuantPlan } from '../quant-plan.js';
import { foldBatchShapes } from './fold-batch-shapes.js';

type Note = (detail: string) => void;

const cleanOpsets = (model: ModelProto): ModelProto => {
  const used = new Set(model.graph!.node.map((n) => n.domain || ''));
  return { ...model, opsetImport: model.opsetImport.filter((o) => o.domain === '' || o.domain === 'ai.onnx' || used.has(o.domain)) };
};

/** onnxruntime's own offline optimization at 'basic': standard ONNX ops only, loadable by every runtime. */
async function ortBasicOptimize(bytes: Uint8Array, source: ModelProto): Promise<ModelProto> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-opt-'));
  try {
    const path = join(dir, 'optimized.onnx');
    const session = await createOrtNodeSession(bytes, { optimization: 'basic', optimizedModelFilePath: path, source: 'model' });
    await session.release();
    const optimized = cleanOpsets(loadModel(path, { checkVersions: false }));
    // Keep the source's IR version: basic optimization uses nothing newer.
    return { ...optimized, irVersion: source.irVersion, producerName: source.producerName, producerVersion: source.producerVersion };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function opHistogram(model: ModelProto): Record<string, number> {
  const ops: Record<string, number> = {};
  for (const n of model.graph!.node) if (!n.domain || n.domain === 'ai.onnx') ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  return ops;
}

export interface Optimized {
  model: ModelProto;
  passes: PassResult[];
}

/**
 * kiln's passes, batch-independent shape arithmetic folded, then onnxruntime's 'basic' optimization
 * unless it grows the model; every node named.
 */
export async function optimizeModel(source: ModelProto, note: Note, options: { foldShapes?: boolean } = {}): Promise<Optimized> {
  const graph = Graph.fromModel(source);
  const passes: PassResult[] = runPasses(graph);
  const fold = options.foldShapes === false ? { model: graph.toModel(), folded: 0, note: undefined } : await foldBatchShapes(graph.toModel());
  if (fold.note) note(fold.note);
  if (fold.folded) passes.push({ name: 'fold-batch-shapes', changed: fold.folded });
  const cleaned = fold.model;
  const cleanedBytes = serializeModel(cleaned);
  let optimized = await ortBasicOptimize(cleanedBytes, source);
  if (serializeModel(optimized).byteLength > cleanedBytes.byteLength * 1.05) {
    // onnxruntime can grow a model (constants folded inside If/Loop branches are duplicated): keep kiln's.
    note("onnxruntime's offline optimization grew the model; kept kiln's passes only");
    optimized = cleaned;
    passes.push({ name: 'onnxruntime-basic (skipped: larger output)', changed: 0 });
  } else {
    passes.push({ name: 'onnxruntime-basic', changed: cleaned.graph!.node.length - optimized.graph!.node.length });
  }
  // onnxruntime names the nodes it creates; name any it left unnamed.
  const g = Graph.fromModel(optimized);
  nameNodes(g);
  return { model: g.toModel(), passes };
}

/** Per-channel int8 weights need DequantizeLinear's axis (opset 13): upgrade older models when it is safe. */
export function upgradeForPlan(optimized: Optimized, plan: QuantPlan, note: Note, warn: Note): Optimized {
  const opset = optimized.model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  if (plan.mode !== 'int8' || !plan.perChannel || opset >= 13) return optimized;
  const upgraded = upgradeModelOpset(optimized.model, 13);
  if (!upgraded.result.upgraded) {
    warn(`opset ${opset} kept (${upgraded.result.reason}): weights will be quantized per tensor`);
    return optimized;
  }
  note(`opset ${opset} → 13 for per-channel weights (${upgraded.result.converted} conversions)`);
  return { model: upgraded.model, passes: [...optimized.passes, { name: `upgrade-opset-${opset}-to-13`, changed: upgraded.result.converted }] };
}
