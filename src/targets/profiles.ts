/**
 * Hardware target profiles: one JSON file each in targets/, validated here. A user adds a target by
 * writing a JSON file and passing its path (`--target ./my-board.json`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KilnError } from '../errors.js';
import { closest } from '../suggest.js';

/** The folder of built-in profiles. */
export const BUILTIN_TARGETS_DIR = fileURLToPath(new URL('../../targets/', import.meta.url));

const Int8Settings = z
  .object({
    /** Activation type: uint8 (u8s8, what onnxruntime's x86/ARM int8 kernels fuse best) or int8. */
    activations: z.enum(['uint8', 'int8']),
    weights: z.enum(['int8', 'uint8']),
    /**
     * 7-bit weights: avoids the u8s8 saturation of VPMADDUBSW on x86 CPUs without VNNI. 'auto': decided
     * at compile time from the compiling CPU (full range with AVX-512 VNNI or AVX-VNNI, 7-bit with
     * AVX2 only), recorded in the manifest.
     */
    reduceRange: z.union([z.boolean(), z.literal('auto')]),
    /** Per-output-channel weight scales for Conv/MatMul/Gemm. */
    perChannel: z.boolean(),
    /**
     * Speed decisions in context: starting from the full-int8 model, time the whole model with a region
     * reverted to float (interleaved, repeated, against a noise estimate) and revert only what makes
     * the whole model faster beyond noise, on the target's runtime.
     */
    measurePerNode: z.boolean(),
  })
  .strict();

export const TargetProfileSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lower-case letters, digits, . _ - only'),
    description: z.string().min(1),
    arch: z.enum(['x86_64', 'arm64', 'wasm32']),
    cpu: z
      .object({
        /** CPU features the target is assumed to have; `a|b` means either. Names as in /proc/cpuinfo. */
        features: z.array(z.string()),
        examples: z.array(z.string()).optional(),
      })
      .strict(),
    runtime: z
      .object({
        backend: z.enum(['ort-node', 'ort-web', 'tfjs']),
        executionProviders: z.array(z.enum(['cpu', 'cuda', 'tensorrt', 'wasm', 'webgpu', 'xnnpack'])).min(1),
        /** The graph optimization level the runtime applies when it loads an artifact (artifacts stay portable ONNX). */
        optimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']),
        /** 'portable': standard ONNX operators only (no com.microsoft fused ops). */
        operators: z.enum(['all', 'portable']),
      })
      .strict(),
    /** Intra-op threads at run time (0 = one per core). */
    threads: z.number().int().min(0),
    memoryBudgetMB: z.number().int().positive(),
    numerics: z
      .object({
        fast: z.array(z.enum(['fp32', 'fp16', 'bf16', 'int8'])).min(1),
        int8: Int8Settings,
      })
      .strict(),
    compile: z
      .object({
        quantize: z.enum(['auto', 'int8', 'int8-dynamic', 'fp16', 'none']),
        calibration: z.enum(['minmax', 'percentile', 'entropy']),
        /** Accuracy budget: the lowest acceptable cosine similarity per output. */
        minCosine: z.number().min(0).max(1),
        /** Accuracy budget for classifiers: the largest acceptable drop in top-1 agreement (0.005 = 0.5 points). */
        maxTop1Drop: z.number().min(0).max(1),
      })
      .strict(),
  })
  .strict();

export type TargetProfile = Readonly<z.infer<typeof TargetProfileSchema>>;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Validate parsed JSON as a profile; one KilnError lists every problem. */
export function parseTargetProfile(data: unknown, source: string): TargetProfile {
  const result = TargetProfileSchema.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const where = issue.path.length ? issue.path.join('.') : '(top level)';
      if (issue.code === 'unrecognized_keys') {
        return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'${suggest(k, knownKeys(issue.path))}`).join(', ')}`;
      }
      return `${where}: ${issue.message}`;
    });
    throw new KilnError(
      'BAD_TARGET_PROFILE',
      `${source}: invalid target profile, ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  • ${problems.join('\n  • ')}`,
      {
        hint: `compare with a built-in profile (kiln targets show x86_64)`,
      },
    );
  }
  return deepFreeze(result.data);
}

function knownKeys(path: PropertyKey[]): string[] {
  let schema: z.ZodType = TargetProfileSchema;
  for (const p of path) {
    const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape;
    if (!shape?.[String(p)]) return [];
    schema = shape[String(p)];
  }
  const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape;
  return shape ? Object.keys(shape) : [];
}

/** " (did you mean 'x'?)" when a close candidate exists. */
export function suggest(word: string, candidates: readonly string[]): string {
  const best = closest(word, candidates);
  return best ? ` (did you mean '${best}'?)` : '';
}

/** Names of the built-in profiles. */
export function listBuiltinTargets(dir = BUILTIN_TARGETS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json'))
    .map((f) => basename(f, '.json'))
    .sort();
}

/** Load a profile by built-in name or by path to a JSON file. */
export function loadTarget(nameOrPath: string, dir = BUILTIN_TARGETS_DIR): TargetProfile {
  const isPath = nameOrPath.endsWith('.json') || nameOrPath.includes('/') || nameOrPath.includes('\\');
  const file = isPath ? nameOrPath : join(dir, `${nameOrPath}.json`);
  if (!existsSync(file)) {
    if (isPath) throw new KilnError('FILE_NOT_FOUND', `target file ${nameOrPath} does not exist`);
    const names = listBuiltinTargets(dir);
    throw new KilnError('UNKNOWN_TARGET', `unknown target '${nameOrPath}'${suggest(nameOrPath, names)}`, {
      hint: `built-in targets: ${names.join(', ')}; or pass a profile file (--target ./my-board.json)`,
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new KilnError('BAD_TARGET_PROFILE', `${file}: not valid JSON (${(err as Error).message})`);
  }
  const profile = parseTargetProfile(data, file);
  if (!isPath && profile.name !== nameOrPath) {
    throw new KilnError('BAD_TARGET_PROFILE', `${file}: profile is named '${profile.name}' but its file says '${nameOrPath}'`);
  }
  return profile;
}

export function loadAllTargets(dir = BUILTIN_TARGETS_DIR): TargetProfile[] {
  return listBuiltinTargets(dir).map((n) => loadTarget(n, dir));
}

/** Does a set of host CPU features satisfy the profile's requirements (`a|b` = either)? */
export function missingFeatures(profile: TargetProfile, hostFeatures: ReadonlySet<string>): string[] {
  return profile.cpu.features.filter((req) => !req.split('|').some((f) => hostFeatures.has(f)));
}
