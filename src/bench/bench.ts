/**
 * `kiln bench`: measure a model and its compiled variants side by side, per runtime this host has
 * (onnxruntime-node, onnxruntime-web in Node, onnxruntime-web in headless Chromium, arm64 under
 * emulation, CUDA where installed), and report latency percentiles, throughput, cold start, peak
 * memory, size, and ratios against the original measured in the same rounds.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadAllTargets, loadTarget, listBuiltinTargets, type TargetProfile } from '../targets/profiles.js';
import { inputSpecs } from '../compiler/io-spec.js';
import { KilnError } from '../errors.js';
import { loadModel } from '../onnx/model.js';
import type { TensorSpec } from '../protocol/manifest.js';
import type { NamedTensors } from '../runtime/backend.js';
import type { ChildLauncher } from './child.js';
import { CHROMIUM_MISSING, findChromium } from './chromium.js';
import { hostInfo, targetSupport, type SupportContext } from './host.js';
import { concreteInputs, randomFeeds, tileTensor, type ConcreteInput } from './inputs.js';
import { DEFAULT_EMULATED_ITERATIONS, measureGroup, type PlannedGroup } from './measure.js';
import { DEFAULT_WARMUP } from './runner.js';
import { artifactVariant, compileVariants, originalVariant, resolveSubject, zooInputRanges, zooSample, type Subject } from './subject.js';
import type { BenchEvent, BenchReport, GroupResult, RuntimeKind, VariantSpec } from './types.js';

export { DEFAULT_EMULATED_ITERATIONS };

export interface BenchOptions {
  /** An .onnx file, `zoo:NAME`, or an artifact folder. */
  subject: string;
  /** Folder relative paths are resolved against. @default process.cwd() */
  cwd?: string;
  /** Compile a plain model for these targets (names, profile files or profiles; 'all' = every built-in) and compare. */
  targets?: readonly (string | TargetProfile)[] | 'all';
  /** Run every group on this runtime instead of each target's own. */
  backend?: 'ort-node' | 'ort-web';
  /** Intra-op threads. @default each runtime's default: onnxruntime-node one per core, WASM 1 */
  threads?: number;
  /** Batch sizes, each measured separately. @default [the model's own, 1 where dynamic] */
  batches?: readonly number[];
  /** Timed rounds. @default 50 */
  iterations?: number;
  /** Untimed runs per variant before timing. @default 5 */
  warmup?: number;
  /** Sizes of dynamic input dims, by input name. */
  shapes?: Readonly<Record<string, number[]>>;
  /** Also run onnxruntime-web in headless Chromium. @default false */
  browser?: boolean;
  /** 'process': cold start and peak RSS in a fresh process per variant; 'shared': cold start in the benchmark process only (faster). @default 'process' */
  coldStart?: 'process' | 'shared';
  /** The source model of an artifact (else found in the zoo by the manifest's hash, when it is a zoo model). */
  original?: string;
  /** Where compiled artifacts go. @default a temporary folder */
  artifactsDir?: string;
  /** Reuse identical compiles. @default true */
  compileCache?: boolean;
  compileCacheDir?: string;
  /**
   * Variants to compile per target, overriding what each target computes fast (e.g. fp16 on a CPU
   * target, to see what it costs there). 'none' is the fp32-optimized model.
   * @default per target: fp32-optimized, then int8 / dynamic int8 / fp16 as the profile runs fast
   */
  modes?: readonly ('none' | 'int8' | 'int8-dynamic' | 'fp16')[];
  /** Most timed rounds under emulation (an emulated run is 10–100× slower). @default DEFAULT_EMULATED_ITERATIONS (5) */
  emulatedIterations?: number;
  /** Environment (KILN_ARM64_SYSROOT, KILN_CHROMIUM, PATH). @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Overrides of the host probes (tests). */
  support?: Omit<SupportContext, 'backend' | 'env'>;
  onEvent?: (event: BenchEvent) => void;
}

export const DEFAULT_ITERATIONS = 50;
const TIMING =
  'own loop: performance.now() around each awaited run, variants interleaved round by round in rotating order (tinybench runs one task after another and cannot interleave)';

