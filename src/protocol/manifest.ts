/**
 * The artifact manifest: what a compiled artifact is, where it came from, how it was quantized and
 * verified. The compiler writes it, the cloud registry indexes it, the agent checks it before it
 * installs an artifact. Versioned: readers accept `schemaVersion` ≤ MANIFEST_SCHEMA_VERSION.
 */
import { z } from 'zod';

export const MANIFEST_SCHEMA_VERSION = 1;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex sha256');

export const TensorSpecSchema = z
  .object({
    name: z.string(),
    /** onnxruntime-style dtype name: float32, int64, float16, uint8, ... */
    dtype: z.string(),
    /** Dimensions; symbolic ones as strings (e.g. 'batch'). */
    shape: z.array(z.union([z.number().int(), z.string()])),
  })
  .strict();
export type TensorSpec = z.infer<typeof TensorSpecSchema>;

export const OutputVerificationSchema = z
  .object({
    name: z.string(),
    cosine: z.number(),
    maxAbsError: z.number(),
    meanAbsError: z.number(),
    /** For classifier-like outputs ([N, classes]): share of samples whose argmax agrees. */
    top1Agreement: z.number().optional(),
  })
  .strict();
/** One output's figures, compiled against the original: what the compiler measures and the registry keeps. */
export type OutputVerification = z.infer<typeof OutputVerificationSchema>;

export const VerificationSchema = z
  .object({
    /** The runtime that ran both models, e.g. 'onnxruntime-node 1.30.0 (cpu)'; null when none could run here. */
    runtime: z.string().nullable(),
    /** Why no runtime verified the artifact (e.g. 'no CUDA provider on the compiling host'). */
    skippedReason: z.string().optional(),
    /**
     * How the runtime was run, where that is not plain (e.g. the arm64 runtime under qemu emulation on
     * an x86-64 host, with how many of the evaluation samples it verified).
     */
    note: z.string().optional(),
    samples: z.number().int().min(0),
    /** Where the evaluation inputs came from ('calibration hold-out', 'zoo samples', 'random'). */
    inputs: z.string(),
    outputs: z.array(OutputVerificationSchema),
    budget: z.object({ minCosine: z.number(), maxTop1Drop: z.number() }).strict(),
    passed: z.boolean(),
  })
  .strict();
export type Verification = z.infer<typeof VerificationSchema>;

export const SpeedDecisionSchema = z
  .object({
    /** What was tried in float, e.g. 'Mul with a broadcast input (16 nodes)'. */
    region: z.string(),
    nodes: z.array(z.string()),
    /** Whole-model median latency with the region in int8 / in float (ms). */
    int8Ms: z.number(),
    floatMs: z.number(),
    /** floatMs / int8Ms per round; below 1 means float is faster. */
    ratios: z.array(z.number()),
    /** The relative difference two identical models showed in the same rounds. */
    noise: z.number(),
    decision: z.enum(['float', 'int8', 'undecided']),
    why: z.string(),
  })
  .strict();
export type SpeedDecision = z.infer<typeof SpeedDecisionSchema>;

export const QuantizationSchema = z
  .object({
    mode: z.enum(['none', 'int8', 'int8-dynamic', 'fp16']),
    reason: z.string(),
    activations: z.enum(['uint8', 'int8']).optional(),
    weights: z.enum(['int8', 'uint8']).optional(),
    reduceRange: z.boolean().optional(),
    perChannel: z.boolean().optional(),
    calibration: z
      .object({ method: z.enum(['minmax', 'percentile', 'entropy']), samples: z.number().int(), source: z.string() })
      .strict()
      .optional(),
    /** Nodes quantized / kept in float, and why each excluded one was kept. */
    quantizedNodes: z.number().int().min(0),
    excludedNodes: z.array(z.object({ name: z.string(), opType: z.string(), reason: z.string() }).strict()),
    /** The compiling CPU the int8 settings were tuned to (a profile's `reduceRange: 'auto'`). */
    tuning: z
      .object({ cpu: z.string(), int8Kernel: z.enum(['vnni', 'avx2', 'none']), reduceRange: z.boolean(), note: z.string() })
      .strict()
      .optional(),
    /**
     * Speed decisions made in context: each region of the full-int8 model tried in float, the whole
     * model timed both ways (medians of interleaved rounds), and what was decided.
     */
    decisions: z.array(SpeedDecisionSchema).optional(),
  })
  .strict();

export const ArtifactManifestSchema = z
  .object({
    schemaVersion: z.number().int().min(1),
    kind: z.literal('kiln-artifact'),
    model: z.object({ name: z.string().min(1), version: z.string().min(1) }).strict(),
    source: z
      .object({
        file: z.string(),
        sha256: Sha256,
        sizeBytes: z.number().int(),
        irVersion: z.number().int(),
        opsets: z.record(z.string(), z.number().int()),
      })
      .strict(),
    target: z
      .object({
        name: z.string(),
        arch: z.string(),
        backend: z.string(),
        executionProviders: z.array(z.string()),
        /** sha256 of the target profile's canonical JSON, so a changed profile is a changed artifact. */
        profileSha256: Sha256,
      })
      .strict(),
    inputs: z.array(TensorSpecSchema),
    outputs: z.array(TensorSpecSchema),
    quantization: QuantizationSchema,
    optimization: z.object({ passes: z.array(z.object({ name: z.string(), changed: z.number().int() }).strict()), runtimeLevel: z.string() }).strict(),
    verification: VerificationSchema,
    sizes: z.object({ sourceBytes: z.number().int(), artifactBytes: z.number().int() }).strict(),
    /** Median latency at compile time, float (optimized) vs compiled, interleaved on the target's runtime. Absent where it does not run here. */
    performance: z
      .object({
        runtime: z.string(),
        floatMs: z.number(),
        compiledMs: z.number(),
        speedup: z.number(),
        /** The plain full-int8 QDQ graph kiln builds as its baseline, timed in the same rounds. */
        plainMs: z.number().optional(),
        /** Which model shipped: kiln's, the plain QDQ (kiln's was not faster), or float (neither was). */
        shipped: z.enum(['kiln', 'plain', 'float']).optional(),
        note: z.string(),
      })
      .strict()
      .optional(),
    files: z.record(z.string(), z.object({ sha256: Sha256, sizeBytes: z.number().int() }).strict()),
    build: z
      .object({
        kilnVersion: z.string(),
        onnxruntimeVersion: z.string(),
        compileSeconds: z.number(),
        createdAt: z.string(),
        /** Content address of (source model, profile, options): the compile cache key. */
        cacheKey: Sha256,
      })
      .strict(),
  })
  .strict();

export type ArtifactManifest = z.infer<typeof ArtifactManifestSchema>;

export interface ManifestProblem {
  path: string;
  message: string;
}

/** Validate a parsed manifest; returns the problems instead of throwing (callers decide the error). */
export function checkManifest(data: unknown): { ok: true; manifest: ArtifactManifest } | { ok: false; problems: ManifestProblem[] } {
  const result = ArtifactManifestSchema.safeParse(data);
  if (result.success) {
    if (result.data.schemaVersion > MANIFEST_SCHEMA_VERSION) {
      return {
        ok: false,
        problems: [{ path: 'schemaVersion', message: `version ${result.data.schemaVersion} is newer than this kiln reads (≤ ${MANIFEST_SCHEMA_VERSION})` }],
      };
    }
    return { ok: true, manifest: result.data };
  }
  return { ok: false, problems: result.error.issues.map((i) => ({ path: i.path.join('.') || '(top level)', message: i.message })) };
}
