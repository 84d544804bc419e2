import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { benchBackend } from '../../src/bench/backends.js';
import { runBench } from '../../src/bench/bench.js';
import { randomFeeds } from '../../src/bench/inputs.js';
import { runInterleaved } from '../../src/bench/runner.js';
import { tinyModel } from './helpers.js';

// Correctness only: tiny models, a handful of rounds. Nothing here asserts that anything is fast.
describe('interleaved runner', () => {
  it('times every variant once per round and returns its first outputs; a broken variant fails alone', async () => {
    const a = tinyModel({ seed: 1 });
    const b = tinyModel({ seed: 2 });
    const feeds = randomFeeds([{ name: 'input', dtype: 'float32', dims: [1, 3, 16, 16] }]);
    const progress: number[] = [];
    const out = await runInterleaved(
      [
        { id: 'a', model: a.path, feeds },
        { id: 'b', model: readFileSync(b.path), feeds },
        { id: 'broken', model: new Uint8Array([1, 2, 3]), feeds },
      ],
      { backend: benchBackend('ort-node'), load: { threads: 1 }, warmup: 1, iterations: 4, onProgress: (done) => progress.push(done) },
    );
    expect(out.map((o) => o.state)).toEqual(['measured', 'measured', 'failed']);
    for (const o of out.slice(0, 2)) {
      if (o.state !== 'measured') throw new Error('unreachable');
      expect(o.samplesMs).toHaveLength(4);
      for (const s of o.samplesMs) expect(s).toBeGreaterThan(0);
      expect(o.loadMs).toBeGreaterThan(0);
      expect(o.firstRunMs).toBeGreaterThan(0);
      expect(o.outputs.output.dims).toEqual([1, 4]);
    }
    expect(out[2].state === 'failed' && out[2].reason).toMatch(/onnxruntime could not load/);
    expect(progress).toEqual([1, 2, 3, 4, 5]);
  });

  it('BAD CALL: zero iterations is a RangeError', async () => {
    await expect(runInterleaved([], { backend: benchBackend('ort-node'), iterations: 0 })).rejects.toThrow(RangeError);
  });
});

describe('runBench on a tiny model compiled for x86_64', () => {
  it('gives sane, positive figures and a speed-up and size ratio for each variant against the original', async () => {
    const { dir, path } = tinyModel({ dynamic: true });
    process.env.KILN_HOME = join(dir, 'home');
    const report = await runBench({
      subject: path,
      targets: ['x86_64'],
      iterations: 4,
      warmup: 1,
      threads: 1,
      artifactsDir: join(dir, 'artifacts'),
      compileCacheDir: join(dir, 'cache'),
    });
    const group = report.groups.find((g) => g.id === 'ort-node-cpu');
    expect(group?.state).toBe('measured');
    if (group?.state !== 'measured') return;
    expect(group.batch).toBe(1);
    expect(group.inputs).toEqual({ input: [1, 3, 16, 16] });
    expect(group.label).toMatch(/^onnxruntime-node \S+ \(cpu\), 1 thread$/);
    // fp32-opt and int8 (or one merged row when the compiler kept int8 in float: identical files are measured once).
    const labels = group.variants.map((v) => v.variant.label);
    expect(labels[0]).toBe('original');
    expect(labels.slice(1).join(' ')).toMatch(/x86_64 fp32-opt/);
    expect(labels.slice(1).join(' ')).toMatch(/x86_64 int8/);
    expect(group.variants.length).toBeGreaterThanOrEqual(2);
    for (const v of group.variants) {
      expect(v.state).toBe('measured');
      if (v.state !== 'measured') continue;
      const l = v.latency;
      expect(l.n).toBe(4);
      expect(l.min).toBeGreaterThan(0);
      expect(l.min).toBeLessThanOrEqual(l.p50);
      expect(l.p50).toBeLessThanOrEqual(l.p90);
      expect(l.p90).toBeLessThanOrEqual(l.p99);
      expect(l.p99).toBeLessThanOrEqual(l.max);
      expect(v.throughput).toBeGreaterThan(0);
      // Cold start and memory from a fresh process per variant.
      expect(v.cold.where).toBe('fresh process');
      expect(v.cold.totalMs).toBeGreaterThan(0);
      expect(v.memory?.peakRssBytes).toBeGreaterThan(10e6);
      expect(v.variant.sizeBytes).toBeGreaterThan(0);
      if (v.variant.role === 'original') {
        expect(v.speedup).toBeUndefined();
        continue;
      }
      expect(v.speedup!.median).toBeGreaterThan(0);
      expect(v.speedup!.pairs).toBe(4);
      expect(v.sizeRatio).toBeGreaterThan(0);
      expect(v.agreement!.cosine).toBeGreaterThan(0.98);
    }
    expect(report.notes.some((n) => /x86_64 int8: compiled/.test(n))).toBe(true);
    expect(report.processPeakRssBytes).toBeGreaterThan(0);
  });

  it('a target this host cannot run is reported as not available, with the reason naming it; the others are measured', async () => {
    const { dir, path } = tinyModel();
    process.env.KILN_HOME = join(dir, 'home');
    const report = await runBench({
      subject: path,
      targets: ['gpu-cuda'],
      iterations: 2,
      warmup: 0,
      coldStart: 'shared',
      artifactsDir: join(dir, 'artifacts'),
      compileCacheDir: join(dir, 'cache'),
      support: { cudaReason: () => 'no CUDA provider installed (test)' },
    });
    expect(report.groups).toHaveLength(1);
    expect(report.groups[0]).toMatchObject({ state: 'unavailable', id: 'gpu-cuda', runtime: 'cuda', reason: 'gpu-cuda: no CUDA provider installed (test)' });
  });
});
