/**
 * `kiln compile` as a pipeline of named steps: load → check → passes → optimize → quantize → verify
 * → sign & pack. Each step is a function with its own inputs and result; the larger ones live in
 * ./steps/. compileModel reads top to bottom as that list.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import { loadModel, serializeModel } from '../onnx/model.js';
import type { ModelProto } from '../onnx/proto-types.js';
import { createOrtNodeSession } from '../runtime/ort-node.js';
import type { ArtifactManifest } from '../protocol/manifest.js';
import { sha256Hex, type WrittenArtifact } from '../protocol/artifact.js';
import { kilnConfigDir } from '../config-dir.js';
import type { PipelineFile } from '../protocol/pipeline.js';
import { batchOneShapes, checkedSource, inputSpecs, outputSpecs, randomSource, subsetSource, takeSource, type DataSource } from './io-spec.js';
import { parseCpuInfo, x86Int8Kernel } from '../runtime/host.js';
import type { ModelFacts } from './quant-plan.js';
import { resolveQuantPlan, type UserQuantOptions } from './quant-plan.js';
import { loadTarget, type TargetProfile } from '../targets/profiles.js';
import { compareModels, ortNodeRunner, runnerForTarget, type Budget, type ModelRunner, type VerifyResult } from './verify.js';
import { checkPipelineSource, readPipelineSource, type PipelineSource } from './pipeline.js';
import { cacheKeyOf, restoreCached, storeInCache } from './steps/cache.js';
import { opHistogram, optimizeModel, upgradeForPlan } from './steps/optimize.js';
import { quantizeStep } from './steps/quantize.js';
import { speedStep } from './steps/speed.js';
import { signAndPack } from './steps/package.js';

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
  { kind: 'step'; step: string; detail?: string } | { kind: 'progress'; step: string; done: number; total: number } | { kind: 'warning'; message: string };

export type CompileResult =
  | { state: 'compiled'; artifact: WrittenArtifact; manifest: ArtifactManifest; withinBudget: boolean; seconds: number }
  | { state: 'cached'; artifact: WrittenArtifact; manifest: ArtifactManifest; withinBudget: boolean; seconds: number };

const DEFAULT_CALIBRATION_SAMPLES = 64;
/** Most evaluation samples verified under emulation, by default. */
export const DEFAULT_EMULATED_SAMPLES = 16;

/** Nodes the target cannot run, one line each. Portable targets take standard ONNX domains only. */
export function unsupportedNodes(model: ModelProto, profile: TargetProfile): string[] {
  if (profile.runtime.operators !== 'portable') return [];
  return model
    .graph!.node.filter((n) => n.domain && n.domain !== 'ai.onnx' && n.domain !== 'ai.onnx.ml')
    .map((n) => `${n.name || n.output[0]} (${n.domain}:${n.opType}) is not a standard ONNX operator; ${profile.name} runs portable operators only`);
}

