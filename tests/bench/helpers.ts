import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCnn } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/model.js';
import { summarize } from '../../src/bench/stats.js';
import type { BenchReport, GroupResult, VariantResult, VariantSpec } from '../../src/bench/types.js';

export const tempDir = (prefix = 'kiln-bench-test-'): string => mkdtempSync(join(tmpdir(), prefix));

/** A tiny CNN saved to a temp folder; `dynamic` makes its batch dim symbolic. */
export function tinyModel(options: { dynamic?: boolean; dir?: string; seed?: number } = {}): { dir: string; path: string } {
  const dir = options.dir ?? tempDir();
  const path = join(dir, 'tiny.onnx');
  saveModel(buildCnn({ inputShape: [options.dynamic ? 'N' : 1, 3, 16, 16], channels: [4], classes: 4, seed: options.seed ?? 0 }), path);
  return { dir, path };
}

const spec = (id: string, quantization: VariantSpec['quantization'], sizeBytes: number): VariantSpec => ({
  id,
  label: id === 'original' ? 'original' : id.replace('/', ' '),
  role: id === 'original' ? 'original' : 'compiled',
  quantization,
  modelPath: `/models/${id}.onnx`,
  sizeBytes,
  ...(id === 'original' ? {} : { target: id.split('/')[0] }),
});

function measured(id: string, quantization: VariantSpec['quantization'], sizeBytes: number, samples: number[], baseline?: number[]): VariantResult {
  const latency = summarize(samples);
  return {
    state: 'measured',
    variant: spec(id, quantization, sizeBytes),
    latency,
    samplesMs: samples,
    throughput: 1000 / latency.mean,
    cold: { where: 'fresh process', importMs: 30, loadMs: 40, firstRunMs: 10, totalMs: 50 },
    memory: { peakRssBytes: 120e6, modelRssBytes: 20e6 },
    ...(baseline
      ? {
          speedup: { median: baseline[0] / samples[0], p10: 1.5, p90: 2.5, pairs: samples.length },
          sizeRatio: sizeBytes / 4_000_000,
          agreement: { cosine: 0.9995, maxAbsError: 0.01 },
        }
      : {}),
  };
}

/** A made-up report with two measured groups and one unavailable one (no runtime needed). */
export function syntheticReport(overrides: Partial<BenchReport> = {}, p50Scale = 1): BenchReport {
  const orig = [10, 11, 12, 10.5, 30].map((x) => x * p50Scale);
  const int8 = [5, 5.5, 6, 5.2, 9].map((x) => x * p50Scale);
  const native: GroupResult = {
    state: 'measured',
    id: 'ort-node-cpu',
    runtime: 'ort-node',
    label: 'onnxruntime-node 1.30.0 (cpu), default threads',
    emulated: false,
    batch: 1,
    inputs: { x: [1, 3, 320, 320] },
    variants: [
      measured('original', 'source', 4_000_000, orig),
      measured(
        'x86_64/fp32-opt',
        'none',
        3_900_000,
        orig.map((x) => x * 0.95),
        orig,
      ),
      measured('x86_64/int8', 'int8', 1_100_000, int8, orig),
      { state: 'failed', variant: spec('x86_64/fp16', 'fp16', 0), reason: 'not compiled: fp16 <not> in this build' },
    ],
    notes: ['cold start: a fresh process per variant'],
  };
  const wasm: GroupResult = {
    state: 'measured',
    id: 'chromium',
    runtime: 'chromium',
    label: 'onnxruntime-web 1.30.0 (wasm) in Chromium 156, 1 thread',
    emulated: false,
    batch: 1,
    inputs: { x: [1, 3, 320, 320] },
    variants: [
      measured(
        'original',
        'source',
        4_000_000,
        orig.map((x) => x * 4),
      ),
      measured(
        'wasm/int8',
        'int8',
        1_100_000,
        int8.map((x) => x * 5),
        orig.map((x) => x * 4),
      ),
    ],
    notes: [],
  };
  const cuda: GroupResult = {
    state: 'unavailable',
    id: 'gpu-cuda',
    runtime: 'cuda',
    label: 'gpu-cuda',
    batch: 0,
    reason: 'gpu-cuda: no CUDA provider installed',
    variants: [],
  };
  return {
    kind: 'kiln-bench',
    schemaVersion: 1,
    runId: 'tiny-20260101-120000',
    createdAt: '2026-01-01T12:00:00.000Z',
    model: { name: 'tiny', source: 'zoo:tiny', sha256: 'a'.repeat(64), sizeBytes: 4_000_000 },
    host: { cpu: 'Test CPU', cores: 2, arch: 'x64', platform: 'linux', memoryBytes: 8e9, node: '20.0.0', runtimes: { 'onnxruntime-node': '1.30.0' } },
    settings: { iterations: 5, warmup: 1, batches: [1], shapes: { x: [1, 3, 320, 320] }, timing: 'own loop' },
    groups: [native, wasm, cuda],
    notes: ['x86_64 int8: compiled'],
    processPeakRssBytes: 300e6,
    seconds: 12.5,
    ...overrides,
  };
}
