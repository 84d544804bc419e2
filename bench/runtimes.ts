/**
 * Bench suite 2: one network, every runtime kiln supports — onnxruntime-node (CPU), onnxruntime-web
 * (WASM in Node, and in headless Chromium) and TensorFlow.js (wasm backend), the peer a web
 * developer would otherwise pick. The network is a small MobileNet-style CNN built in TF.js with
 * seeded random weights, converted to ONNX by kiln's importer, so every runtime runs the same maths.
 *
 *   npx tsx bench/runtimes.ts [--iterations 40] [--size 128]
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { convertTfjsModel, tfjsDirectory } from '../src/importers/tfjs.js';
import { serializeModel } from '../src/onnx/model.js';
import { getBackend } from '../src/runtime/registry.js';
import type { NamedTensors } from '../src/runtime/backend.js';
import { runInterleaved } from '../src/bench/runner.js';
import { runBrowserBench } from '../src/bench/browser.js';
import { CHROMIUM_MISSING, findChromium } from '../src/bench/chromium.js';
import { summarize } from '../src/bench/stats.js';
import { table } from '../src/format.js';

const RESULTS = 'bench/results';

export interface RuntimeRow {
  runtime: string;
  p50Ms?: number;
  p90Ms?: number;
  loadMs?: number;
  /** ort-node p50 ÷ this p50: above 1 is faster than onnxruntime-node. */
  vsOrtNode?: number;
  maxAbsDiff?: number;
  note?: string;
}

/** A MobileNet-style network: strided conv, depthwise-separable blocks, global pooling, classifier. */
function buildTfjsCnn(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3], name: 'image' });
  let x = tf.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'stem' }).apply(input) as tf.SymbolicTensor;
  const widths = [64, 128, 128, 256];
  widths.forEach((w, i) => {
    x = tf.layers
      .depthwiseConv2d({ kernelSize: 3, strides: i % 2 === 0 ? 2 : 1, padding: 'same', activation: 'relu', name: `dw${i}` })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: w, kernelSize: 1, activation: 'relu', name: `pw${i}` }).apply(x) as tf.SymbolicTensor;
  });
  x = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 100, name: 'logits' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'mobile_cnn' });
}

function maxAbsDiff(a: NamedTensors, b: NamedTensors): number {
  let m = 0;
  for (const [name, t] of Object.entries(a)) {
    const u = b[name] ?? Object.values(b)[0];
    if (!u) continue;
    for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(Number(t.data[i]) - Number(u.data[i])));
  }
  return m;
}

export async function runRuntimeBench(options: { iterations?: number; size?: number } = {}): Promise<{ rows: RuntimeRow[]; model: string }> {
  const iterations = options.iterations ?? 40;
  const size = options.size ?? 128;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-runtimes-'));
  const tfDir = join(dir, 'tfjs');
  await tf.setBackend('cpu');
  const model = buildTfjsCnn(size);
  await model.save(tfjsDirectory(tfDir));
  const onnxPath = join(dir, 'model.onnx');
  writeFileSync(onnxPath, serializeModel(await convertTfjsModel(join(tfDir, 'model.json'))));

  const data = new Float32Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) % 1000) / 1000;
  const feeds: NamedTensors = { image: { type: 'float32', dims: [1, size, size, 3], data } };

  const measured: { runtime: string; samples: number[]; loadMs: number; outputs?: NamedTensors; note?: string }[] = [];
  for (const [name, modelPath] of [
    ['ort-node', onnxPath],
    ['ort-web', onnxPath],
    ['tfjs', join(tfDir, 'model.json')],
  ] as const) {
    const backend = getBackend(name);
    const [outcome] = await runInterleaved([{ id: name, model: modelPath, feeds }], { backend, load: { threads: 1 }, iterations, warmup: 5 });
    if (outcome.state === 'measured')
      measured.push({
        runtime: `${backend.describe().split(' (')[0]} (${name === 'tfjs' ? 'wasm backend' : name === 'ort-web' ? 'wasm, in Node' : 'cpu'})`,
        samples: outcome.samplesMs,
        loadMs: outcome.loadMs,
        outputs: outcome.outputs,
      });
    else measured.push({ runtime: name, samples: [], loadMs: 0, note: outcome.reason });
  }
  const chromium = findChromium(process.env);
  if (chromium) {
    const res = await runBrowserBench({
      chromiumPath: chromium,
      variants: [{ id: 'onnx', modelPath: onnxPath }],
      feeds,
      threads: 1,
      warmup: 5,
      iterations,
      coldStart: false,
    });
    const m = res.models[0];
    measured.push({
      runtime: `onnxruntime-web ${res.ortVersion} (wasm, ${res.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? 'Chromium'})`,
      samples: m.samplesMs ?? [],
      loadMs: m.loadMs ?? 0,
      note: m.error,
    });
  } else {
    measured.push({ runtime: 'onnxruntime-web in Chromium', samples: [], loadMs: 0, note: CHROMIUM_MISSING });
  }
  const reference = measured[0];
  const refP50 = summarize(reference.samples).p50;
  const rows: RuntimeRow[] = measured.map((m) => {
    if (!m.samples.length) return { runtime: m.runtime, note: m.note };
    const s = summarize(m.samples);
    return {
      runtime: m.runtime,
      p50Ms: s.p50,
      p90Ms: s.p90,
      loadMs: m.loadMs,
      vsOrtNode: refP50 / s.p50,
      maxAbsDiff: m.outputs && reference.outputs ? maxAbsDiff(reference.outputs, m.outputs) : undefined,
      note: m.note,
    };
  });
  return { rows, model: `MobileNet-style CNN ${size}×${size}×3 (TF.js layers → ONNX by kiln), batch 1, 1 thread, ${iterations} runs` };
}

export function runtimeReport(result: { rows: RuntimeRow[]; model: string }): string {
  const lines = ['# One model, every runtime', '', result.model, ''];
  lines.push(
    table(
      result.rows.map((r) => [
        r.runtime,
        r.p50Ms?.toFixed(2) ?? '-',
        r.p90Ms?.toFixed(2) ?? '-',
        r.loadMs?.toFixed(0) ?? '-',
        r.vsOrtNode ? `${r.vsOrtNode.toFixed(2)}×` : '-',
        r.maxAbsDiff === undefined ? '-' : r.maxAbsDiff.toExponential(1),
        r.note ?? '',
      ]),
      { header: ['runtime', 'p50 ms', 'p90 ms', 'load ms', 'speed vs ort-node', 'max |Δ| vs ort-node', 'note'] },
    ).replace(/^/gm, '    '),
  );
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { iterations: { type: 'string' }, size: { type: 'string' } } });
  const result = await runRuntimeBench({
    iterations: values.iterations ? Number(values.iterations) : undefined,
    size: values.size ? Number(values.size) : undefined,
  });
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'runtimes.json'), `${JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2)}\n`);
  const report = runtimeReport(result);
  writeFileSync(join(RESULTS, 'runtimes.md'), report);
  process.stdout.write(report);
}
