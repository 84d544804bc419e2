import { describe, expect, it } from 'vitest';
import { mean, pairedSpeedup, percentile, stdev, summarize, throughput } from '../../src/bench/stats.js';

describe('bench stats', () => {
  it('percentiles interpolate linearly between ranks (numpy default)', () => {
    const xs = [15, 20, 35, 40, 50];
    expect(percentile(xs, 0)).toBe(15);
    expect(percentile(xs, 100)).toBe(50);
    expect(percentile(xs, 50)).toBe(35);
    expect(percentile(xs, 40)).toBeCloseTo(29, 12); // numpy.percentile([15,20,35,40,50], 40) == 29.0
    expect(percentile(xs, 90)).toBeCloseTo(46, 12);
    // Unsorted input, even count: the median is the mean of the middle two.
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentile(hundred, 99)).toBeCloseTo(99.01, 10);
    expect(percentile(hundred, 90)).toBeCloseTo(90.1, 10);
    expect(percentile([7], 99)).toBe(7);
  });

  it('summarize gives n, mean, stdev, min, quartiles, p90, p99, max; input left unsorted', () => {
    const xs = [3, 1, 2, 5, 4];
    const s = summarize(xs);
    expect(s).toEqual({ n: 5, mean: 3, stdev: Math.sqrt(2.5), min: 1, p25: 2, p50: 3, p75: 4, p90: 4.6, p99: expect.closeTo(4.96, 10), max: 5 });
    expect(xs).toEqual([3, 1, 2, 5, 4]);
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(stdev([5])).toBe(0);
  });

  it('paired speed-up is the median of per-round ratios, robust to a round where both were slow', () => {
    const base = [10, 10, 40, 10, 10];
    const cand = [5, 5, 20, 5, 5.5];
    const r = pairedSpeedup(base, cand);
    expect(r.median).toBe(2);
    expect(r.pairs).toBe(5);
    expect(r.p10).toBeGreaterThan(1.8);
    expect(r.p90).toBe(2);
    // Uneven lengths pair up to the shorter one.
    expect(pairedSpeedup([4, 4, 4], [2, 2]).pairs).toBe(2);
  });

  it('throughput is items per second of one stream', () => {
    expect(throughput(1, 20)).toBe(50);
    expect(throughput(8, 20)).toBe(400);
    expect(throughput(1, 0)).toBe(0);
  });

  it('BAD CALL: empty samples and percentiles outside 0–100 are RangeErrors', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(/from 0 to 100/);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
    expect(() => summarize([])).toThrow(RangeError);
    expect(() => pairedSpeedup([], [])).toThrow(/no paired samples/);
  });
});