/** Compile one ONNX model for one target. */
export async function compileModel(sourcePath: string, options: CompileOptions): Promise<CompileResult> {
  const started = performance.now();
  const emit = options.onEvent ?? (() => {});
  const step = (name: string, detail?: string) => emit({ kind: 'step', step: name, detail });
  const warn = (message: string) => emit({ kind: 'warning', message });

  step('load', sourcePath);
  const loaded = loadStep(sourcePath, options, warn);
  const { profile, source, outDir } = loaded;
  const data = splitData(source, options, (note) => step('shape', note));
  const runner = runnerStep(profile, options);
  const cpu = profile.arch === 'x86_64' && profile.numerics.int8.reduceRange === 'auto' ? compilingCpu() : undefined;
  const cacheDir = options.cacheDir ?? join(kilnConfigDir(), 'cache', 'compile');
  const cal = options.calibrationData;
  const cacheKey = cacheKeyOf(
    loaded.sourceSha,
    profile,
    options,
    `${cal?.label ?? ''}:${cal?.count ?? 0}:${data.evaluationSet.label}`,
    loaded.pipeline,
    runner,
    DEFAULT_EMULATED_SAMPLES,
    cpu,
  );
  const cached = options.cache !== false ? restoreCached(join(cacheDir, cacheKey), outDir) : undefined;
  if (cached) {
    step('cache', `reusing ${cacheKey.slice(0, 12)}`);
    return { state: 'cached', ...cached, withinBudget: cached.manifest.verification.passed, seconds: (performance.now() - started) / 1000 };
  }

  step('check', profile.name);
  await checkStep(sourcePath, loaded);

  step('optimize');
  const optimizedFirst = await optimizeModel(source, (detail) => step('optimize', detail));
  const plan = resolveQuantPlan(profile, options, { ops: opHistogram(optimizedFirst.model), hasCalibrationData: !!data.calibrationSet, cpu }, warn);
  step('quantize', `${plan.mode}: ${plan.reason}`);
  const { model: optimized, passes } = upgradeForPlan(optimizedFirst, plan, (detail) => step('upgrade', detail), warn);
  const optimizedBytes = serializeModel(optimized);

  if (runner.emulated) step('emulate', runner.note?.replace(/^emulated: /, ''));
  else if (!runner.native && runner.note) warn(runner.note);
  const verifySet = verificationSet(data.evaluationSet, runner, options);
  try {
    const reference = await ortNodeRunner({ optimization: 'all' }).load(loaded.sourceBytes);
    const evaluate = verifier(reference, runner, verifySet, (done) => emit({ kind: 'progress', step: 'verify', done, total: verifySet.count }));
    const common = { optimized, optimizedBytes, evaluationSet: data.evaluationSet, runner, evaluate, budget: loaded.budget, step, warn };
    const quantized = await quantizeStep({
      ...common,
      plan,
      calibrationSet: data.calibrationSet,
      searchSeconds: options.searchSeconds ?? 180,
      progress: (name, done, total) => emit({ kind: 'progress', step: name, done, total }),
    });
    const timed = await speedStep({ ...common, best: quantized.best, plain: quantized.plain, requested: options.quantize ?? 'auto' });
    await reference.release();
    await runner.close?.();

    step('package', outDir);
    const artifact = signAndPack({
      ...loaded,
      sourcePath,
      modelVersion: options.modelVersion,
      plan,
      best: timed.best,
      ranges: quantized.ranges,
      calibrationSet: data.calibrationSet,
      passes,
      runner,
      emulatedSamples: runner.emulated ? { verified: verifySet.count, of: data.evaluationSet.count } : undefined,
      verifyLabel: verifySet.label,
      performance: timed.performance,
      signKey: options.signKey,
      cacheKey,
      seconds: (performance.now() - started) / 1000,
    });
    const seconds = (performance.now() - started) / 1000;
    if (options.cache !== false) storeInCache(artifact, cacheDir, join(cacheDir, cacheKey));
    return { state: 'compiled', artifact, manifest: artifact.manifest, withinBudget: timed.best.margin >= 0, seconds };
  } finally {
    await runner.close?.();
  }
}

interface Loaded {
  profile: TargetProfile;
  source: ModelProto;
  sourceBytes: Uint8Array;
  sourceSha: string;
  modelName: string;
  outDir: string;
  pipeline?: PipelineSource;
  budget: Budget;
}

/** Read the model, the profile and the pipeline (a bad pipeline fails in a moment, not after calibration). */
function loadStep(sourcePath: string, options: CompileOptions, warn: (message: string) => void): Loaded {
  const profile = typeof options.target === 'string' ? loadTarget(options.target) : options.target;
  const source = loadModel(sourcePath);
  const sourceBytes = readFileSync(sourcePath);
  const modelName = options.modelName ?? basename(sourcePath).replace(/\.onnx$/i, '');
  if (options.labels !== undefined && options.pipeline === undefined) {
    throw new KilnError('BAD_PIPELINE', `labels ${options.labels}: a labels file is part of a pipeline, and no pipeline was given`, {
      hint: 'pass --pipeline pipeline.json with it (postprocess with topk or argmax)',
    });
  }
  const pipeline = options.pipeline === undefined ? undefined : readPipelineSource(options.pipeline, { labels: options.labels, warn });
  if (pipeline) checkPipelineSource(pipeline, { inputs: inputSpecs(source), outputs: outputSpecs(source) });
  return {
    profile,
    source,
    sourceBytes,
    sourceSha: sha256Hex(sourceBytes),
    modelName,
    outDir: resolve(options.outDir ?? join('out', `${modelName}-${profile.name}`)),
    pipeline,
    budget: { minCosine: options.minCosine ?? profile.compile.minCosine, maxTop1Drop: options.maxTop1Drop ?? profile.compile.maxTop1Drop },
  };
}

