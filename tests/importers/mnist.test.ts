/**
 * The committed MNIST model (models/mnist/mnist.onnx, trained here with TF.js and converted by kiln's
 * TF.js importer): its accuracy on the held-out digits, measured here with onnxruntime-node, and
 * what metrics.json says about it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/model.js';
import { splitMnist, type MnistSplit } from '../../models/mnist/data.js';
import { MNIST_INPUT, MNIST_OUTPUT, onnxProbabilities, score } from '../../models/mnist/evaluate.js';

const ONNX = new URL('../../models/mnist/mnist.onnx', import.meta.url).pathname;
const METRICS = new URL('../../models/mnist/metrics.json', import.meta.url).pathname;

let split: MnistSplit;
let metrics: {
  sha256: string;
  bytes: number;
  data: { split: { testIdsSha256: string } };
  test: { onnx: { correct: number; total: number; accuracy: number } };
};

beforeAll(() => {
  split = splitMnist();
  metrics = JSON.parse(readFileSync(METRICS, 'utf8'));
});

describe('models/mnist/mnist.onnx', () => {
  it('is the file metrics.json describes, and small', () => {
    const bytes = readFileSync(ONNX);
    expect(bytes.byteLength).toBeLessThan(1024 * 1024);
    expect(bytes.byteLength).toBe(metrics.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(metrics.sha256);
  });

  it('takes image [batch, 28, 28, 1] and gives probs [batch, 10], opset 13, made by kiln', () => {
    const model = loadModel(ONNX);
    const dims = (v: { type?: { tensorType?: { shape?: { dim: { dimValue?: number; dimParam?: string }[] } } } }) =>
      v.type!.tensorType!.shape!.dim.map((d) => d.dimValue ?? d.dimParam);
    expect(model.graph!.input.map((v) => v.name)).toEqual([MNIST_INPUT]);
    expect(dims(model.graph!.input[0])).toEqual(['batch', 28, 28, 1]);
    expect(model.graph!.output.map((v) => v.name)).toEqual([MNIST_OUTPUT]);
    expect(dims(model.graph!.output[0])).toEqual(['batch', 10]);
    expect(model.producerName).toBe('kiln');
    expect(model.opsetImport).toEqual([{ domain: '', version: 13 }]);
  });

  it('scores ≥ 98 % on the 2,000 held-out digits in onnxruntime-node, as metrics.json records', async () => {
    // The split the model was evaluated on is the one this code makes.
    expect(split.testIdsSha256).toBe(metrics.data.split.testIdsSha256);
    const probs = await onnxProbabilities(ONNX, split.test);
    const s = score(probs, split.test.labels);
    expect(s.total).toBe(2000);
    expect(s.accuracy).toBeGreaterThanOrEqual(0.98);
    // Same count as recorded, give or take one digit (a near tie could flip on another CPU's float rounding).
    expect(Math.abs(s.correct - metrics.test.onnx.correct)).toBeLessThanOrEqual(1);
    // Probabilities: rows sum to 1.
    for (let i = 0; i < 10; i++) {
      const row = probs.subarray(i * 10, i * 10 + 10).reduce((a, b) => a + b, 0);
      expect(row).toBeCloseTo(1, 5);
    }
  });
});
