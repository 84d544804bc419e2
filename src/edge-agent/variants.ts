/**
 * Production variants of one model on one device, pure parts: weighted A/B routing between kept
 * versions (sticky by a request key when one is given), and the comparison of a shadow version's
 * answer with the serving one (top-1 agreement along the last axis, max abs difference).
 */
import { createHash } from 'node:crypto';
import { outputBucket } from '../protocol/sync.js';
import type { NamedTensors } from '../runtime/backend.js';

export interface VariantConfig {
  /** Version → weight (> 0). Requests without an explicit version are split by these. */
  weights?: Readonly<Record<string, number>>;
  /** A version that gets a copy of each request; its answer is compared, never returned. */
  shadow?: string;
}

/** Check a variant config; returns the problems in words (empty when fine). */
export function variantProblems(model: string, v: unknown): string[] {
  const problems: string[] = [];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return [`variants.${model} must be a mapping with weights and/or shadow`];
  for (const k of Object.keys(v)) if (k !== 'weights' && k !== 'shadow') problems.push(`variants.${model}: unknown key '${k}' (valid: weights, shadow)`);
  const { weights, shadow } = v as Record<string, unknown>;
  if (weights !== undefined) {
    if (typeof weights !== 'object' || weights === null || Array.isArray(weights) || !Object.keys(weights).length)
      problems.push(`variants.${model}.weights must map versions to weights`);
    else {
      // A weight of 0 keeps a version routable by name only (a blue/green stage, a switch-back).
      for (const [ver, w] of Object.entries(weights))
        if (typeof w !== 'number' || !(w >= 0) || !Number.isFinite(w)) problems.push(`variants.${model}.weights.${ver} must be a number ≥ 0`);
      if (!problems.length && !Object.values(weights).some((w) => (w as number) > 0))
        problems.push(`variants.${model}.weights must give at least one version a weight > 0`);
    }
  }
  if (shadow !== undefined && !((typeof shadow === 'string' && shadow) || typeof shadow === 'number'))
    problems.push(`variants.${model}.shadow must be a version`);
  return problems;
}

/** A number in [0, 1) from a key: the same key always lands in the same place. */
export function keyFraction(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * Pick a version by weight. With `key`, the pick is a function of the key (sticky); without, of
 * `random` (a number in [0, 1)).
 */
export function pickVersion(weights: Readonly<Record<string, number>>, key: string | undefined, random: () => number = Math.random): string {
  const entries = Object.entries(weights).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const total = entries.reduce((n, [, w]) => n + w, 0);
  let x = (key !== undefined ? keyFraction(key) : random()) * total;
  for (const [version, w] of entries) {
    if (w > 0 && x < w) return version;
    x -= w;
  }
  return entries.filter(([, w]) => w > 0).at(-1)![0];
}

/** The version most unkeyed requests go to: the heaviest weight (ties by version order), else undefined. */
export function heaviestVersion(weights: Readonly<Record<string, number>>): string | undefined {
  let best: [string, number] | undefined;
  for (const [v, w] of Object.entries(weights).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) if (w > 0 && (!best || w > best[1])) best = [v, w];
  return best?.[0];
}

/** The output histogram buckets (protocol `outputBucket`) of a tensor's rows: what 'metrics.minute' counts in `top1`. */
export function outputBuckets(t: { dims: readonly number[]; data: ArrayLike<number | bigint> } | undefined): number[] {
  if (!t) return [];
  const { classes, width } = top1Classes(t);
  return classes.map((c) => outputBucket(c, width));
}

/** The top-1 class of each row (argmax along the last axis) of a tensor, with the row width. */
export function top1Classes(t: { dims: readonly number[]; data: ArrayLike<number | bigint> }): { classes: number[]; width: number } {
  const width = t.dims.length ? t.dims[t.dims.length - 1] : 1;
  const classes: number[] = [];
  if (!width) return { classes, width };
  for (let r = 0; r < Math.floor(t.data.length / width); r++) {
    let best = 0;
    for (let k = 1; k < width; k++) if (Number(t.data[r * width + k]) > Number(t.data[r * width + best])) best = k;
    classes.push(best);
  }
  return { classes, width };
}

export interface ShadowComparison {
  /** Rows (along all but the last axis) whose argmax agreed, of all rows compared. */
  top1Agree: number;
  rows: number;
  /** Largest |serving − shadow| over every compared element (Infinity on a shape mismatch). */
  maxAbsDiff: number;
}

/** Compare a shadow answer with the serving one, over the outputs both have. */
export function compareOutputs(serving: NamedTensors, shadow: NamedTensors): ShadowComparison {
  let top1Agree = 0;
  let rows = 0;
  let maxAbsDiff = 0;
  for (const [name, a] of Object.entries(serving)) {
    const b = shadow[name];
    if (!b) continue;
    if (a.dims.join('x') !== b.dims.join('x')) {
      maxAbsDiff = Infinity;
      continue;
    }
    const n = a.data.length;
    for (let i = 0; i < n; i++) {
      const d = Math.abs(Number(a.data[i]) - Number(b.data[i]));
      if (d > maxAbsDiff || Number.isNaN(d)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
    }
    const width = a.dims.length ? a.dims[a.dims.length - 1] : 1;
    if (!width) continue;
    for (let r = 0; r < n / width; r++) {
      let ia = 0;
      let ib = 0;
      for (let k = 1; k < width; k++) {
        if (Number(a.data[r * width + k]) > Number(a.data[r * width + ia])) ia = k;
        if (Number(b.data[r * width + k]) > Number(b.data[r * width + ib])) ib = k;
      }
      rows++;
      if (ia === ib) top1Agree++;
    }
  }
  return { top1Agree, rows, maxAbsDiff };
}
