/**
 * The quantize step of a compile: calibrate, build the quantized candidate the plan asks for, verify
 * it on the target's runtime, and search for one within the accuracy budget (keeping the most
 * error-prone nodes in float) when the first misses it.
 */
import { Graph } from '../../onnx/graph.js';
import { parseModel, serializeModel } from '../../onnx/model.js';
import type { ModelProto } from '../../onnx/proto-types.js';
import type { DataSource } from '../io-spec.js';
import { convertToFp16, DEFAULT_KEEP_FLOAT32_OPS } from '../passes/fp16.js';
import type { QuantPlan } from '../quant-plan.js';
import { calibrate, type CalibrationResult } from '../quantize/calibrate.js';
import { quantizeDynamic } from '../quantize/dynamic.js';
import { measureNodes } from '../quantize/measure.js';
import { quantizeQdq } from '../quantize/qdq.js';
import { rankSensitivity } from '../quantize/sensitivity.js';
import { budgetMargin, type Budget, type ModelRunner, type VerifyResult } from '../verify.js';

export type Excluded = { name: string; opType: string; reason: string };

export interface Candidate {
  model: ModelProto;
  bytes: Uint8Array;
  verify: VerifyResult;
  margin: number;
  plan: QuantPlan;
  quantizedNodes: number;
  excluded: Excluded[];
}

export interface QuantizeInput {
  /** The optimized float model, and its bytes (each candidate is built from a fresh parse). */
  optimized: ModelProto;
  optimizedBytes: Uint8Array;
  plan: QuantPlan;
  calibrationSet?: DataSource;
  evaluationSet: DataSource;
  runner: ModelRunner;
  /** Verify model bytes against the source on the target's runtime. */
  evaluate: (bytes: Uint8Array) => Promise<VerifyResult>;
  budget: Budget;
  searchSeconds: number;
  step: (step: string, detail?: string) => void;
  progress: (step: string, done: number, total: number) => void;
  warn: (message: string) => void;
}

export interface Quantized {
  best: Candidate;
  ranges?: CalibrationResult;
}

interface Built {
  model: ModelProto;
  quantizedNodes: number;
  excluded: Excluded[];
  observe?: Map<string, { reference: string; quantized: string }>;
}

interface BuildChoice {
  extraExcluded?: readonly string[];
  isolate?: readonly string[];
  extraExcludeOps?: readonly string[];
}

const sets = (xs?: readonly string[]) => (xs ? new Set(xs) : undefined);

/** One candidate as the plan says, with some nodes or op types kept in float. */
function buildCandidate(input: QuantizeInput, ranges: CalibrationResult | undefined, choice: BuildChoice, onPerTensor: () => void): Built {
  const { plan } = input;
  const g = Graph.fromModel(parseModel(input.optimizedBytes, { checkVersions: false }));
  const excludeNodes = new Set([...(plan.excludeNodes ?? []), ...(choice.extraExcluded ?? [])]);
  if (plan.mode === 'int8') {
    const rep = quantizeQdq(g, {
      activations: plan.activations,
      reduceRange: plan.reduceRange,
      perChannel: plan.perChannel,
      ranges: ranges!.ranges,
      includeOps: sets(plan.includeOps),
      excludeOps: new Set([...plan.excludeOps, ...(choice.extraExcludeOps ?? [])]),
      includeNodes: sets(plan.includeNodes),
      excludeNodes,
      isolateNodes: new Set(choice.isolate ?? []),
    });
    if (rep.perTensorFallback) onPerTensor();
    return { model: g.toModel(), quantizedNodes: rep.quantized.length, excluded: rep.excluded, observe: rep.observe };
  }
  if (plan.mode === 'int8-dynamic') {
    const rep = quantizeDynamic(g, { perChannel: plan.perChannel, reduceRange: plan.reduceRange, includeOps: sets(plan.includeOps), excludeOps: sets(plan.excludeOps), includeNodes: sets(plan.includeNodes), excludeNodes });
    return { model: g.toModel(), quantizedNodes: rep.quantized.length, excluded: rep.excluded };
  }
  if (plan.mode === 'fp16') {
    const keepNodes = [...excludeNodes].filter((n) => g.nodes.some((node) => node.name === n));
    const rep = convertToFp16(g, { keepFloat32Ops: [...DEFAULT_KEEP_FLOAT32_OPS, ...plan.keepFloat32Ops], keepNodes });
    return { model: g.toModel(), quantizedNodes: rep.float16Nodes, excluded: rep.keptNodes.map((k) => ({ name: k.name, opType: k.opType, reason: `kept in float32: ${k.reason}` })) };
  }
  return { model: g.toModel(), quantizedNodes: 0, excluded: [] };
}

