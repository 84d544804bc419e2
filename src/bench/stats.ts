/**
 * Latency statistics: percentiles, summaries and ratios. Pure functions over arrays of milliseconds.
 */

/**
 * The p-th percentile (0–100) of `values`, linearly interpolated between the two nearest ranks
 * (numpy's default 'linear' method: rank = p/100 · (n − 1)). `values` need not be sorted.
 * RangeError for an empty array or p outside 0–100.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile: values is empty');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be from 0 to 100 (got ${p})`);
  const sorted = [...values].sort((a, b) => a - b);
  return percentileSorted(sorted, p);
}

/** percentile() for an already ascending array (no copy). */
export function percentileSorted(sorted: readonly number[], p: number): number {
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export function stdev(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1));
}

/** What a latency distribution is summed up by, in the unit of its samples (ms). */
export interface LatencySummary {
  /** Timed iterations. */
  n: number;
  mean: number;
  stdev: number;
  min: number;
  /** 25th percentile: the bottom of a box plot's box. */
  p25: number;
  p50: number;
  /** 75th percentile: the top of the box. */
  p75: number;
  p90: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): LatencySummary {
  if (values.length === 0) throw new RangeError('summarize: no samples');
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    mean: mean(sorted),
    stdev: stdev(sorted),
    min: sorted[0],
    p25: percentileSorted(sorted, 25),
    p50: percentileSorted(sorted, 50),
    p75: percentileSorted(sorted, 75),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
    max: sorted[sorted.length - 1],
  };
}

/** Items per second for a single stream: batch items every `meanMs`. */
export const throughput = (batch: number, meanMs: number): number => (meanMs > 0 ? (batch * 1000) / meanMs : 0);

/** A ratio measured from paired samples: the median of the per-pair ratios and their 10–90 % spread. */
export interface PairedRatio {
  /** Median of baseline[i] / candidate[i]: > 1 means the candidate is faster. */
  median: number;
  p10: number;
  p90: number;
  /** Pairs used. */
  pairs: number;
}

/**
 * Speed-up of `candidate` over `baseline` from samples taken in the same rounds (sample i of both
 * in round i). Pairing cancels drift that affects both alike (another process taking the core for a
 * while), which is why the runner interleaves the models it compares.
 */
export function pairedSpeedup(baseline: readonly number[], candidate: readonly number[]): PairedRatio {
  const n = Math.min(baseline.length, candidate.length);
  if (n === 0) throw new RangeError('pairedSpeedup: no paired samples');
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) if (candidate[i] > 0) ratios.push(baseline[i] / candidate[i]);
  if (ratios.length === 0) throw new RangeError('pairedSpeedup: every candidate sample is 0');
  ratios.sort((a, b) => a - b);
  return { median: percentileSorted(ratios, 50), p10: percentileSorted(ratios, 10), p90: percentileSorted(ratios, 90), pairs: ratios.length };
}

/** Relative change from `before` to `after` (0.1 = 10 % more); undefined when before is 0. */
export const relativeChange = (before: number, after: number): number | undefined => (before === 0 ? undefined : (after - before) / before);
