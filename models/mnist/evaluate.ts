/**
 * Run the MNIST ONNX model in onnxruntime-node over a set of digits, and score it.
 * Shared by train.ts (to write metrics.json) and the tests (to check the committed model).
 */
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';
import { CLASSES, IMAGE_SIZE, PIXELS, type DigitSet } from './data.js';

export const MNIST_INPUT = 'image';
export const MNIST_OUTPUT = 'probs';

/** Class probabilities (count × 10) for every image of `set`, computed in batches. */
export async function onnxProbabilities(model: string | Uint8Array, set: DigitSet, batch = 500): Promise<Float32Array> {
  const session = await createOrtNodeSession(model, { source: typeof model === 'string' ? model : 'mnist.onnx' });
  try {
    const out = new Float32Array(set.count * CLASSES);
    for (let start = 0; start < set.count; start += batch) {
      const n = Math.min(batch, set.count - start);
      const input = new ort.Tensor('float32', set.images.slice(start * PIXELS, (start + n) * PIXELS), [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
      const result = await session.run({ [MNIST_INPUT]: input });
      out.set(result[MNIST_OUTPUT].data as Float32Array, start * CLASSES);
    }
    return out;
  } finally {
    await session.release();
  }
}

/** Index of the largest of each row of `probs` (count × 10). */
export function argmax(probs: Float32Array): Uint8Array {
  const count = probs.length / CLASSES;
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (probs[i * CLASSES + c] > probs[i * CLASSES + best]) best = c;
    out[i] = best;
  }
  return out;
}

export interface Score {
  correct: number;
  total: number;
  accuracy: number;
}

export function score(probs: Float32Array, labels: Uint8Array): Score {
  const predicted = argmax(probs);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return { correct, total: labels.length, accuracy: correct / labels.length };
}