/** Calibrate, quantize, verify; search for a candidate within the accuracy budget when the first misses it. */
export async function quantizeStep(input: QuantizeInput): Promise<Quantized> {
  const { plan, runner, budget, step, warn } = input;
  let ranges: CalibrationResult | undefined;
  if (plan.mode === 'int8') {
    const cal = input.calibrationSet!;
    step('calibrate', `${plan.calibration}, ${cal.count} samples`);
    ranges = await calibrate(input.optimized, () => cal.stream(), {
      method: plan.calibration,
      onProgress: (done, pass, passesTotal) => input.progress(`calibrate ${pass}/${passesTotal}`, done, cal.count),
    });
  }
  let warnedPerTensor = false;
  const onPerTensor = () => {
    if (!warnedPerTensor) warn(`opset ${input.optimized.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version} < 13: weights quantized per tensor (per-channel needs opset 13)`);
    warnedPerTensor = true;
  };

  // Per-node speed check: nodes where int8 is not faster on the target's runtime stay in float.
  const slowInInt8: Excluded[] = [];
  if (plan.mode === 'int8' && plan.measurePerNode && runner.emulated) {
    warn(`per-node int8 timing skipped: ${runner.label} is emulated, its timings are not the target's (nodes are quantized as the plan says)`);
  } else if (plan.mode === 'int8' && plan.measurePerNode) {
    step('measure', `int8 vs float per node on ${runner.label}`);
    const timings = await measureNodes(input.optimized, ranges!.shapes, ranges!.ranges, runner, { activations: plan.activations, reduceRange: plan.reduceRange, perChannel: plan.perChannel }, (done, total) =>
      input.progress('measure', done, total),
    );
    for (const t of timings) {
      // A 5 % margin: one-node timings are noisy, and an int8 node also spares its neighbours a DQ/Q pair.
      if (t.int8Ms > t.floatMs * 1.05) slowInInt8.push({ name: t.name, opType: t.opType, reason: `int8 not faster on ${runner.label}: ${t.int8Ms.toFixed(3)} ms vs ${t.floatMs.toFixed(3)} ms float` });
    }
  }
  const build = (choice: BuildChoice): Built => {
    const r = buildCandidate(input, ranges, { ...choice, extraExcluded: [...(choice.extraExcluded ?? []), ...slowInInt8.map((x) => x.name)] }, onPerTensor);
    return { ...r, excluded: [...r.excluded.filter((e) => !slowInInt8.some((x) => x.name === e.name)), ...slowInInt8] };
  };
  const candidateOf = async (built: Built, excluded = built.excluded): Promise<Candidate> => {
    const bytes = serializeModel(built.model);
    const verify = await input.evaluate(bytes);
    return { model: built.model, bytes, verify, margin: budgetMargin(verify.outputs, budget), plan, quantizedNodes: built.quantizedNodes, excluded };
  };

  step('verify', runner.label);
  const first = build({});
  let best = await candidateOf(first);
  if (best.margin < 0 && plan.mode !== 'none' && first.quantizedNodes > 0) best = await accuracySearch(input, first, best, build, candidateOf);
  return { best, ranges };
}

/** Keep the most error-prone nodes in float until within budget or out of time. */
async function accuracySearch(
  input: QuantizeInput,
  first: Built,
  start: Candidate,
  build: (choice: BuildChoice) => Built,
  candidateOf: (built: Built, excluded?: Excluded[]) => Promise<Candidate>,
): Promise<Candidate> {
  const { plan, step } = input;
  let best = start;
  const deadline = performance.now() + input.searchSeconds * 1000;
  // Every quantized node is a candidate: glue ops (Add, Mul, Concat with mismatched scales) often add the most error.
  const ranking = await rankSensitivity(input.optimized, first, input.evaluationSet);
  // Past half of the quantized nodes in float, quantization has lost its point: report the miss instead.
  const maxFloat = Math.max(1, Math.floor(ranking.length / 2));
  let searchExcludeOps: string[] = [];
  // First try: the convolutions and matrix products in int8, the glue between them in float. Glue
  // (Add, Mul, Concat, Sigmoid) mixes tensors of different scales and often costs the most accuracy.
  if (plan.mode === 'int8') {
    const glue = ['Add', 'Mul', 'Concat', 'Sigmoid', 'LeakyRelu', 'AveragePool', 'GlobalAveragePool'];
    step('search', 'glue ops in float, convolutions in int8');
    const attempt = build({ extraExcludeOps: glue });
    const c = await candidateOf(attempt, attempt.excluded.map((e) => (glue.includes(e.opType) && /excluded/.test(e.reason) ? { ...e, reason: 'kept in float: glue op (accuracy search)' } : e)));
    if (c.margin > best.margin) {
      best = c;
      searchExcludeOps = glue;
    }
  }
  let k = 1;
  while (best.margin < 0 && performance.now() < deadline && k <= maxFloat) {
    const keep = ranking.slice(0, k);
    step('search', `keeping ${k} most sensitive node(s) in float`);
    // Dynamic int8 has no tensors to isolate: its nodes are simply left in float.
    const attempt = plan.mode === 'int8' ? build({ isolate: keep.map((r) => r.name), extraExcludeOps: searchExcludeOps }) : build({ extraExcluded: keep.map((r) => r.name) });
    // Keeping a node in float also keeps its neighbours' tensors in float: stop once that leaves
    // fewer than half of the quantized nodes, where quantization has lost its point.
    if (attempt.quantizedNodes < Math.ceil(first.quantizedNodes / 2)) break;
    const excluded = [...attempt.excluded.filter((e) => !keep.some((r) => r.name === e.name)), ...keep.map((r) => ({ name: r.name, opType: r.opType, reason: `kept in float: output cosine ${r.cosine.toFixed(4)} (accuracy search)` }))];
    const c = await candidateOf(attempt, excluded);
    if (c.margin > best.margin) best = c;
    k = k < maxFloat && k * 2 > maxFloat ? maxFloat : k * 2;
  }
  if (best.margin < 0) input.warn(`the artifact misses the accuracy budget (worst margin ${best.margin.toFixed(4)}); the best model found is saved, see the manifest`);
  return best;
}
