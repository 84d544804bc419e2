/** The seeded PRNG behind test models: reproducible, in range, roughly the right distribution. */
import { describe, expect, it } from 'vitest';
import { mulberry32, Rng } from '../../src/onnx/random.js';

describe('Rng', () => {
  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const a = new Rng(42).normalArray(100);
    const b = new Rng(42).normalArray(100);
    const c = new Rng(43).normalArray(100);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('mulberry32 stays in [0, 1) and does not repeat over 100k draws', () => {
    const next = mulberry32(7);
    const seen = new Set<number>();
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const v = next();
      if (!(v >= 0 && v < 1)) outside++;
      seen.add(v);
    }
    expect(outside).toBe(0);
    expect(seen.size).toBeGreaterThan(99_990);
  });

  it('uniform and int stay within their bounds and cover them', () => {
    const rng = new Rng(1);
    const ints = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const u = rng.uniform(-2, 3);
      expect(u).toBeGreaterThanOrEqual(-2);
      expect(u).toBeLessThan(3);
      ints.add(rng.int(1, 6));
    }
    expect([...ints].sort()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('normal has the asked mean and standard deviation (50k samples)', () => {
    const xs = new Rng(3).normalArray(50_000, 2, 0.5);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    expect(Math.abs(mean - 2)).toBeLessThan(0.01);
    expect(Math.abs(std - 0.5)).toBeLessThan(0.01);
    // Tails: about 4.6% beyond 2σ.
    const beyond = xs.filter((x) => Math.abs(x - 2) > 1).length / xs.length;
    expect(beyond).toBeGreaterThan(0.04);
    expect(beyond).toBeLessThan(0.052);
  });

  it('refuses a seed that is not a finite number', () => {
    expect(() => new Rng(NaN)).toThrow(RangeError);
  });
});
