/** Reading zoo model outputs, pure: CTC decoding, argmax, probability-map statistics. */
import type { Box } from './preprocess/image.js';

/** Index and value of the largest element of `values[start, start + length)`. */
export function argmax(values: ArrayLike<number>, start = 0, length = values.length - start): { index: number; value: number } {
  if (length <= 0) throw new RangeError('argmax: empty range');
  let index = 0;
  let value = values[start];
  for (let k = 1; k < length; k++) {
    const v = values[start + k];
    if (v > value) {
      value = v;
      index = k;
    }
  }
  return { index, value };
}

export interface CtcResult {
  text: string;
  /** Mean probability of the emitted characters (0 when none). */
  confidence: number;
}

/**
 * Greedy CTC: per time step take the most likely class, merge repeats, drop the blank, map the rest
 * through `labels`. `probs` is [T, C] or [1, T, C] row-major (softmax outputs).
 */
export function ctcGreedyDecode(probs: ArrayLike<number>, dims: readonly number[], labels: readonly string[], blankIndex = 0): CtcResult {
  const [T, C] = dims.length === 3 ? (dims[0] === 1 ? [dims[1], dims[2]] : [NaN, NaN]) : dims.length === 2 ? [dims[0], dims[1]] : [NaN, NaN];
  if (!Number.isInteger(T) || !Number.isInteger(C)) throw new RangeError(`ctcGreedyDecode: dims must be [T, C] or [1, T, C] (got [${dims.join(', ')}])`);
  if (probs.length !== T * C) throw new RangeError(`ctcGreedyDecode: ${probs.length} values do not fill [${T}, ${C}]`);
  if (labels.length !== C) throw new RangeError(`ctcGreedyDecode: ${labels.length} labels for ${C} classes`);
  let text = '';
  let sum = 0;
  let count = 0;
  let prev = -1;
  for (let t = 0; t < T; t++) {
    const { index, value } = argmax(probs, t * C, C);
    if (index !== prev && index !== blankIndex) {
      text += labels[index];
      sum += value;
      count++;
    }
    prev = index;
  }
  return { text, confidence: count ? sum / count : 0 };
}

export interface MapStats {
  max: number;
  mean: number;
  count: number;
}

/** Max and mean of a [H, W] (or [1, 1, H, W]) map inside `box`, or outside it when `outside` is set. */
export function mapStats(map: ArrayLike<number>, width: number, height: number, box: Box, outside = false): MapStats {
  if (map.length !== width * height) throw new RangeError(`mapStats: ${map.length} values for a ${width}×${height} map`);
  let max = -Infinity;
  let sum = 0;
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1;
      if (inside === outside) continue;
      const v = map[y * width + x];
      if (v > max) max = v;
      sum += v;
      count++;
    }
  }
  return { max: count ? max : NaN, mean: count ? sum / count : NaN, count };
}
