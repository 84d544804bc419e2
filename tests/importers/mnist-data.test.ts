/**
 * kiln's train/test split of the `mnist` package's digits (models/mnist/data.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDigits, mulberry32, SPLIT, splitMnist, type DigitImages, type MnistSplit } from '../../models/mnist/data.js';

let digits: DigitImages[];
let split: MnistSplit;

beforeAll(() => {
  digits = loadDigits();
  split = splitMnist(digits);
});

describe('the MNIST split', () => {
  it('holds all 10,000 digits once: 8,000 train and 2,000 test, disjoint', () => {
    expect(digits.reduce((a, d) => a + d.count, 0)).toBe(10000);
    expect(split.train.count).toBe(8000);
    expect(split.test.count).toBe(2000);
    const all = new Set([...split.train.ids, ...split.test.ids]);
    expect(all.size).toBe(10000);
  });

  it('is stratified: round(20 %) of each digit is test, and labels match the ids', () => {
    expect(split.testPerDigit).toEqual(digits.map((d) => Math.round(d.count * SPLIT.testFraction)));
    for (let d = 0; d < 10; d++) {
      const n = split.test.labels.filter((l) => l === d).length;
      expect(n).toBe(split.testPerDigit[d]);
    }
    split.test.ids.forEach((id, i) => expect(Number(id.split(':')[0])).toBe(split.test.labels[i]));
  });

  it('copies the right pixels for each id', () => {
    for (const k of [0, 777, 1999]) {
      const [d, index] = split.test.ids[k].split(':').map(Number);
      expect(split.test.images.subarray(k * 784, (k + 1) * 784)).toEqual(digits[d].pixels.subarray(index * 784, (index + 1) * 784));
    }
  });

  it('is deterministic for a seed and changes with it', () => {
    expect(splitMnist(digits).testIdsSha256).toBe(split.testIdsSha256);
    expect(splitMnist(digits, { ...SPLIT, seed: SPLIT.seed + 1 }).testIdsSha256).not.toBe(split.testIdsSha256);
  });

  it('mulberry32 is seeded and stays in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(990);
  });
});
