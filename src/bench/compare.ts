/**
 * Turning raw timings into a variant's figures: summary, throughput, speed-up and size against the
 * original measured in the same rounds, and how closely its outputs agree with the original's. Pure.
 */
import { accumulate, figures, newAccumulator } from '../compiler/metrics.js';
import { float16ToNumber } from '../onnx/dtypes.js';
import type { NamedTensors, TensorData } from '../runtime/backend.js';
import { pairedSpeedup, summarize, throughput } from './stats.js';
import type { ColdStart, MemoryFigures, OutputAgreement, VariantResult, VariantSpec } from './types.js';

const asNumbers = (t: TensorData): ArrayLike<number> | undefined => {
  if (t.type === 'float16') return Array.from(t.data as Uint16Array, float16ToNumber);
  if (t.type === 'int64' || t.type === 'uint64' || t.type === 'string') return undefined;
  return t.data as ArrayLike<number>;
};

/** Lowest cosine and largest absolute error over the outputs both runs produced; undefined when none compare. */
export function compareOutputs(reference: NamedTensors, candidate: NamedTensors): OutputAgreement | undefined {
  let cosine = Infinity;
  let maxAbsError = 0;
  for (const [name, ref] of Object.entries(reference)) {
    const cand = candidate[name];
    if (!cand) continue;
    const a = asNumbers(ref);
    const b = asNumbers(cand);
    if (!a || !b || a.length !== b.length) continue;
    const acc = newAccumulator(name, ref.dims);
    accumulate(acc, a, b);
    const f = figures(acc);
    cosine = Math.min(cosine, f.cosine);
    maxAbsError = Math.max(maxAbsError, f.maxAbsError);
  }
  return cosine === Infinity ? undefined : { cosine, maxAbsError };
}

export interface RawVariant {
  variant: VariantSpec;
  samplesMs: number[];
  cold: ColdStart;
  memory?: MemoryFigures;
  agreement?: OutputAgreement;
  hostCheck?: OutputAgreement;
}

/**
 * Figures for every measured variant of a group at `batch`. Speed-ups pair each variant's samples
 * with the original's from the same rounds; without a measured original there are none.
 */
export function variantFigures(raw: readonly RawVariant[], batch: number): Extract<VariantResult, { state: 'measured' }>[] {
  const original = raw.find((r) => r.variant.role === 'original' && r.samplesMs.length > 0);
  return raw
    .filter((r) => r.samplesMs.length > 0)
    .map((r) => {
      const latency = summarize(r.samplesMs);
      const isOriginal = r === original;
      return {
        state: 'measured' as const,
        variant: r.variant,
        latency,
        samplesMs: r.samplesMs,
        throughput: throughput(batch, latency.mean),
        cold: r.cold,
        ...(r.memory ? { memory: r.memory } : {}),
        ...(original && !isOriginal ? { speedup: pairedSpeedup(original.samplesMs, r.samplesMs) } : {}),
        ...(original && !isOriginal && original.variant.sizeBytes > 0 ? { sizeRatio: r.variant.sizeBytes / original.variant.sizeBytes } : {}),
        ...(r.agreement ? { agreement: r.agreement } : {}),
        ...(r.hostCheck ? { hostCheck: r.hostCheck } : {}),
      };
    });
}
