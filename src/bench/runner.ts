/**
 * The interleaved runner: every variant is loaded into the same process, warmed up, then timed in
 * rounds — one iteration of each variant per round, the order rotating from round to round — so
 * that whatever else the machine does at a moment (another process on the shared cores, a CPU
 * frequency change) falls on all variants alike, and sample i of each variant can be paired.
 *
 * A plain loop around `performance.now()`, not tinybench: tinybench runs one task's iterations back
 * to back before the next task's, which cannot interleave variants, and it times async functions
 * through its own promise wrapper that adds overhead comparable to a small model's run.
 */
import type { BackendLoadOptions, InferenceBackend, LoadedModelHandle, NamedTensors } from '../runtime/backend.js';

export interface RunnerVariant {
  id: string;
  /** A path or the model's bytes. */
  model: string | Uint8Array;
  feeds: NamedTensors;
}

export interface InterleavedOptions {
  backend: InferenceBackend;
  load?: BackendLoadOptions;
  /** Untimed runs of each variant after its first. @default 5 */
  warmup?: number;
  /** Timed rounds (one run of each variant per round). @default 30 */
  iterations?: number;
  onProgress?: (done: number, total: number) => void;
}

export type InterleavedOutcome =
  | {
      state: 'measured';
      id: string;
      /** Session creation in this process (the runtime already initialised by earlier variants). */
      loadMs: number;
      firstRunMs: number;
      /** One per round, in round order. */
      samplesMs: number[];
      /** What the first run returned (to compare variants). */
      outputs: NamedTensors;
    }
  | { state: 'failed'; id: string; reason: string };

export const DEFAULT_WARMUP = 5;
export const DEFAULT_ITERATIONS = 30;

const message = (err: unknown): string => String((err as Error)?.message ?? err).split('\n')[0];

/** Measure `variants` side by side. A variant that fails to load or run is reported, the others go on. */
export async function runInterleaved(variants: readonly RunnerVariant[], options: InterleavedOptions): Promise<InterleavedOutcome[]> {
  const warmup = options.warmup ?? DEFAULT_WARMUP;
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`runInterleaved: iterations must be a whole number ≥ 1 (got ${iterations})`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new RangeError(`runInterleaved: warmup must be a whole number ≥ 0 (got ${warmup})`);

  interface Live {
    id: string;
    handle: LoadedModelHandle;
    feeds: NamedTensors;
    loadMs: number;
    firstRunMs: number;
    outputs: NamedTensors;
    samples: number[];
    failed?: string;
  }
  const outcomes = new Map<string, InterleavedOutcome>();
  const live: Live[] = [];
  try {
    for (const v of variants) {
      let handle: LoadedModelHandle | undefined;
      try {
        const t0 = performance.now();
        handle = await options.backend.load(v.model, options.load);
        const t1 = performance.now();
        const outputs = await handle.run(v.feeds);
        const t2 = performance.now();
        live.push({ id: v.id, handle, feeds: v.feeds, loadMs: t1 - t0, firstRunMs: t2 - t1, outputs, samples: [] });
      } catch (err) {
        await handle?.release().catch(() => {});
        outcomes.set(v.id, { state: 'failed', id: v.id, reason: message(err) });
      }
    }
    const total = warmup + iterations;
    let done = 0;
    for (let w = 0; w < warmup; w++) {
      for (const l of live) {
        if (l.failed) continue;
        try {
          await l.handle.run(l.feeds);
        } catch (err) {
          l.failed = message(err);
        }
      }
      options.onProgress?.(++done, total);
    }
    for (let round = 0; round < iterations; round++) {
      const k = live.length;
      for (let j = 0; j < k; j++) {
        const l = live[(round + j) % k];
        if (l.failed) continue;
        try {
          const t = performance.now();
          await l.handle.run(l.feeds);
          l.samples.push(performance.now() - t);
        } catch (err) {
          l.failed = message(err);
        }
      }
      options.onProgress?.(++done, total);
    }
  } finally {
    for (const l of live) await l.handle.release().catch(() => {});
  }
  for (const l of live) {
    outcomes.set(
      l.id,
      l.failed && l.samples.length === 0
        ? { state: 'failed', id: l.id, reason: l.failed }
        : { state: 'measured', id: l.id, loadMs: l.loadMs, firstRunMs: l.firstRunMs, samplesMs: l.samples, outputs: l.outputs },
    );
  }
  return variants.map((v) => outcomes.get(v.id)!);
}
