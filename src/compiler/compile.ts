/**
 * `kiln compile`: load → check → optimize → quantize → verify on the target runtime → package.
 * The orchestration lives here; each step is its own module.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import { Graph } from '../onnx/graph.js';
import { loadModel, parseModel, serializeModel } from '../onnx/model.js';
import type { ModelProto } from '../onnx/proto-types.js';
import { createOrtNodeSession, ort } from '../runtime/ort-node.js';
import { MANIFEST_SCHEMA_VERSION, type ArtifactManifest } from '../protocol/manifest.js';
import { canonicalJson, sha256Hex, writeArtifact, MANIFEST_FILE, type WrittenArtifact } from '../protocol/artifact.js';
import { inputSpecs, outputSpecs, randomSource, subsetSource, takeSource, type DataSource } from './io-spec.js';
import { nameNodes, runPasses, type PassResult } from './passes/cleanup.js';
import { upgradeModelOpset } from './passes/upgrade-opset.js';
import { convertToFp16, DEFAULT_KEEP_FLOAT32_OPS } from './passes/fp16.js';
import { resolveQuantPlan, type QuantPlan, type UserQuantOptions } from './quant-plan.js';
import { calibrate, withIntermediateOutputs } from './quantize/calibrate.js';
import { quantizeDynamic } from './quantize/dynamic.js';
import { quantizeQdq } from './quantize/qdq.js';
import { measureNodes, timeSideBySide } from './quantize/measure.js';
import { kilnConfigDir } from '../config-dir.js';
import { defaultSigningKey, loadSigningKey } from '../protocol/signing.js';
import { loadTarget, type TargetProfile } from '../targets/profiles.js';
import { budgetMargin, compareModels, ortNodeRunner, runnerForTarget, type Budget, type ModelRunner, type VerifyResult } from './verify.js';
import { cosineSimilarity } from './metrics.js';
import { KILN_VERSION } from '../version.js';
import type { PipelineFile } from '../protocol/pipeline.js';
import { checkPipelineSource, pipelineArtifactFiles, pipelineCacheKey, readPipelineSource, type PipelineSource } from './pipeline.js';

export interface CompileOptions extends UserQuantOptions {
  /** Built-in target name or path to a profile JSON. */
  target: string | TargetProfile;
  /** Artifact directory (default `out/<model>-<target>`). */
  outDir?: string;
  /** Samples for calibration (and, held out, verification). */
  calibrationData?: DataSource;
  /** Samples for verification when no calibration data is given (e.g. the zoo's). */
  evaluationData?: DataSource;
  /** Concrete sizes for dynamic input dims. */
  shapes?: Record<string, number[]>;
  /** Most calibration samples used (default 64). */
  maxCalibrationSamples?: number;
  /** Share of calibration data held out for verification (default 0.2). */
  holdOut?: number;
  /** Override the profile's accuracy budget. */
  minCosine?: number;
  maxTop1Drop?: number;
  /** Time limit in seconds for the accuracy search (default 180). */
  searchSeconds?: number;
  modelName?: string;
  modelVersion?: string;
  /** PEM ed25519 key; default: kiln's own key in its config dir. */
  signKey?: string;
  /**
   * An inference pipeline to put in the artifact, signed with it (see src/protocol/pipeline.ts): the
   * path of a pipeline.json, or its content. Checked against the model before the long work and
   * again, against the compiled model, before the artifact is written. A `labelsFile` in it is
   * relative to the pipeline file (to the current directory for an object).
   */
  pipeline?: string | PipelineFile;
  /** A labels file (one label per line) for the pipeline, replacing its labelsFile; needs `pipeline`. */
  labels?: string;
  /**
   * Where the compiled model is verified. 'target': the target's own runtime, under qemu emulation
   * where this host needs it and has it set up (arm64 on x86-64: scripts/setup-arm64-emulation.sh);
   * 'host': this host's onnxruntime stands in, never an emulator (faster; the target's kernels do not run).
   * @default 'target'
   */
  verifyOn?: 'target' | 'host';
  /** Most evaluation samples verified under emulation (a sample can take seconds there). @default DEFAULT_EMULATED_SAMPLES (16) */
  maxEmulatedSamples?: number;
  /** Where to look for the emulation (PATH, KILN_ARM64_SYSROOT, QEMU_CPU). @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Reuse an earlier identical compile (default true). */
  cache?: boolean;
  cacheDir?: string;
  onEvent?: (event: CompileEvent) => void;
}

