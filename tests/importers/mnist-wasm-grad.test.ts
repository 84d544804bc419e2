/**
 * The Conv2DBackpropFilter kernel kiln registers so that TF.js's wasm backend can train the MNIST
 * CNN (models/mnist/wasm-conv-grad.ts): its gradients equal the cpu backend's.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmConv2DFilterGrad } from '../../models/mnist/wasm-conv-grad.js';

beforeAll(async () => {
  await tf.ready();
  registerWasmConv2DFilterGrad();
});

function filterGrad(backend: string, k: number, stride: number, pad: 'valid' | 'same'): Float32Array {
  const prev = tf.getBackend();
  tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const x = tf.randomNormal([3, 9, 10, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
      const f0 = tf.randomNormal([k, k, 4, 5], 0, 1, 'float32', 3) as tf.Tensor4D;
      const g = tf.randomNormal(tf.conv2d(x, f0, stride, pad).shape, 0, 1, 'float32', 2);
      return tf
        .grad((f: tf.Tensor) =>
          tf
            .conv2d(x, f as tf.Tensor4D, stride, pad)
            .mul(g)
            .sum(),
        )(f0)
        .dataSync() as Float32Array;
    });
  } finally {
    tf.setBackend(prev);
  }
}

describe('wasm Conv2DBackpropFilter', () => {
  it('is registered', () => {
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it.each([
    [3, 1, 'valid'],
    [3, 1, 'same'],
    [5, 1, 'same'],
    [3, 2, 'same'],
    [2, 2, 'valid'],
    [3, 2, 'valid'],
    [4, 3, 'same'],
  ] as const)('kernel %i, stride %i, %s padding: same gradient as the cpu backend', async (k, stride, pad) => {
    await tf.setBackend('wasm');
    const wasm = filterGrad('wasm', k, stride, pad);
    const cpu = filterGrad('cpu', k, stride, pad);
    expect(wasm.length).toBe(k * k * 4 * 5);
    let maxDiff = 0;
    for (let i = 0; i < cpu.length; i++) maxDiff = Math.max(maxDiff, Math.abs(cpu[i] - wasm[i]));
    expect(maxDiff).toBeLessThanOrEqual(1e-4);
    expect(Math.max(...Array.from(cpu, Math.abs))).toBeGreaterThan(1);
  });
});
