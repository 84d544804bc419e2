import { describe, expect, it } from 'vitest';
import { AbsHistogram, activationParams, calibratedRange, quantizeWeightsSymmetric, roundHalfEven, RunningRange } from '../../src/compiler/calibration.js';
import { mulberry32 } from '../../src/onnx/random.js';

function gaussian(n: number, seed: number, outliers = 0): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  for (let i = 0; i < outliers; i++) out[i] = 40 + i;
  return out;
}

describe('calibration statistics', () => {
  it('running min/max over batches equals min/max of everything', () => {
    const r = new RunningRange();
    r.update([1, -2, 3]);
    r.update([0.5, 7]);
    expect([r.min, r.max, r.count, r.absMax]).toEqual([-2, 7, 5, 7]);
  });

  it('percentile and entropy clip outliers that minmax keeps', () => {
    const data = gaussian(200_000, 3, 5);
    const r = new RunningRange();
    r.update(data);
    const h = new AbsHistogram(r.absMax);
    h.update(data);
    expect(calibratedRange('minmax', r, h).max).toBeGreaterThan(40);
    const p = calibratedRange('percentile', r, h, 99.99);
    expect(p.max).toBeGreaterThan(3);
    expect(p.max).toBeLessThan(6);
    const e = calibratedRange('entropy', r, h);
    expect(e.max).toBeLessThan(20);
    expect(e.max).toBeGreaterThan(2);
  });

  it('activation params: range includes zero, uint8 from 0 has zero point 0', () => {
    expect(activationParams({ min: 0, max: 6 }, 'uint8')).toEqual({ scale: 6 / 255, zeroPoint: 0 });
    const p = activationParams({ min: -1, max: 3 }, 'uint8');
    expect(p.scale).toBeCloseTo(4 / 255, 12);
    expect(p.zeroPoint).toBe(64);
    expect(activationParams({ min: 2, max: 4 }, 'int8')).toEqual({ scale: 4 / 255, zeroPoint: -128 });
  });

  it('per-channel symmetric weights: each channel uses its own max; reduce range uses 7 bits', () => {
    const w = new Float32Array([1, -2, 0.5, 0.25, 0.1, -0.05]);
    const q = quantizeWeightsSymmetric(w, [2, 3], 0, true, false);
    expect(Array.from(q.scales)).toEqual([Math.fround(2 / 127), Math.fround(0.25 / 127)]);
    expect(Array.from(q.data)).toEqual([64, -127, 32, 127, 51, -25]);
    const r = quantizeWeightsSymmetric(w, [2, 3], 0, false, true);
    expect(r.scales.length).toBe(1);
    expect(Math.max(...Array.from(r.data).map(Math.abs))).toBe(63);
  });

  it('rounds half to even like QuantizeLinear', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2]);
  });
});
