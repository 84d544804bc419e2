/**
 * The quantize step of a compile: calibrate, build the quantized candidate the plan asks for, verify
 * it on the target's runtime, and search for one within the accuracy budget (keeping the most
 * error-prone nodes in float) when the first misses it.
 */
import { Graph } from '../../onnx/graph.js';
import { parseModel, serializeModel } from '../../onnx/model.js';
import type { ModelProto } from '../../onnx/proto-types.js';
import { firstSample, type DataSource } from '../io-spec.js';
import { convertToFp16, DEFAULT_KEEP_FLOAT32_OPS } from '../passes/fp16.js';
import type { QuantPlan } from '../quant-plan.js';
import { calibrate, type CalibrationResult } from '../quantize/calibrate.js';
import { quantizeDynamic } from '../quantize/dynamic.js';
import { candidateRegions, decideInContext } from '../quantize/in-context.js';
import { quantizeQdq } from '../quantize/qdq.js';
import { rankSensitivity } from '../quantize/sensitivity.js';
import { budgetMargin, type Budget, type ModelRunner, type VerifyResult } from '../verify.js';
import type { SpeedDecision } from '../../protocol/manifest.js';

export type Excluded = { name: string; opType: string; reason: string };

export interface Candidate {
  model: ModelProto;
  bytes: Uint8Array;
  verify: VerifyResult;
  margin: number;
  plan: QuantPlan;
  quantizedNodes: number;
  excluded: Excluded[];
  /** Speed decisions made in context (static int8 on a native runner). */
  decisions?: SpeedDecision[];
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
  /** The plain full-int8 QDQ graph (no search, no decisions): the baseline kiln must not lose to. */
  plain?: () => Promise<Candidate>;
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
  /** The plain QDQ graph: no extended placement (see QdqOptions.extended). */
  plain?: boolean;
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
      extended: !choice.plain,
    });
    if (rep.perTensorFallback) onPerTensor();
    return { model: g.toModel(), quantizedNodes: rep.quantized.length, excluded: rep.excluded, observe: rep.observe };
  }
  if (plan.mode === 'int8-dynamic') {
    const rep = quantizeDynamic(g, {
      perChannel: plan.perChannel,
      reduceRange: plan.reduceRange,
      includeOps: sets(plan.includeOps),
      excludeOps: sets(plan.excludeOps),
      includeNodes: sets(plan.includeNodes),
      excludeNodes,
    });
    return { model: g.toModel(), quantizedNodes: rep.quantized.length, excluded: rep.excluded };
  }
  if (plan.mode === 'fp16') {
    const keepNodes = [...excludeNodes].filter((n) => g.nodes.some((node) => node.name === n));
    const rep = convertToFp16(g, { keepFloat32Ops: [...DEFAULT_KEEP_FLOAT32_OPS, ...plan.keepFloat32Ops], keepNodes });
    return {
      model: g.toModel(),
      quantizedNodes: rep.float16Nodes,
      excluded: rep.keptNodes.map((k) => ({ name: k.name, opType: k.opType, reason: `kept in float32: ${k.reason}` })),
    };
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
    if (!warnedPerTensor)
      warn(
        `opset ${input.optimized.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version} < 13: weights quantized per tensor (per-channel needs opset 13)`,
      );
    warnedPerTensor = true;
  };

  const build = (choice: BuildChoice): Built => buildCandidate(input, ranges, choice, onPerTensor);
  const candidateOf = async (built: Built, excluded = built.excluded): Promise<Candidate> => {
    const bytes = serializeModel(built.model);
    const verify = await input.evaluate(bytes);
    return { model: built.model, bytes, verify, margin: budgetMargin(verify.outputs, budget), plan, quantizedNodes: built.quantizedNodes, excluded };
  };

  step('verify', runner.label);
  const first = build({});
  let best = await candidateOf(first);
  let choice: BuildChoice = {};
  if (best.margin < 0 && plan.mode !== 'none' && first.quantizedNodes > 0) ({ best, choice } = await accuracySearch(input, first, best, build, candidateOf));
  if (plan.mode !== 'int8') return { best, ranges };
  if (plan.measurePerNode) best = await speedDecisions(input, ranges!, best, choice, build, candidateOf);
  return { best, ranges, plain: () => candidateOf(build({ plain: true })) };
}

