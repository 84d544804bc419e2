/**
 * Calibration statistics and quantization parameters. Pure math over Float32Arrays.
 *
 * Memory stays bounded however many samples are seen: a tensor's statistics are a running min/max
 * and, for Percentile and Entropy, a fixed-size histogram of |x| over [0, absMax] filled in a second
 * pass once the ranges from the first pass are known.
 */

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

export class RunningRange {
  min = Infinity;
  max = -Infinity;
  count = 0;

  update(data: ArrayLike<number>): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
    this.count += data.length;
  }

  get absMax(): number {
    return Math.max(Math.abs(this.min), Math.abs(this.max));
  }
}

/** Histogram of |x| over [0, absMax] in `bins` equal bins; values beyond absMax land in the last bin. */
export class AbsHistogram {
  readonly counts: Float64Array;
  readonly binWidth: number;

  constructor(
    readonly absMax: number,
    readonly bins = 2048,
  ) {
    this.counts = new Float64Array(bins);
    this.binWidth = absMax > 0 ? absMax / bins : 1;
  }

  update(data: ArrayLike<number>): void {
    const scale = 1 / this.binWidth;
    const last = this.bins - 1;
    const counts = this.counts;
    for (let i = 0; i < data.length; i++) {
      let b = (Math.abs(data[i]) * scale) | 0;
      if (b > last) b = last;
      counts[b]++;
    }
  }

  /** The |x| below which `percentile`% of the values fall. */
  percentile(percentile: number): number {
    const total = this.counts.reduce((a, b) => a + b, 0);
    if (total === 0) return 0;
    const target = (total * percentile) / 100;
    let acc = 0;
    for (let i = 0; i < this.bins; i++) {
      acc += this.counts[i];
      if (acc >= target) return (i + 1) * this.binWidth;
    }
    return this.absMax;
  }

  /**
   * The clipping threshold that minimises KL(P‖Q) between the histogram P clipped at the threshold
   * and its quantization Q into `levels` levels (the TensorRT entropy calibration method).
   */
  entropyThreshold(levels = 128): number {
    const hist = this.counts;
    const n = this.bins;
    if (n <= levels) return this.absMax;
    let bestKl = Infinity;
    let bestI = n;
    // Try thresholds in steps so that this stays fast with 2048 bins.
    const step = Math.max(1, Math.floor((n - levels) / 256));
    for (let i = levels; i <= n; i += step) {
      const p = new Float64Array(i);
      for (let j = 0; j < i; j++) p[j] = hist[j];
      let outliers = 0;
      for (let j = i; j < n; j++) outliers += hist[j];
      p[i - 1] += outliers;
      // Q: merge i bins into `levels` groups, spread each group's mass over its non-empty bins.
      const q = new Float64Array(i);
      const per = i / levels;
      for (let g = 0; g < levels; g++) {
        const start = Math.floor(g * per);
        const end = g === levels - 1 ? i : Math.floor((g + 1) * per);
        let mass = 0;
        let nonEmpty = 0;
        for (let j = start; j < end; j++) {
          mass += hist[j];
          if (hist[j] > 0) nonEmpty++;
        }
        if (g === levels - 1) {
          for (let j = start; j < end; j++) if (hist[j] === 0 && p[j] > 0) nonEmpty++;
          mass += outliers;
        }
        if (nonEmpty === 0) continue;
        for (let j = start; j < end; j++) if (p[j] > 0) q[j] = mass / nonEmpty;
      }
      const kl = klDivergence(p, q);
      if (kl < bestKl) {
        bestKl = kl;
        bestI = i;
      }
    }
    return Math.min(this.absMax, (bestI + 0.5) * this.binWidth);
  }
}

function klDivergence(p: Float64Array, q: Float64Array): number {
  let ps = 0;
  let qs = 0;
  for (let i = 0; i < p.length; i++) {
    ps += p[i];
    qs += q[i];
  }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    const pi = p[i] / ps;
    const qi = q[i] / qs;
    kl += qi === 0 ? pi * 20 : pi * Math.log(pi / qi);
  }
  return kl;
}

export interface Range {
  min: number;
  max: number;
}

/** The activation range a method picks from the first-pass range and (for percentile/entropy) the histogram. */
export function calibratedRange(method: CalibrationMethod, range: RunningRange, hist?: AbsHistogram, percentile = 99.999): Range {
  if (!Number.isFinite(range.min)) return { min: 0, max: 0 };
  if (method === 'minmax' || !hist) return { min: range.min, max: range.max };
  const levels = range.min >= 0 ? 256 : 128;
  const t = method === 'percentile' ? hist.percentile(percentile) : hist.entropyThreshold(levels);
  return { min: Math.max(range.min, -t), max: Math.min(range.max, t) };
}

export interface QuantParams {
  scale: number;
  zeroPoint: number;
}

/** Affine parameters for a range in uint8 [0, 255] or int8 [-128, 127]; the range always includes 0. */
export function activationParams(range: Range, dtype: 'uint8' | 'int8'): QuantParams {
  const lo = Math.min(range.min, 0);
  const hi = Math.max(range.max, 0);
  const [qmin, qmax] = dtype === 'uint8' ? [0, 255] : [-128, 127];
  const span = hi - lo;
  if (span <= 0) return { scale: 1, zeroPoint: dtype === 'uint8' ? 0 : 0 };
  const scale = span / (qmax - qmin);
  let zp = Math.round(qmin - lo / scale);
  zp = Math.max(qmin, Math.min(qmax, zp));
  return { scale, zeroPoint: zp };
}

export interface QuantizedWeights {
  data: Int8Array;
  /** One scale per channel (or one for per-tensor). */
  scales: Float32Array;
}

/**
 * Symmetric int8 weight quantization, per output channel along `axis` (or per tensor with
 * perChannel false). reduceRange uses 7 bits ([-64, 63]) to avoid u8s8 saturation without VNNI.
 */
export function quantizeWeightsSymmetric(w: Float32Array, dims: readonly number[], axis: number, perChannel: boolean, reduceRange: boolean): QuantizedWeights {
  const qmax = reduceRange ? 63 : 127;
  const channels = perChannel ? dims[axis] : 1;
  const inner = perChannel ? dims.slice(axis + 1).reduce((a, b) => a * b, 1) : w.length;
  const outer = perChannel ? dims.slice(0, axis).reduce((a, b) => a * b, 1) : 1;
  const scales = new Float32Array(channels);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      let m = scales[c];
      for (let k = 0; k < inner; k++) m = Math.max(m, Math.abs(w[base + k]));
      scales[c] = m;
    }
  for (let c = 0; c < channels; c++) scales[c] = scales[c] > 0 ? scales[c] / qmax : 1;
  const data = new Int8Array(w.length);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      const inv = 1 / scales[c];
      for (let k = 0; k < inner; k++) data[base + k] = Math.max(-qmax - 1, Math.min(qmax, Math.round(w[base + k] * inv)));
    }
  return { data, scales };
}

/** Round half to even, as QuantizeLinear does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
