/**
 * What is benchmarked: a model file, a zoo model (`zoo:NAME`) or an artifact folder, resolved to
 * the original model and the compiled variants to compare it with. Compiles with compileModel when
 * given a plain model and targets.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { compileModel } from '../compiler/compile.js';
import { inputSpecs, memorySource, randomSource, type DataSource } from '../compiler/io-spec.js';
import type { TargetProfile } from '../targets/profiles.js';
import { KilnError } from '../errors.js';
import { loadModel } from '../onnx/model.js';
import { checkManifest, type ArtifactManifest, type TensorSpec } from '../protocol/manifest.js';
import { MANIFEST_FILE, MODEL_FILE } from '../protocol/artifact.js';
import type { TensorData } from '../runtime/backend.js';
import type { BenchEvent, VariantSpec } from './types.js';

export const ZOO_PREFIX = 'zoo:';

export type Subject =
  | { kind: 'model'; path: string; name: string; zooName?: string; sha256: string; sizeBytes: number; inputs: TensorSpec[] }
  | {
      kind: 'artifact';
      dir: string;
      name: string;
      manifest: ArtifactManifest;
      /** The source model when it could be found (--original, or a zoo model with the manifest's source hash). */
      original?: { path: string; sizeBytes: number; inputs: TensorSpec[] };
      /** The zoo model the artifact was compiled from, when its source hash is one. */
      zooName?: string;
      inputs: TensorSpec[];
    };

const sha256File = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function modelInputs(path: string): TensorSpec[] {
  return inputSpecs(loadModel(path));
}