/** In-context speed decisions on top of the accuracy search's choice (see quantize/in-context.ts). */
async function speedDecisions(
  input: QuantizeInput,
  ranges: CalibrationResult,
  best: Candidate,
  choice: BuildChoice,
  build: (choice: BuildChoice) => Built,
  candidateOf: (built: Built, excluded?: Excluded[]) => Promise<Candidate>,
): Promise<Candidate> {
  const { runner } = input;
  if (!runner.native) {
    input.warn(
      `speed decisions skipped: ${runner.label} ${runner.emulated ? 'is emulated' : 'is a stand-in'}, its timings are not the target's (every node the plan allows stays int8)`,
    );
    return best;
  }
  const sample = await firstSample(input.evaluationSet);
  if (!sample) return best;
  const graph = Graph.fromModel(parseModel(input.optimizedBytes, { checkVersions: false }));
  const quantized = new Set(graph.nodes.map((n) => n.name).filter((n) => !best.excluded.some((e) => e.name === n)));
  const regions = candidateRegions(graph, quantized, ranges.shapes);
  input.step('decide', `${regions.length} region(s) tried in float in the whole model on ${runner.label}`);
  const withFloat = (nodes: readonly string[]): BuildChoice => ({ ...choice, extraExcluded: [...(choice.extraExcluded ?? []), ...nodes] });
  const decided = await decideInContext({
    runner,
    sample,
    start: best.bytes,
    regions,
    build: (nodes) => serializeModel(build(withFloat(nodes)).model),
    onRegion: (done, total) => input.progress('decide', done, total),
  });
  if (decided.floatNodes.length === 0) return { ...best, decisions: decided.decisions };
  const reason = (name: string) => `kept in float: whole model faster (${decided.decisions.find((d) => d.nodes.includes(name))?.region})`;
  const built = build(withFloat(decided.floatNodes));
  const excluded = built.excluded.map((e) => (decided.floatNodes.includes(e.name) ? { ...e, reason: reason(e.name) } : e));
  const c = await candidateOf(built, excluded);
  return { ...c, decisions: decided.decisions };
}

/** Keep the most error-prone nodes in float until within budget or out of time. */
async function accuracySearch(
  input: QuantizeInput,
  first: Built,
  start: Candidate,
  build: (choice: BuildChoice) => Built,
  candidateOf: (built: Built, excluded?: Excluded[]) => Promise<Candidate>,
): Promise<{ best: Candidate; choice: BuildChoice }> {
  const { plan, step } = input;
  let best = start;
  let choice: BuildChoice = {};
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
    const c = await candidateOf(
      attempt,
      attempt.excluded.map((e) => (glue.includes(e.opType) && /excluded/.test(e.reason) ? { ...e, reason: 'kept in float: glue op (accuracy search)' } : e)),
    );
    if (c.margin > best.margin) {
      best = c;
      searchExcludeOps = glue;
      choice = { extraExcludeOps: glue };
    }
  }
  let k = 1;
  while (best.margin < 0 && performance.now() < deadline && k <= maxFloat) {
    const keep = ranking.slice(0, k);
    step('search', `keeping ${k} most sensitive node(s) in float`);
    // Dynamic int8 has no tensors to isolate: its nodes are simply left in float.
    const tried: BuildChoice =
      plan.mode === 'int8' ? { isolate: keep.map((r) => r.name), extraExcludeOps: searchExcludeOps } : { extraExcluded: keep.map((r) => r.name) };
    const attempt = build(tried);
    // Keeping a node in float also keeps its neighbours' tensors in float: stop once that leaves
    // fewer than half of the quantized nodes, where quantization has lost its point.
    if (attempt.quantizedNodes < Math.ceil(first.quantizedNodes / 2)) break;
    const excluded = [
      ...attempt.excluded.filter((e) => !keep.some((r) => r.name === e.name)),
      ...keep.map((r) => ({ name: r.name, opType: r.opType, reason: `kept in float: output cosine ${r.cosine.toFixed(4)} (accuracy search)` })),
    ];
    const c = await candidateOf(attempt, excluded);
    if (c.margin > best.margin) {
      best = c;
      choice = tried;
    }
    k = k < maxFloat && k * 2 > maxFloat ? maxFloat : k * 2;
  }
  if (best.margin < 0)
    input.warn(`the artifact misses the accuracy budget (worst margin ${best.margin.toFixed(4)}); the best model found is saved, see the manifest`);
  return { best, choice };
}