export type CompileEvent =
  | { kind: 'step'; step: string; detail?: string }
  | { kind: 'progress'; step: string; done: number; total: number }
  | { kind: 'warning'; message: string };

export type CompileResult =
  | { state: 'compiled'; artifact: WrittenArtifact; manifest: ArtifactManifest; withinBudget: boolean; seconds: number }
  | { state: 'cached'; artifact: WrittenArtifact; manifest: ArtifactManifest; withinBudget: boolean; seconds: number };

const DEFAULT_CALIBRATION_SAMPLES = 64;
/** Most evaluation samples verified under emulation, by default. */
export const DEFAULT_EMULATED_SAMPLES = 16;

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

function opHistogram(model: ModelProto): Record<string, number> {
  const ops: Record<string, number> = {};
  for (const n of model.graph!.node) if (!n.domain || n.domain === 'ai.onnx') ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  return ops;
}

/** Nodes the target cannot run, one line each. Portable targets take standard ONNX domains only. */
export function unsupportedNodes(model: ModelProto, profile: TargetProfile): string[] {
  if (profile.runtime.operators !== 'portable') return [];
  return model.graph!.node
    .filter((n) => n.domain && n.domain !== 'ai.onnx' && n.domain !== 'ai.onnx.ml')
    .map((n) => `${n.name || n.output[0]} (${n.domain}:${n.opType}) is not a standard ONNX operator; ${profile.name} runs portable operators only`);
}

function cacheKeyOf(sourceSha: string, profile: TargetProfile, options: CompileOptions, dataLabel: string, pipeline: PipelineSource | undefined, runner: ModelRunner): string {
  const relevant = {
    kiln: KILN_VERSION,
    source: sourceSha,
    profile,
    quantize: options.quantize,
    calibration: options.calibration,
    includeOps: options.includeOps,
    excludeOps: options.excludeOps,
    includeNodes: options.includeNodes,
    excludeNodes: options.excludeNodes,
    measurePerNode: options.measurePerNode,
    shapes: options.shapes,
    data: dataLabel,
    maxCalibrationSamples: options.maxCalibrationSamples,
    holdOut: options.holdOut,
    minCosine: options.minCosine,
    maxTop1Drop: options.maxTop1Drop,
    modelName: options.modelName,
    modelVersion: options.modelVersion,
    // What verifies it: an arm64 compile verified under emulation is not the one verified on the x86 stand-in.
    verifiedOn: { label: runner.label, note: runner.note, maxEmulatedSamples: runner.emulated ? (options.maxEmulatedSamples ?? DEFAULT_EMULATED_SAMPLES) : undefined },
    // Content, not paths: a changed pipeline.json or labels file is a changed artifact.
    pipeline: pipeline ? pipelineCacheKey(pipeline) : undefined,
  };
  return createHash('sha256').update(canonicalJson(relevant)).digest('hex');
}

interface Candidate {
  model: ModelProto;
  bytes: Uint8Array;
  verify: VerifyResult;
  margin: number;
  plan: QuantPlan;
  quantizedNodes: number;
  excluded: { name: string; opType: string; reason: string }[];
}