/** Resolve the positional argument of `kiln bench`. `original` names the source of an artifact. */
export async function resolveSubject(text: string, cwd: string, original?: string): Promise<Subject> {
  if (text.startsWith(ZOO_PREFIX)) {
    const { resolveModel } = await import('../zoo/index.js');
    const zooName = text.slice(ZOO_PREFIX.length);
    const m = resolveModel(zooName);
    return { kind: 'model', path: m.path, name: zooName, zooName, sha256: m.sha256, sizeBytes: m.size, inputs: modelInputs(m.path) };
  }
  const path = resolve(cwd, text);
  if (!existsSync(path)) {
    throw new KilnError('FILE_NOT_FOUND', `${text}: no such file or folder`, {
      hint: 'pass an .onnx file, zoo:NAME, or an artifact folder made by kiln compile',
    });
  }
  if (statSync(path).isDirectory()) {
    const manifestPath = join(path, MANIFEST_FILE);
    if (!existsSync(manifestPath) || !existsSync(join(path, MODEL_FILE))) {
      throw new KilnError('BAD_ARTIFACT', `${text}: a folder, but not an artifact (no ${MANIFEST_FILE} and ${MODEL_FILE})`, {
        hint: 'pass a folder made by kiln compile, an .onnx file, or zoo:NAME',
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(manifestPath, 'utf8'));
    } catch (err) {
      throw new KilnError('BAD_ARTIFACT', `${manifestPath}: not JSON (${(err as Error).message})`);
    }
    const checked = checkManifest(parsed);
    if (!checked.ok)
      throw new KilnError('BAD_ARTIFACT', `${manifestPath}: invalid manifest: ${checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    const manifest = checked.manifest;
    let originalPath = original ? resolve(cwd, original) : undefined;
    if (originalPath && !existsSync(originalPath)) throw new KilnError('FILE_NOT_FOUND', `--original ${original}: no such file`);
    const zoo = await zooModelWithHash(manifest.source.sha256);
    if (!originalPath) originalPath = zoo?.path;
    return {
      kind: 'artifact',
      dir: path,
      name: manifest.model.name,
      manifest,
      inputs: manifest.inputs,
      ...(zoo ? { zooName: zoo.name } : {}),
      original: originalPath ? { path: originalPath, sizeBytes: statSync(originalPath).size, inputs: modelInputs(originalPath) } : undefined,
    };
  }
  return {
    kind: 'model',
    path,
    name: basename(path).replace(/\.onnx$/i, ''),
    sha256: sha256File(path),
    sizeBytes: statSync(path).size,
    inputs: modelInputs(path),
  };
}

/** The zoo model whose catalog hash is `sha256`, if any (an artifact of a zoo model finds its original). */
async function zooModelWithHash(sha256: string): Promise<{ name: string; path: string } | undefined> {
  const { listModels, resolveModel } = await import('../zoo/index.js');
  const entry = listModels().find((e) => e.sha256 === sha256);
  if (!entry) return undefined;
  try {
    return { name: entry.name, path: resolveModel(entry.name).path };
  } catch {
    return undefined;
  }
}

/** Value ranges of a zoo model's inputs (its feed's normalized range), to draw realistic random inputs from. */
export async function zooInputRanges(name: string, inputs: readonly TensorSpec[]): Promise<Record<string, [number, number]>> {
  const { getEntry } = await import('../zoo/index.js');
  const feed = getEntry(name).feed as { input?: string; valueRange?: [number, number] } | undefined;
  if (!feed?.valueRange || inputs.length === 0) return {};
  return { [feed.input ?? inputs[0].name]: [feed.valueRange[0], feed.valueRange[1]] };
}

/** The zoo's first sample input for the model (what its catalog entry says to feed it). */
export async function zooSample(name: string): Promise<Record<string, TensorData>> {
  const { sampleInputs, getEntry } = await import('../zoo/index.js');
  const ocr = getEntry(name).task.includes('text') || /ocr/.test(name);
  return (await sampleInputs(name, ocr ? { text: ZOO_TEXTS[0], seed: 1 } : { seed: 1 })) as unknown as Record<string, TensorData>;
}

/** The original model as a variant. */
export function originalVariant(path: string, sizeBytes: number): VariantSpec {
  return { id: 'original', label: 'original', role: 'original', quantization: 'source', modelPath: path, sizeBytes };
}

const MODE_LABEL: Record<string, string> = { none: 'fp32-opt', int8: 'int8', 'int8-dynamic': 'int8-dyn', fp16: 'fp16' };

/** An artifact folder as a variant. */
export function artifactVariant(dir: string, manifest: ArtifactManifest): VariantSpec {
  const mode = manifest.quantization.mode;
  return {
    id: `${manifest.target.name}/${MODE_LABEL[mode] ?? mode}`,
    label: `${manifest.target.name} ${MODE_LABEL[mode] ?? mode}`,
    role: 'compiled',
    target: manifest.target.name,
    quantization: mode,
    modelPath: join(dir, MODEL_FILE),
    sizeBytes: statSync(join(dir, MODEL_FILE)).size,
    artifactDir: dir,
  };
}

/** Texts for the zoo's OCR sample images, so calibration sees more than one line (as `kiln compile` does). */
const ZOO_TEXTS = ['kiln 2026', 'Edge inference', 'HELLO WORLD', 'model v2.1', 'quick brown fox', 'Raspberry Pi 5', 'ONNX runtime', 'canary 5%'];

/** The zoo's sample inputs as calibration data. */
export async function zooCalibration(name: string, count: number): Promise<DataSource> {
  const { sampleInputs, getEntry } = await import('../zoo/index.js');
  const entry = getEntry(name);
  const ocr = entry.task.includes('text') || /ocr/.test(name);
  const samples = [];
  for (let i = 0; i < count; i++) {
    const feeds = await sampleInputs(name, ocr ? { text: ZOO_TEXTS[i % ZOO_TEXTS.length], seed: i + 1 } : { seed: i + 1 });
    samples.push(feeds as unknown as Record<string, { type: string; dims: number[]; data: Float32Array }>);
  }
  return memorySource(`zoo samples (${count})`, samples);
}

/** The quantization modes worth comparing on a target: fp32-optimized always, then what the target computes fast. */
export function variantModes(profile: TargetProfile, ops: Readonly<Record<string, number>>): ('none' | 'int8' | 'int8-dynamic' | 'fp16')[] {
  const modes: ('none' | 'int8' | 'int8-dynamic' | 'fp16')[] = ['none'];
  const convs = (ops.Conv ?? 0) + (ops.ConvTranspose ?? 0);
  const matmuls = (ops.MatMul ?? 0) + (ops.Gemm ?? 0);
  if (profile.numerics.fast.includes('int8') && convs + matmuls > 0) modes.push(matmuls > convs ? 'int8-dynamic' : 'int8');
  if (profile.numerics.fast.includes('fp16')) modes.push('fp16');
  return modes;
}

export interface CompileVariantsOptions {
  /** Where artifacts go: `<dir>/<model>-<target>-<mode>`. */
  artifactsDir: string;
  shapes: Record<string, number[]>;
  /** @default true */
  cache?: boolean;
  cacheDir?: string;
  /** @default variantModes(profile, ops) */
  modes?: readonly ('none' | 'int8' | 'int8-dynamic' | 'fp16')[];
  onEvent?: (e: BenchEvent) => void;
}

/**
 * Compile `subject` for `profile` in each mode the target allows. A mode that fails (fp16 not in
 * this build, a model the target cannot run) becomes a failed variant with the reason; the others go on.
 */
export async function compileVariants(
  subject: Extract<Subject, { kind: 'model' }>,
  profile: TargetProfile,
  options: CompileVariantsOptions,
): Promise<({ ok: true; variant: VariantSpec; manifest: ArtifactManifest; cached: boolean } | { ok: false; mode: string; reason: string })[]> {
  const emit = options.onEvent ?? (() => {});
  const model = loadModel(subject.path);
  const ops: Record<string, number> = {};
  for (const n of model.graph!.node) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  const modes = options.modes ?? variantModes(profile, ops);
  let calibration: DataSource | undefined;
  const out: Awaited<ReturnType<typeof compileVariants>> = [];
  for (const mode of modes) {
    if (mode === 'int8' && !calibration) {
      // Real samples where the zoo has them; otherwise random inputs: enough to measure speed, not accuracy.
      calibration = subject.zooName ? await zooCalibration(subject.zooName, 16) : randomSource(subject.inputs, options.shapes, 16);
    }
    emit({ kind: 'step', step: 'compile', detail: `${profile.name} ${MODE_LABEL[mode]}` });
    try {
      const result = await compileModel(subject.path, {
        target: profile,
        quantize: mode,
        calibrationData: mode === 'int8' ? calibration : undefined,
        evaluationData: subject.zooName && calibration ? calibration : undefined,
        shapes: options.shapes,
        modelName: subject.name,
        outDir: join(options.artifactsDir, `${subject.name}-${profile.name}-${MODE_LABEL[mode]}`),
        cache: options.cache ?? true,
        ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
        onEvent: (e) => {
          if (e.kind === 'warning') emit({ kind: 'warning', message: `${profile.name} ${MODE_LABEL[mode]}: ${e.message}` });
          else if (e.kind === 'progress') emit({ kind: 'progress', step: `${e.step}`, done: e.done, total: e.total });
        },
      });
      out.push({ ok: true, variant: artifactVariant(result.artifact.dir, result.manifest), manifest: result.manifest, cached: result.state === 'cached' });
    } catch (err) {
      const reason = String((err as Error).message ?? err).split('\n')[0];
      emit({ kind: 'warning', message: `${profile.name} ${MODE_LABEL[mode]}: not compiled: ${reason}` });
      out.push({ ok: false, mode: MODE_LABEL[mode], reason });
    }
  }
  return out;
}