type Unavailable = Extract<GroupResult, { state: 'unavailable' }>;

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function runId(name: string, at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${name}-${at.getFullYear()}${p(at.getMonth() + 1)}${p(at.getDate())}-${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`;
}

function resolveTargets(targets: BenchOptions['targets'], cwd: string): TargetProfile[] {
  if (!targets) return [];
  if (targets === 'all') return loadAllTargets();
  return targets
    .map((t) => (typeof t !== 'string' ? t : t === 'all' ? undefined : loadTarget(t.includes('/') || t.endsWith('.json') ? resolve(cwd, t) : t)))
    .filter((t): t is TargetProfile => !!t);
}

/** The profile an artifact was compiled for: the built-in one of that name, else one made from its manifest. */
function artifactProfile(manifest: Extract<Subject, { kind: 'artifact' }>['manifest']): TargetProfile {
  if (listBuiltinTargets().includes(manifest.target.name)) return loadTarget(manifest.target.name);
  return {
    name: manifest.target.name,
    description: manifest.target.name,
    arch: manifest.target.arch as TargetProfile['arch'],
    cpu: { features: [] },
    runtime: {
      backend: manifest.target.backend as TargetProfile['runtime']['backend'],
      executionProviders: manifest.target.executionProviders as TargetProfile['runtime']['executionProviders'],
      optimizationLevel: 'all',
      operators: 'all',
    },
    threads: 0,
    memoryBudgetMB: 1024,
    numerics: { fast: ['fp32'], int8: { activations: 'uint8', weights: 'int8', reduceRange: false, perChannel: true, measurePerNode: false } },
    compile: { quantize: 'auto', calibration: 'minmax', minCosine: 0.98, maxTop1Drop: 0.005 },
  };
}

/** Variants whose model files are byte-identical are measured once, under a merged label. */
function dedupe(variants: VariantSpec[]): VariantSpec[] {
  const bySha = new Map<string, VariantSpec>();
  const out: VariantSpec[] = [];
  for (const v of variants) {
    const key = sha256(v.modelPath);
    const seen = bySha.get(key);
    if (seen) {
      if (seen.role === 'compiled' && v.role === 'compiled') {
        const merged = { ...seen, label: `${seen.label} = ${v.label}` };
        out[out.indexOf(seen)] = merged;
        bySha.set(key, merged);
      }
      continue;
    }
    bySha.set(key, v);
    out.push(v);
  }
  return out;
}

/** Run the benchmark. Throws KilnError for bad input (dynamic dims without --shape, an artifact this host cannot run). */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const started = performance.now();
  const createdAt = new Date();
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const emit = options.onEvent ?? (() => {});
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  const warmup = options.warmup ?? DEFAULT_WARMUP;
  const shapes = { ...(options.shapes ?? {}) };
  if (!Number.isInteger(iterations) || iterations < 1) throw new KilnError('BAD_OPTION', `--iterations ${iterations}: expected a whole number ≥ 1`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new KilnError('BAD_OPTION', `--warmup ${warmup}: expected a whole number ≥ 0`);
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1))
    throw new KilnError('BAD_OPTION', `--threads ${options.threads}: expected a whole number ≥ 1`);
  for (const b of options.batches ?? [])
    if (!Number.isInteger(b) || b < 1) throw new KilnError('BAD_OPTION', `--batch ${b}: batch sizes are whole numbers ≥ 1`);
  const batches: (number | undefined)[] = options.batches?.length ? [...options.batches] : [undefined];

  emit({ kind: 'step', step: 'resolve', detail: options.subject });
  const subject = await resolveSubject(options.subject, cwd, options.original);
  // Bad shapes fail here, before anything is compiled.
  for (const b of batches) concreteInputs(subject.kind === 'artifact' && subject.original ? subject.original.inputs : subject.inputs, shapes, b);
  if (subject.kind === 'artifact') for (const b of batches) concreteInputs(subject.inputs, shapes, b);

  const supportCtx: SupportContext = { ...options.support, backend: options.backend, env };
  const notes: string[] = [];
  const groups = new Map<string, PlannedGroup>();
  const unavailable: Unavailable[] = [];
  const groupKey = (runtime: RuntimeKind, eps: string[]) => (runtime === 'ort-node' ? `ort-node-${eps.filter((e) => e !== 'cpu')[0] ?? 'cpu'}` : runtime);
  const groupFor = (runtime: RuntimeKind, eps: string[], launcher?: ChildLauncher): PlannedGroup => {
    const id = groupKey(runtime, eps);
    let g = groups.get(id);
    if (!g) {
      g = { id, runtime, executionProviders: eps, launcher, variants: [], failed: [], notes: [] };
      groups.set(id, g);
    }
    return g;
  };

  let original: VariantSpec | undefined;
  let modelInfo: BenchReport['model'];
  if (subject.kind === 'model') {
    original = originalVariant(subject.path, subject.sizeBytes);
    modelInfo = { name: subject.name, source: subject.zooName ? `zoo:${subject.zooName}` : subject.path, sha256: subject.sha256, sizeBytes: subject.sizeBytes };
    const profiles = resolveTargets(options.targets, cwd);
    if (profiles.length === 0) {
      const runtime = options.backend ?? 'ort-node';
      groupFor(runtime, runtime === 'ort-web' ? ['wasm'] : ['cpu']).variants.push(original);
    }
    const artifactsDir = options.artifactsDir ?? mkdtempSync(join(tmpdir(), 'kiln-bench-artifacts-'));
    for (const profile of profiles) {
      const support = await targetSupport(profile, supportCtx);
      if (!support.ok) {
        unavailable.push({
          state: 'unavailable',
          id: profile.name,
          runtime: support.runtime,
          label: `${profile.name} (${profile.runtime.executionProviders.join(', ')})`,
          batch: 0,
          reason: support.reason,
          variants: [],
        });
        emit({ kind: 'warning', message: `${support.reason}: not measured` });
        continue;
      }
      const compiled = await compileVariants(subject, profile, {
        artifactsDir,
        // Calibration and verification need every dim: the batch dim at its default too.
        shapes: Object.fromEntries(concreteInputs(subject.inputs, shapes).map((i) => [i.name, i.dims])),
        cache: options.compileCache,
        cacheDir: options.compileCacheDir,
        modes: options.modes,
        onEvent: emit,
      });
      const g = groupFor(support.runtime, support.executionProviders, support.emulation?.launcher);
      if (!g.variants.includes(original)) g.variants.unshift(original);
      for (const c of compiled) {
        if (c.ok) {
          g.variants.push(c.variant);
          notes.push(
            `${c.variant.label}: ${c.cached ? 'cached compile' : 'compiled'} → ${c.variant.artifactDir} (${c.manifest.quantization.reason}; verification ${c.manifest.verification.passed ? 'passed' : 'MISSED the budget'})`,
          );
        } else {
          const spec: VariantSpec = {
            id: `${profile.name}/${c.mode}`,
            label: `${profile.name} ${c.mode}`,
            role: 'compiled',
            target: profile.name,
            quantization: c.mode === 'fp16' ? 'fp16' : c.mode === 'fp32-opt' ? 'none' : c.mode === 'int8-dyn' ? 'int8-dynamic' : 'int8',
            modelPath: '',
            sizeBytes: 0,
          };
          g.failed.push({ variant: spec, reason: `not compiled: ${c.reason}` });
        }
      }
    }
  } else {
    const profile = artifactProfile(subject.manifest);
    const support = await targetSupport(profile, supportCtx);
    if (!support.ok) {
      throw new KilnError('BACKEND_UNAVAILABLE', `${subject.dir}: this host cannot run the artifact's target — ${support.reason}`, {
        hint:
          support.runtime === 'arm64-emulated'
            ? 'run scripts/setup-arm64-emulation.sh once, or bench it on the device'
            : 'bench it on a host that has what is missing, or compile for another target',
      });
    }
    const artifact = artifactVariant(subject.dir, subject.manifest);
    modelInfo = { name: subject.name, source: subject.dir, sha256: subject.manifest.source.sha256, sizeBytes: subject.manifest.source.sizeBytes };
    const g = groupFor(support.runtime, support.executionProviders, support.emulation?.launcher);
    if (subject.original) {
      original = originalVariant(subject.original.path, subject.original.sizeBytes);
      g.variants.push(original);
    } else {
      notes.push(`the original of ${subject.dir} was not found (pass --original FILE): the artifact is measured alone, without ratios`);
    }
    g.variants.push(artifact);
  }
  for (const g of groups.values()) g.variants = dedupe(g.variants);

  // The browser runs what the WASM group runs (or the original alone).
  if (options.browser) {
    const chromium = findChromium(env);
    const wasm = groups.get('ort-web');
    const variants = wasm ? wasm.variants : original ? [original] : ([...groups.values()][0]?.variants ?? []);
    if (!chromium)
      unavailable.push({
        state: 'unavailable',
        id: 'chromium',
        runtime: 'chromium',
        label: 'onnxruntime-web (wasm) in Chromium',
        batch: 0,
        reason: CHROMIUM_MISSING,
        variants,
      });
    else
      groups.set('chromium', { id: 'chromium', runtime: 'chromium', executionProviders: ['wasm'], variants, failed: [], notes: [`Chromium at ${chromium}`] });
  }

  // Inputs: a zoo model is fed its own sample (tiled to the benchmarked dims): compiled variants are
  // calibrated on real data, and noise far outside those ranges would make their outputs look wrong;
  // other inputs of a zoo model are drawn from its normalized value range, anything else from [0, 1).
  const zooName = subject.zooName;
  const ranges = zooName ? await zooInputRanges(zooName, subject.inputs) : {};
  const sample = zooName ? await zooSample(zooName).catch(() => undefined) : undefined;
  const rangeText = Object.entries(ranges).map(([n, [lo, hi]]) => `${n} uniform in [${lo}, ${hi}] (the zoo's normalized value range)`);
  const sampled = sample
    ? Object.entries(sample).filter(([n, t]) => subject.inputs.some((i) => i.name === n && i.dtype === t.type && i.shape.length === t.dims.length))
    : [];
  notes.push(
    sampled.length
      ? `benchmark input: the zoo's sample (${sampled.map(([n, t]) => `${n} ${t.dims.join('x')}`).join(', ')}) tiled to the benchmarked dims; the same values for every variant`
      : `benchmark input: seeded random, ${rangeText.length ? rangeText.join(', ') : 'floats uniform in [0, 1)'}; the same values for every variant`,
  );
  const makeFeeds = (inputs: ConcreteInput[]): NamedTensors => {
    const feeds = randomFeeds(inputs, 7, ranges);
    for (const [name, t] of sampled) {
      const want = inputs.find((i) => i.name === name);
      if (want) feeds[name] = tileTensor(t, want.dims);
    }
    return feeds;
  };

  // Each variant is fed by its own declared inputs (same seed, so the same values).
  const specCache = new Map<string, TensorSpec[]>();
  const specsOf = (path: string): TensorSpec[] => {
    let specs = specCache.get(path);
    if (!specs) specCache.set(path, (specs = inputSpecs(loadModel(path, { checkVersions: false }))));
    return specs;
  };

  const results: GroupResult[] = [];
  for (const batch of batches) {
    for (const g of groups.values()) {
      if (g.variants.length === 0) continue;
      const inputsOf = (v: VariantSpec) => concreteInputs(specsOf(v.modelPath), shapes, batch);
      const dims = Object.fromEntries(inputsOf(g.variants[0]).map((i) => [i.name, i.dims]));
      const effectiveBatch = batch ?? Object.values(dims)[0]?.[0] ?? 1;
      emit({ kind: 'step', step: 'measure', detail: `${g.id}, batch ${effectiveBatch}: ${g.variants.map((v) => v.label).join(' | ')}` });
      const feedsOf = (v: VariantSpec): NamedTensors => makeFeeds(inputsOf(v));
      try {
        results.push(await measureGroup(g, { batch: effectiveBatch, dims, feedsOf, iterations, warmup, options, env, emit }));
      } catch (err) {
        // One runtime failing (a crashed child, a page that never answered) does not lose the others' figures.
        if (!(err instanceof Error)) throw err;
        const reason = String(err.message).split('\n')[0];
        emit({ kind: 'warning', message: `${g.id}: ${reason}` });
        results.push({
          state: 'unavailable',
          id: g.id,
          runtime: g.runtime,
          label: g.id,
          batch: effectiveBatch,
          reason: `failed: ${reason}`,
          variants: g.variants,
        });
      }
    }
  }
  for (const u of unavailable) results.push(u);

  return {
    kind: 'kiln-bench',
    schemaVersion: 1,
    runId: runId(modelInfo.name, createdAt),
    createdAt: createdAt.toISOString(),
    model: modelInfo,
    host: hostInfo(),
    settings: {
      iterations,
      warmup,
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
      batches: results
        .filter((r) => r.state === 'measured')
        .map((r) => r.batch)
        .filter((b, i, a) => a.indexOf(b) === i),
      shapes,
      timing: TIMING,
    },
    groups: results,
    notes,
    processPeakRssBytes: process.resourceUsage().maxRSS * 1024,
    seconds: (performance.now() - started) / 1000,
  };
}