/** Compile one ONNX model for one target. */
export async function compileModel(sourcePath: string, options: CompileOptions): Promise<CompileResult> {
  const started = performance.now();
  const emit = options.onEvent ?? (() => {});
  const warn = (message: string) => emit({ kind: 'warning', message });
  const profile = typeof options.target === 'string' ? loadTarget(options.target) : options.target;

  emit({ kind: 'step', step: 'load', detail: sourcePath });
  const source = loadModel(sourcePath);
  const sourceBytes = readFileSync(sourcePath);
  const sourceSha = sha256Hex(sourceBytes);
  const modelName = options.modelName ?? basename(sourcePath).replace(/\.onnx$/i, '');
  const outDir = resolve(options.outDir ?? join('out', `${modelName}-${profile.name}`));
  // The pipeline first: a bad one fails in a moment, not after calibration and verification.
  if (options.labels !== undefined && options.pipeline === undefined) {
    throw new KilnError('BAD_PIPELINE', `labels ${options.labels}: a labels file is part of a pipeline, and no pipeline was given`, { hint: 'pass --pipeline pipeline.json with it (postprocess with topk or argmax)' });
  }
  const pipeline = options.pipeline === undefined ? undefined : readPipelineSource(options.pipeline, { labels: options.labels, warn });
  if (pipeline) checkPipelineSource(pipeline, { inputs: inputSpecs(source), outputs: outputSpecs(source) });
  const budget: Budget = { minCosine: options.minCosine ?? profile.compile.minCosine, maxTop1Drop: options.maxTop1Drop ?? profile.compile.maxTop1Drop };

  // Data: calibration (held-out part verifies), else evaluation data, else random inputs.
  const specs = inputSpecs(source);
  const holdOut = options.holdOut ?? 0.2;
  const cal = options.calibrationData;
  const maxCal = options.maxCalibrationSamples ?? DEFAULT_CALIBRATION_SAMPLES;
  let calibrationSet: DataSource | undefined;
  let evaluationSet: DataSource;
  if (cal && cal.count >= 2) {
    const every = Math.max(2, Math.round(1 / holdOut));
    evaluationSet = subsetSource(cal, `${cal.label} (held out)`, (i) => i % every === every - 1);
    const calIndices = new Set<number>();
    for (let i = 0; i < cal.count && calIndices.size < maxCal; i++) if (i % every !== every - 1) calIndices.add(i);
    calibrationSet = subsetSource(cal, cal.label, (i) => calIndices.has(i));
  } else if (cal && cal.count === 1) {
    calibrationSet = cal;
    evaluationSet = options.evaluationData ?? cal;
  } else {
    evaluationSet = options.evaluationData ?? randomSource(specs, options.shapes ?? {}, 8);
  }

  if (options.maxEmulatedSamples !== undefined && !(Number.isInteger(options.maxEmulatedSamples) && options.maxEmulatedSamples >= 1)) {
    throw new KilnError('BAD_OPTION', `maxEmulatedSamples ${options.maxEmulatedSamples}: expected a whole number ≥ 1`);
  }
  // Which runtime verifies: decided now (nothing starts yet), as it is part of what the cache holds.
  const runner: ModelRunner = runnerForTarget(profile, { verifyOn: options.verifyOn, env: options.env });
  const cacheKey = cacheKeyOf(sourceSha, profile, options, `${cal?.label ?? ''}:${cal?.count ?? 0}:${evaluationSet.label}`, pipeline, runner);
  const cacheDir = options.cacheDir ?? join(kilnConfigDir(), 'cache', 'compile');
  const cached = join(cacheDir, cacheKey);
  if (options.cache !== false && existsSync(join(cached, MANIFEST_FILE))) {
    emit({ kind: 'step', step: 'cache', detail: `reusing ${cacheKey.slice(0, 12)}` });
    const manifest = JSON.parse(readFileSync(join(cached, MANIFEST_FILE), 'utf8')) as ArtifactManifest;
    rmSync(outDir, { recursive: true, force: true });
    cpSync(cached, outDir, { recursive: true });
    if (existsSync(`${cached}.tgz`)) cpSync(`${cached}.tgz`, `${outDir}.tgz`);
    return {
      state: 'cached',
      artifact: { dir: outDir, archive: `${outDir}.tgz`, manifest },
      manifest,
      withinBudget: manifest.verification.passed,
      seconds: (performance.now() - started) / 1000,
    };
  }

  emit({ kind: 'step', step: 'check', detail: profile.name });
  const unsupported = unsupportedNodes(source, profile);
  if (unsupported.length) {
    throw new KilnError('UNSUPPORTED_OPERATOR', `${sourcePath}: ${unsupported.length} node(s) cannot run on target ${profile.name}:\n  • ${unsupported.slice(0, 20).join('\n  • ')}`, {
      hint: 'pick another target, or re-export the model with standard operators',
    });
  }
  const check = await createOrtNodeSession(sourceBytes, { source: sourcePath });
  await check.release();

  emit({ kind: 'step', step: 'optimize' });
  const graph = Graph.fromModel(source);
  const passes: PassResult[] = runPasses(graph);
  const cleaned = graph.toModel();
  const cleanedBytes = serializeModel(cleaned);
  let optimized = await ortBasicOptimize(cleanedBytes, source);
  if (serializeModel(optimized).byteLength > cleanedBytes.byteLength * 1.05) {
    // onnxruntime can grow a model (constants folded inside If/Loop branches are duplicated): keep kiln's.
    emit({ kind: 'step', step: 'optimize', detail: "onnxruntime's offline optimization grew the model; kept kiln's passes only" });
    optimized = cleaned;
    passes.push({ name: 'onnxruntime-basic (skipped: larger output)', changed: 0 });
  } else {
    passes.push({ name: 'onnxruntime-basic', changed: cleaned.graph!.node.length - optimized.graph!.node.length });
  }
  {
    // onnxruntime names the nodes it creates; name any it left unnamed.
    const g = Graph.fromModel(optimized);
    nameNodes(g);
    optimized = g.toModel();
  }
  const plan = resolveQuantPlan(profile, options, { ops: opHistogram(optimized), hasCalibrationData: !!calibrationSet }, warn);
  emit({ kind: 'step', step: 'quantize', detail: `${plan.mode}: ${plan.reason}` });

  // Per-channel int8 weights need DequantizeLinear's axis (opset 13): upgrade older models when it is safe.
  const opset = optimized.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  if (plan.mode === 'int8' && plan.perChannel && opset < 13) {
    const upgraded = upgradeModelOpset(optimized, 13);
    if (upgraded.result.upgraded) {
      optimized = upgraded.model;
      passes.push({ name: `upgrade-opset-${opset}-to-13`, changed: upgraded.result.converted });
      emit({ kind: 'step', step: 'upgrade', detail: `opset ${opset} → 13 for per-channel weights (${upgraded.result.converted} conversions)` });
    } else {
      warn(`opset ${opset} kept (${upgraded.result.reason}): weights will be quantized per tensor`);
    }
  }
  const optimizedBytes = serializeModel(optimized);

  if (runner.emulated) emit({ kind: 'step', step: 'emulate', detail: runner.note?.replace(/^emulated: /, '') });
  else if (!runner.native && runner.note) warn(runner.note);
  // Under emulation a sample can take seconds, and the accuracy search verifies several candidates: a cap.
  const maxEmulated = options.maxEmulatedSamples ?? DEFAULT_EMULATED_SAMPLES;
  const capped = runner.emulated && evaluationSet.count > maxEmulated;
  const verifySet = capped ? takeSource(evaluationSet, maxEmulated, `${evaluationSet.label}, first ${maxEmulated} of ${evaluationSet.count}`) : evaluationSet;
  try {
    const referenceRunner = ortNodeRunner({ optimization: 'all' });
    const reference = await referenceRunner.load(sourceBytes);

    const evaluate = async (bytes: Uint8Array): Promise<VerifyResult> => {
      const candidate = await runner.load(bytes);
      try {
        return await compareModels(reference, candidate, verifySet, (done) => emit({ kind: 'progress', step: 'verify', done, total: verifySet.count }));
      } finally {
        await candidate.release();
      }
    };

    let ranges: Awaited<ReturnType<typeof calibrate>> | undefined;
    let warnedPerTensor = false;
    const sets = (xs?: string[]) => (xs ? new Set(xs) : undefined);
    const build = (extraExcluded: readonly string[], isolate: readonly string[] = []) => buildWith({ extraExcluded, isolate });
    const buildWith = ({ extraExcluded = [], isolate = [], extraExcludeOps = [] }: { extraExcluded?: readonly string[]; isolate?: readonly string[]; extraExcludeOps?: readonly string[] }): { model: ModelProto; quantizedNodes: number; excluded: Candidate['excluded']; observe?: Map<string, { reference: string; quantized: string }> } => {
      const fresh = parseModel(optimizedBytes, { checkVersions: false });
      const g = Graph.fromModel(fresh);
      const excludeNodes = new Set([...(plan.excludeNodes ?? []), ...extraExcluded]);
      if (plan.mode === 'int8') {
        const rep = quantizeQdq(g, {
          activations: plan.activations,
          reduceRange: plan.reduceRange,
          perChannel: plan.perChannel,
          ranges: ranges!.ranges,
          includeOps: sets(plan.includeOps),
          excludeOps: new Set([...plan.excludeOps, ...extraExcludeOps]),
          includeNodes: sets(plan.includeNodes),
          excludeNodes,
          isolateNodes: new Set(isolate),
        });
        if (rep.perTensorFallback && !warnedPerTensor) {
          warnedPerTensor = true;
          warn(`opset ${g.opsetVersion('')} < 13: weights quantized per tensor (per-channel needs opset 13)`);
        }
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
    };

    if (plan.mode === 'int8') {
      emit({ kind: 'step', step: 'calibrate', detail: `${plan.calibration}, ${calibrationSet!.count} samples` });
      ranges = await calibrate(optimized, () => calibrationSet!.stream(), {
        method: plan.calibration,
        onProgress: (done, pass, passesTotal) => emit({ kind: 'progress', step: `calibrate ${pass}/${passesTotal}`, done, total: calibrationSet!.count }),
      });
    }

    // Per-node speed check: nodes where int8 is not faster on the target's runtime stay in float.
    const slowInInt8: Candidate['excluded'] = [];
    if (plan.mode === 'int8' && plan.measurePerNode && runner.emulated) {
      warn(`per-node int8 timing skipped: ${runner.label} is emulated, its timings are not the target's (nodes are quantized as the plan says)`);
    } else if (plan.mode === 'int8' && plan.measurePerNode) {
      emit({ kind: 'step', step: 'measure', detail: `int8 vs float per node on ${runner.label}` });
      const timings = await measureNodes(optimized, ranges!.shapes, ranges!.ranges, runner, { activations: plan.activations, reduceRange: plan.reduceRange, perChannel: plan.perChannel }, (done, total) =>
        emit({ kind: 'progress', step: 'measure', done, total }),
      );
      for (const t of timings) {
        // A 5 % margin: one-node timings are noisy, and an int8 node also spares its neighbours a DQ/Q pair.
        if (t.int8Ms > t.floatMs * 1.05) slowInInt8.push({ name: t.name, opType: t.opType, reason: `int8 not faster on ${runner.label}: ${t.int8Ms.toFixed(3)} ms vs ${t.floatMs.toFixed(3)} ms float` });
      }
    }
    const withSlow = (r: ReturnType<typeof build>) => ({ ...r, excluded: [...r.excluded.filter((e) => !slowInInt8.some((x) => x.name === e.name)), ...slowInInt8] });

    emit({ kind: 'step', step: 'verify', detail: runner.label });
    const first = withSlow(build(slowInInt8.map((x) => x.name)));
    let bytes = serializeModel(first.model);
    let verify = await evaluate(bytes);
    let best: Candidate = { model: first.model, bytes, verify, margin: budgetMargin(verify.outputs, budget), plan, quantizedNodes: first.quantizedNodes, excluded: first.excluded };

    // Accuracy search: keep the most error-prone nodes in float until within budget or out of time.
    if (best.margin < 0 && plan.mode !== 'none' && first.quantizedNodes > 0) {
      const deadline = performance.now() + (options.searchSeconds ?? 180) * 1000;
      // Every quantized node is a candidate: glue ops (Add, Mul, Concat with mismatched scales) often add the most error.
      const ranking = await rankSensitivity(optimized, first, evaluationSet);
      // Past half of the quantized nodes in float, quantization has lost its point: report the miss instead.
      const maxFloat = Math.max(1, Math.floor(ranking.length / 2));
      let searchExcludeOps: string[] = [];
      // First try: the convolutions and matrix products in int8, the glue between them in float. Glue
      // (Add, Mul, Concat, Sigmoid) mixes tensors of different scales and often costs the most accuracy.
      if (plan.mode === 'int8') {
        const glue = ['Add', 'Mul', 'Concat', 'Sigmoid', 'LeakyRelu', 'AveragePool', 'GlobalAveragePool'];
        emit({ kind: 'step', step: 'search', detail: 'glue ops in float, convolutions in int8' });
        const attempt = withSlow(buildWith({ extraExcludeOps: glue }));
        const b = serializeModel(attempt.model);
        const v = await evaluate(b);
        const margin = budgetMargin(v.outputs, budget);
        if (margin > best.margin) {
          best = { model: attempt.model, bytes: b, verify: v, margin, plan, quantizedNodes: attempt.quantizedNodes, excluded: attempt.excluded.map((e) => (glue.includes(e.opType) && /excluded/.test(e.reason) ? { ...e, reason: 'kept in float: glue op (accuracy search)' } : e)) };
          searchExcludeOps = glue;
        }
      }
      let k = 1;
      while (best.margin < 0 && performance.now() < deadline && k <= maxFloat) {
        const keep = ranking.slice(0, k);
        emit({ kind: 'step', step: 'search', detail: `keeping ${k} most sensitive node(s) in float` });
        // Dynamic int8 has no tensors to isolate: its nodes are simply left in float.
        const attempt = withSlow(
          plan.mode === 'int8'
            ? buildWith({ extraExcluded: slowInInt8.map((x) => x.name), isolate: keep.map((r) => r.name), extraExcludeOps: searchExcludeOps })
            : build(keep.map((r) => r.name)),
        );
        // Keeping a node in float also keeps its neighbours' tensors in float: stop once that leaves
        // fewer than half of the quantized nodes, where quantization has lost its point.
        if (attempt.quantizedNodes < Math.ceil(first.quantizedNodes / 2)) break;
        bytes = serializeModel(attempt.model);
        verify = await evaluate(bytes);
        const margin = budgetMargin(verify.outputs, budget);
        if (margin > best.margin) {
          best = {
            model: attempt.model,
            bytes,
            verify,
            margin,
            plan,
            quantizedNodes: attempt.quantizedNodes,
            excluded: [...attempt.excluded.filter((e) => !keep.some((r) => r.name === e.name)), ...keep.map((r) => ({ name: r.name, opType: r.opType, reason: `kept in float: output cosine ${r.cosine.toFixed(4)} (accuracy search)` }))],
          };
        }
        k = k < maxFloat && k * 2 > maxFloat ? maxFloat : k * 2;
      }
      if (best.margin < 0) warn(`the artifact misses the accuracy budget (worst margin ${best.margin.toFixed(4)}); the best model found is saved, see the manifest`);
    }
    // Is the compiled model faster where it will run? Measured, interleaved, on the target runtime.
    let performanceFigures: ArtifactManifest['performance'];
    if (runner.native && plan.mode !== 'none') {
      emit({ kind: 'step', step: 'time', detail: `float vs ${plan.mode} on ${runner.label}` });
      const sample = await firstSample(evaluationSet);
      if (sample) {
        const [floatMs, compiledMs] = await timeSideBySide(runner, [optimizedBytes, best.bytes], sample);
        performanceFigures = { runtime: runner.label, floatMs, compiledMs, speedup: floatMs / compiledMs, note: 'median of 15 interleaved runs at compile time, batch as in the evaluation data; `kiln bench` measures properly' };
        if (compiledMs > floatMs * 1.05) {
          const why = `${plan.mode} measured slower than float on ${runner.label}: ${compiledMs.toFixed(3)} ms vs ${floatMs.toFixed(3)} ms`;
          if ((options.quantize ?? 'auto') === 'auto') {
            // The target's own choice, and it does not pay here: ship the optimized float model.
            warn(`${why}; keeping the model in float (pass --quantize ${plan.mode} to force it)`);
            const verifyFloat = await evaluate(optimizedBytes);
            best = { model: optimized, bytes: optimizedBytes, verify: verifyFloat, margin: budgetMargin(verifyFloat.outputs, budget), plan: { mode: 'none', reason: why, excludeOps: [], excludeNodes: [] }, quantizedNodes: 0, excluded: [] };
            performanceFigures = { ...performanceFigures, compiledMs: floatMs, speedup: 1, note: `${performanceFigures.note}; ${why}, so the float model was kept` };
          } else {
            warn(`${why}; consider --quantize none`);
          }
        }
      }
    }

    await reference.release();
    await runner.close?.();

    emit({ kind: 'step', step: 'package', detail: outDir });
    const key = options.signKey ? loadSigningKey(options.signKey) : defaultSigningKey(kilnConfigDir());
    const opsets = Object.fromEntries(source.opsetImport.map((o) => [o.domain || 'ai.onnx', o.version]));
    const seconds = (performance.now() - started) / 1000;
    const manifest: Omit<ArtifactManifest, 'files'> = {
      schemaVersion: MANIFEST_SCHEMA_VERSION,
      kind: 'kiln-artifact',
      model: { name: modelName, version: options.modelVersion ?? sourceSha.slice(0, 12) },
      source: { file: basename(sourcePath), sha256: sourceSha, sizeBytes: sourceBytes.byteLength, irVersion: source.irVersion, opsets },
      target: {
        name: profile.name,
        arch: profile.arch,
        backend: profile.runtime.backend,
        executionProviders: [...profile.runtime.executionProviders],
        profileSha256: sha256Hex(Buffer.from(canonicalJson(profile))),
      },
      inputs: inputSpecs(best.model),
      outputs: outputSpecs(best.model),
      quantization: {
        mode: best.plan.mode,
        reason: best.plan.reason,
        ...(best.plan.mode === 'int8' && plan.mode === 'int8' ? { activations: plan.activations, weights: plan.weights, reduceRange: plan.reduceRange, perChannel: plan.perChannel, calibration: { method: plan.calibration, samples: ranges?.samples ?? 0, source: calibrationSet!.label } } : {}),
        ...(best.plan.mode === 'int8-dynamic' && plan.mode === 'int8-dynamic' ? { weights: 'int8' as const, reduceRange: plan.reduceRange, perChannel: plan.perChannel } : {}),
        quantizedNodes: best.quantizedNodes,
        excludedNodes: best.excluded,
      },
      optimization: { passes, runtimeLevel: profile.runtime.optimizationLevel },
      verification: {
        runtime: runner.native || runner.emulated ? runner.label : `${runner.label} (stand-in: ${runner.note})`,
        ...(runner.emulated ? { note: `${runner.note}${capped ? `; ${maxEmulated} of ${evaluationSet.count} evaluation samples verified (emulation is slow; maxEmulatedSamples / --emulated-samples raise it)` : ''}` } : {}),
        samples: best.verify.samples,
        inputs: verifySet.label,
        outputs: best.verify.outputs,
        budget,
        passed: best.margin >= 0,
      },
      sizes: { sourceBytes: sourceBytes.byteLength, artifactBytes: best.bytes.byteLength },
      ...(performanceFigures ? { performance: performanceFigures } : {}),
      build: {
        kilnVersion: KILN_VERSION,
        onnxruntimeVersion: ort.env.versions.node ?? ort.env.versions.common,
        compileSeconds: Math.round(seconds * 100) / 100,
        createdAt: new Date().toISOString(),
        cacheKey,
      },
    };
    // Again against the compiled model: its inputs and outputs are what the agent checks the pipeline with.
    const pipelineFiles = pipeline ? pipelineArtifactFiles(pipeline, checkPipelineSource(pipeline, manifest, 'the compiled model')) : {};
    const artifact = writeArtifact(outDir, manifest, { 'model.onnx': best.bytes, ...pipelineFiles }, key);
    if (options.cache !== false) {
      mkdirSync(cacheDir, { recursive: true });
      const tmp = `${cached}.tmp-${process.pid}`;
      cpSync(artifact.dir, tmp, { recursive: true });
      cpSync(artifact.archive, `${cached}.tgz`);
      rmSync(cached, { recursive: true, force: true });
      cpSync(tmp, cached, { recursive: true });
      rmSync(tmp, { recursive: true, force: true });
    }
    return { state: 'compiled', artifact, manifest: artifact.manifest, withinBudget: best.margin >= 0, seconds };
  } finally {
    await runner.close?.();
  }
}

async function firstSample(data: DataSource) {
  for await (const sample of data.stream()) return sample;
  return undefined;
}

interface Sensitivity {
  name: string;
  opType: string;
  /** Cosine of the node's own output, float vs quantized model. */
  cosine: number;
  /** How much error this node adds beyond what reaches it. */
  added: number;
}

/** Rank quantized nodes by the error they add, comparing each node's output in the float and quantized models. */
async function rankSensitivity(
  float: ModelProto,
  quantized: { model: ModelProto; observe?: Map<string, { reference: string; quantized: string }> },
  data: DataSource,
): Promise<Sensitivity[]> {
  const observe = quantized.observe;
  if (!observe || observe.size === 0) {
    // Dynamic quantization: every quantized MatMul is a candidate, in graph order.
    return quantized.model.graph!.node.filter((n) => n.opType === 'MatMulInteger').map((n, i) => ({ name: n.name.replace(/_MatMulInteger.*$/, ''), opType: 'MatMul', cosine: 0, added: -i }));
  }
  const runner = ortNodeRunner({ optimization: 'all' });
  const a = await runner.load(serializeModel(withIntermediateOutputs(float, [...observe.values()].map((o) => o.reference))));
  const b = await runner.load(serializeModel(withIntermediateOutputs(quantized.model, [...observe.values()].map((o) => o.quantized))));
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
      const pc = p ? nodeCos.get(p.name) ?? nodeCos.get(g.producer(p.input[0] ?? '')?.name ?? '') : undefined;
      if (pc !== undefined) incoming = Math.min(incoming, pc);
    }
    result.push({ name, opType: node.opType, cosine: c, added: (1 - c) - (1 - incoming) });
  }
  return result.sort((x, y) => y.added - x.added);
}