/** Calibration data (its held-out part verifies), else evaluation data, else random inputs. */
function splitData(source: ModelProto, options: CompileOptions, note: (line: string) => void): { calibrationSet?: DataSource; evaluationSet: DataSource } {
  const holdOut = options.holdOut ?? 0.2;
  const specs = inputSpecs(source);
  const cal = options.calibrationData && checkedSource(options.calibrationData, specs, 'calibration sample');
  const evaluationData = options.evaluationData && checkedSource(options.evaluationData, specs, 'evaluation sample');
  const maxCal = options.maxCalibrationSamples ?? DEFAULT_CALIBRATION_SAMPLES;
  if (cal && cal.count >= 2) {
    const every = Math.max(2, Math.round(1 / holdOut));
    const calIndices = new Set<number>();
    for (let i = 0; i < cal.count && calIndices.size < maxCal; i++) if (i % every !== every - 1) calIndices.add(i);
    return {
      calibrationSet: subsetSource(cal, cal.label, (i) => calIndices.has(i)),
      evaluationSet: subsetSource(cal, `${cal.label} (held out)`, (i) => i % every === every - 1),
    };
  }
  if (cal && cal.count === 1) return { calibrationSet: cal, evaluationSet: evaluationData ?? cal };
  if (evaluationData) return { evaluationSet: evaluationData };
  // A torch export's batch dimension is dynamic: verify at batch 1; the artifact keeps it dynamic.
  const { shapes, notes } = batchOneShapes(specs, options.shapes);
  notes.forEach(note);
  return { evaluationSet: randomSource(specs, shapes, 8) };
}

/** The compiling CPU's model name and int8 path, for profiles that tune int8 to it. */
function compilingCpu(): ModelFacts['cpu'] {
  const info = existsSync('/proc/cpuinfo') ? parseCpuInfo(readFileSync('/proc/cpuinfo', 'utf8')) : undefined;
  return { model: info?.model ?? 'unknown', int8Kernel: x86Int8Kernel(info?.features ?? []) };
}

/** Which runtime verifies: decided before anything starts, as it is part of what the cache holds. */
function runnerStep(profile: TargetProfile, options: CompileOptions): ModelRunner {
  if (options.maxEmulatedSamples !== undefined && !(Number.isInteger(options.maxEmulatedSamples) && options.maxEmulatedSamples >= 1)) {
    throw new KilnError('BAD_OPTION', `maxEmulatedSamples ${options.maxEmulatedSamples}: expected a whole number ≥ 1`);
  }
  return runnerForTarget(profile, { verifyOn: options.verifyOn, env: options.env });
}

/** Every node runs on the target, and onnxruntime loads the source. */
async function checkStep(sourcePath: string, { source, sourceBytes, profile }: Loaded): Promise<void> {
  const unsupported = unsupportedNodes(source, profile);
  if (unsupported.length) {
    throw new KilnError(
      'UNSUPPORTED_OPERATOR',
      `${sourcePath}: ${unsupported.length} node(s) cannot run on target ${profile.name}:\n  • ${unsupported.slice(0, 20).join('\n  • ')}`,
      {
        hint: 'pick another target, or re-export the model with standard operators',
      },
    );
  }
  const check = await createOrtNodeSession(sourceBytes, { source: sourcePath });
  await check.release();
}

/** Under emulation a sample can take seconds, and the accuracy search verifies several candidates: a cap. */
function verificationSet(evaluationSet: DataSource, runner: ModelRunner, options: CompileOptions): DataSource {
  const maxEmulated = options.maxEmulatedSamples ?? DEFAULT_EMULATED_SAMPLES;
  if (!runner.emulated || evaluationSet.count <= maxEmulated) return evaluationSet;
  return takeSource(evaluationSet, maxEmulated, `${evaluationSet.label}, first ${maxEmulated} of ${evaluationSet.count}`);
}

/** Verify model bytes on the target's runtime against the source on this host. */
function verifier(reference: Awaited<ReturnType<ModelRunner['load']>>, runner: ModelRunner, verifySet: DataSource, onProgress: (done: number) => void) {
  return async (bytes: Uint8Array): Promise<VerifyResult> => {
    const candidate = await runner.load(bytes);
    try {
      return await compareModels(reference, candidate, verifySet, onProgress);
    } finally {
      await candidate.release();
    }
  };
}
