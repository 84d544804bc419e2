import { describe, expect, it } from 'vitest';
import { accumulate, figures, newAccumulator } from '../../src/compiler/metrics.js';

describe('verification figures', () => {
  it('cosine, max and mean abs error, top-1 agreement per row of a [N, classes] output', () => {
    const acc = newAccumulator('logits', [2, 3]);
    accumulate(acc, [1, 5, 2, 9, 1, 0], [1, 4, 3, 8, 1, 2]);
    const f = figures(acc);
    expect(f.maxAbsError).toBe(2);
    expect(f.meanAbsError).toBeCloseTo(5 / 6, 12);
    expect(f.top1Agreement).toBe(1);
    const dot = 1 + 20 + 6 + 72 + 1 + 0;
    expect(f.cosine).toBeCloseTo(dot / Math.sqrt(112 * 95), 12);
    const flip = newAccumulator('logits', [1, 3]);
    accumulate(flip, [1, 5, 4], [1, 4, 5]);
    expect(figures(flip).top1Agreement).toBe(0);
  });

  it('rows whose best two scores tie have no top-1 to agree on', () => {
    const acc = newAccumulator('logits', [2, 3]);
    accumulate(acc, [0.5, 0.5, 0.1, 1, 2, 3], [0.5, 0.49, 0.1, 1, 2, 3]);
    expect(figures(acc).top1Agreement).toBe(1);
    const flat = newAccumulator('logits', [1, 4]);
    accumulate(flat, [2, 2, 2, 2], [2, 2, 2, 2.1]);
    expect(figures(flat).top1Agreement).toBeUndefined();
  });

  it('BAD CALL: outputs of different lengths', () => {
    expect(() => accumulate(newAccumulator('y', [3]), [1, 2, 3], [1, 2])).toThrowError(/output 'y': 2 values, the original gave 3/);
  });
});

describe('top-1 on flat logits', () => {
  it('a constant plus tiny noise has no top-1 to agree on', () => {
    const acc = newAccumulator('logits', [1, 4]);
    accumulate(acc, [100, 100.000001, 100.000002, 100], [100.000002, 100, 100, 100.000001]);
    expect(figures(acc).top1Agreement).toBeUndefined();
    expect(figures(acc).cosine).toBeGreaterThan(0.999999);
  });
});

describe('top-1 per time step', () => {
  it('[N, T, C] probabilities count per step; rank-3 hidden states do not', () => {
    const probs = newAccumulator('ctc', [1, 2, 3]);
    accumulate(probs, [0.7, 0.2, 0.1, 0.1, 0.3, 0.6], [0.6, 0.3, 0.1, 0.5, 0.4, 0.1]);
    expect(figures(probs).top1Agreement).toBe(0.5);
    const hidden = newAccumulator('hidden', [1, 2, 3]);
    accumulate(hidden, [1, -2, 3, 4, 5, -6], [1, -2, 2, 4, 5, -6]);
    expect(figures(hidden).top1Agreement).toBeUndefined();
    const map = newAccumulator('map', [1, 1, 2, 2]);
    accumulate(map, [0.1, 0.9, 0.2, 0.8], [0.1, 0.9, 0.2, 0.8]);
    expect(figures(map).top1Agreement).toBeUndefined();
  });
});
