/**
 * Comparing a compiled model's outputs with the original's: pure functions over number arrays.
 */
import type { OutputVerification } from '../protocol/manifest.js';

export interface OutputAccumulator {
  name: string;
  dot: number;
  normA: number;
  normB: number;
  maxAbs: number;
  sumAbs: number;
  count: number;
  top1Same: number;
  top1Total: number;
  /** Number of classes when the output looks like [N, classes] scores; 0 otherwise. */
  classes: number;
  /** Count only rows that are probability distributions (rank-3 outputs: hidden states are not classes). */
  probabilitiesOnly: boolean;
}

export const newAccumulator = (name: string, dims: readonly number[]): OutputAccumulator => ({
  name,
  dot: 0,
  normA: 0,
  normB: 0,
  maxAbs: 0,
  sumAbs: 0,
  count: 0,
  top1Same: 0,
  top1Total: 0,
  // Classifier-like: [N, C] scores, rank-1 scores, or [N, T, C] probabilities per time step (CTC).
  classes:
    dims.length >= 2 && dims.length <= 3 && dims[dims.length - 1] > 1 && dims[dims.length - 1] <= 100_000
      ? dims[dims.length - 1]
      : dims.length === 1 && dims[0] > 1
        ? dims[0]
        : 0,
  probabilitiesOnly: dims.length === 3,
});

const toNum = (v: number | bigint): number => (typeof v === 'bigint' ? Number(v) : v);

/** Add one sample's outputs: `reference` from the original model, `candidate` from the compiled one. */
export function accumulate(acc: OutputAccumulator, reference: ArrayLike<number | bigint>, candidate: ArrayLike<number | bigint>): void {
  if (reference.length !== candidate.length) {
    throw new RangeError(`output '${acc.name}': ${candidate.length} values, the original gave ${reference.length}`);
  }
  for (let i = 0; i < reference.length; i++) {
    const a = toNum(reference[i]);
    const b = toNum(candidate[i]);
    acc.dot += a * b;
    acc.normA += a * a;
    acc.normB += b * b;
    const d = Math.abs(a - b);
    if (d > acc.maxAbs || Number.isNaN(d)) acc.maxAbs = Number.isNaN(d) ? Infinity : d;
    acc.sumAbs += d;
  }
  acc.count += reference.length;
  if (acc.classes > 0) {
    for (let row = 0; row + acc.classes <= reference.length; row += acc.classes) {
      // A row whose best two scores tie (e.g. a random-weight net's flat logits) has no top-1 to agree on.
      if (!hasClearTop1(reference, row, acc.classes)) continue;
      if (acc.probabilitiesOnly && !isDistribution(reference, row, acc.classes)) continue;
      acc.top1Total++;
      if (argmax(reference, row, acc.classes) === argmax(candidate, row, acc.classes)) acc.top1Same++;
    }
  }
}

/**
 * The best score beats the second by more than 1e-4 of the row's spread and of its largest
 * magnitude (a random-weight net's logits are a constant plus noise: no top-1 worth agreeing on).
 */
function hasClearTop1(v: ArrayLike<number | bigint>, start: number, n: number): boolean {
  let first = -Infinity;
  let second = -Infinity;
  let lo = Infinity;
  let magnitude = 0;
  for (let i = start; i < start + n; i++) {
    const x = toNum(v[i]);
    if (x > first) [first, second] = [x, first];
    else if (x > second) second = x;
    if (x < lo) lo = x;
    magnitude = Math.max(magnitude, Math.abs(x));
  }
  const gap = first - second;
  return first - lo > 0 && gap > 1e-4 * (first - lo) && gap > 1e-4 * magnitude;
}

function isDistribution(v: ArrayLike<number | bigint>, start: number, n: number): boolean {
  let sum = 0;
  for (let i = start; i < start + n; i++) {
    const x = toNum(v[i]);
    if (x < 0) return false;
    sum += x;
  }
  return Math.abs(sum - 1) < 1e-3;
}

function argmax(v: ArrayLike<number | bigint>, start: number, n: number): number {
  let best = start;
  for (let i = start + 1; i < start + n; i++) if (toNum(v[i]) > toNum(v[best])) best = i;
  return best - start;
}

/** The figures of one output, as the manifest records them. */
export type OutputFigures = OutputVerification;

export function figures(acc: OutputAccumulator): OutputFigures {
  // Two all-zero outputs agree perfectly.
  const cosine = acc.normA === 0 && acc.normB === 0 ? 1 : acc.dot / (Math.sqrt(acc.normA) * Math.sqrt(acc.normB) || 1);
  return {
    name: acc.name,
    cosine: Number.isFinite(cosine) ? cosine : 0,
    maxAbsError: acc.maxAbs,
    meanAbsError: acc.count ? acc.sumAbs / acc.count : 0,
    ...(acc.top1Total > 0 ? { top1Agreement: acc.top1Same / acc.top1Total } : {}),
  };
}

export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const acc = newAccumulator('', []);
  accumulate(acc, a, b);
  return figures(acc).cosine;
}
