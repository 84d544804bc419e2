import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileModel } from '../../src/compiler/compile.js';
import { memorySource } from '../../src/compiler/io-spec.js';
import type { Sample } from '../../src/compiler/quantize/calibrate.js';
import { IMAGE_SIZE, PIXELS, splitMnist, subset } from '../../models/mnist/data.js';
import { onnxProbabilities, score } from '../../models/mnist/evaluate.js';
import { tempDir } from './helpers.js';

describe('int8 MNIST: accuracy on the 2,000 held-out digits', () => {
  it('every Conv/Gemm in int8, test accuracy within 0.5 points of fp32', async () => {
    const dir = tempDir('kiln-mnist-');
    process.env.KILN_HOME = join(dir, 'home');
    const { train, test } = splitMnist();
    const picked = subset(
      train,
      Array.from({ length: 128 }, (_, i) => Math.floor((i * train.count) / 128)),
    );
    const samples: Sample[] = Array.from({ length: picked.count }, (_, i) => ({
      image: { type: 'float32', dims: [1, IMAGE_SIZE, IMAGE_SIZE, 1], data: picked.images.slice(i * PIXELS, (i + 1) * PIXELS) },
    }));
    const res = await compileModel('models/mnist/mnist.onnx', {
      target: 'x86_64',
      quantize: 'int8',
      measurePerNode: false,
      calibrationData: memorySource('mnist training digits', samples),
      outDir: join(dir, 'mnist'),
      cacheDir: join(dir, 'cache'),
    });
    expect(res.manifest.quantization.excludedNodes).toEqual([]);
    expect(res.manifest.sizes.artifactBytes / res.manifest.sizes.sourceBytes).toBeLessThan(0.3);
    const fp32 = score(await onnxProbabilities('models/mnist/mnist.onnx', test), test.labels);
    const int8 = score(await onnxProbabilities(readFileSync(join(res.artifact.dir, 'model.onnx')), test), test.labels);
    expect(fp32.accuracy).toBeGreaterThanOrEqual(0.98);
    expect(Math.abs(int8.accuracy - fp32.accuracy)).toBeLessThanOrEqual(0.005);
  });
});
