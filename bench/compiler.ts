/**
 * Bench suite 1: what `kiln compile` buys per target. For each model, the fp32 original (loaded by
 * onnxruntime with its default optimizations), the compiled artifact and — for static int8 — the
 * plain full-int8 QDQ graph (u8 activations after Relu, per-channel s8 weights, MinMax, every
 * Conv/Gemm/Add/Concat/pool quantized, no search: what a careful hand quantization gives) run side by
 * side in this process, interleaved, in rounds, single thread; figures are ratios.
 *
 *   npx tsx bench/compiler.ts [--models a,b] [--targets x86_64,wasm] [--rounds 3] [--iterations 30]
 *
 * Standard CNNs come from Debian's python3-torch/torchvision (random weights, exported by
 * bench/models/export_torchvision.py into bench/.models/); they are skipped, with the reason, where
 * those packages are missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compileModel, type CompileOptions } from '../src/compiler/compile.js';
import { memorySource, type DataSource } from '../src/compiler/io-spec.js';
import type { Sample } from '../src/compiler/quantize/calibrate.js';
import { interleavedRounds } from '../src/compiler/quantize/in-context.js';
import { optimizeModel } from '../src/compiler/steps/optimize.js';
import { calibrate } from '../src/compiler/quantize/calibrate.js';
import { quantizeQdq } from '../src/compiler/quantize/qdq.js';
import { quantizeDynamic } from '../src/compiler/quantize/dynamic.js';
import { Graph } from '../src/onnx/graph.js';
import { serializeModel } from '../src/onnx/model.js';
import { ortNodeRunner, ortWebRunner } from '../src/compiler/verify.js';
import { buildMatMulAdd } from '../src/onnx/builder.js';
import { loadModel, saveModel } from '../src/onnx/model.js';
import { resolveModel, sampleInputs } from '../src/zoo/index.js';
import { table } from '../src/format.js';
import { IMAGE_SIZE, PIXELS, splitMnist, subset } from '../models/mnist/data.js';

const MODELS_DIR = 'bench/.models';
const RESULTS = 'bench/results';
const TORCHVISION = ['resnet18', 'squeezenet1_1', 'mobilenet_v2', 'shufflenet_v2_x1_0', 'efficientnet_b0', 'mnasnet1_0'];

interface BenchModel {
  name: string;
  path: string;
  kind: 'cnn' | 'transformer' | 'ocr' | 'digits';
  calibration?: DataSource;
  shapes?: Record<string, number[]>;
  quantize?: CompileOptions['quantize'];
  /** Verification inputs where there is no calibration data. */
  evaluation?: DataSource;
  /** One input for timing. */
  sample: Sample;
}

export interface CompilerBenchRow {
  model: string;
  target: string;
  mode: string;
  quantizedNodes: number;
  floatNodes: number;
  fp32Ms: number;
  compiledMs: number;
  speedup: number;
  /** The plain full-int8 QDQ graph, timed in the same rounds (static int8 CNNs only). */
  plainMs?: number;
  /** plainMs / compiledMs: above 1, kiln's model is faster than the plain QDQ. */
  vsPlain?: number;
  plainSizeRatio?: number;
  /** Regions kiln put in float after timing them in context. */
  floatRegions?: string[];
  shipped?: string;
  sizeRatio: number;
  cosine: number;
  top1?: number;
  withinBudget: boolean;
  compileSeconds: number;
  runtime: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

/**
 * The plain full-int8 QDQ graph, built with kiln's own QDQ writer in its plain form: the float graph
 * after cleanup and onnxruntime's 'basic' optimization, the same calibration, every
 * Conv/Gemm/Add/Concat/pool quantized, no search.
 */
async function plainQdq(path: string, calibration: DataSource): Promise<Uint8Array> {
  // As a hand quantization of the export sees it: onnxruntime's optimization, no batch-shape folding.
  const optimized = await optimizeModel(loadModel(path), () => {}, { foldShapes: false });
  const cal = await calibrate(optimized.model, () => calibration.stream(), { method: 'minmax' });
  const g = Graph.fromModel(structuredClone(optimized.model));
  quantizeQdq(g, { activations: 'uint8', reduceRange: false, perChannel: true, ranges: cal.ranges, extended: false });
  return serializeModel(g.toModel());
}

/** A hand dynamic quantization, as onnxruntime's quantize_dynamic writes it: MatMuls int8 (each weight once), the embedding table left in float. */
async function handDynamic(path: string): Promise<Uint8Array> {
  const optimized = await optimizeModel(loadModel(path), () => {});
  const g = Graph.fromModel(structuredClone(optimized.model));
  quantizeDynamic(g, { perChannel: true, reduceRange: false, embeddings: false });
  return serializeModel(g.toModel());
}

/** ImageNet-normalized noise images: the stand-in calibration data for random-weight CNNs. */
function imageNoise(input: string, count: number, seed: number): DataSource {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  let s = seed;
  const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const samples: Sample[] = [];
  for (let k = 0; k < count; k++) {
    const data = new Float32Array(3 * 224 * 224);
    for (let c = 0; c < 3; c++) {
      // Smooth blobs rather than white noise, so activations look more like photographs'.
      const fx = 1 + rand() * 6;
      const fy = 1 + rand() * 6;
      const phase = rand() * 6.28;
      for (let i = 0; i < 224 * 224; i++) {
        const x = i % 224;
        const y = (i / 224) | 0;
        const v = 0.5 + 0.35 * Math.sin((x / 224) * fx * 6.28 + phase) * Math.cos((y / 224) * fy * 6.28) + 0.15 * (rand() - 0.5);
        data[c * 224 * 224 + i] = (v - mean[c]) / std[c];
      }
    }
    samples.push({ [input]: { type: 'float32', dims: [1, 3, 224, 224], data } });
  }
  return memorySource(`synthetic images (${count})`, samples);
}

async function firstOf(source: DataSource): Promise<Sample> {
  for await (const s of source.stream()) return s;
  throw new Error(`${source.label}: empty`);
}

async function benchModels(names: readonly string[] | undefined, calibrationSamples: number): Promise<{ models: BenchModel[]; skipped: string[] }> {
  const want = (n: string) => !names || names.includes(n);
  const models: BenchModel[] = [];
  const skipped: string[] = [];
  const torchWanted = TORCHVISION.filter(want);
  if (torchWanted.some((n) => !existsSync(join(MODELS_DIR, `${n}.onnx`)))) {
    const r = spawnSync('/usr/bin/python3', ['bench/models/export_torchvision.py', MODELS_DIR, ...torchWanted], { encoding: 'utf8' });
    if (r.status !== 0)
      skipped.push(
        `torchvision CNNs: export failed (${(r.stderr || r.error?.message || '').trim().split('\n').pop()}); apt-get install python3-torch python3-torchvision`,
      );
  }
  for (const name of torchWanted) {
    const path = join(MODELS_DIR, `${name}.onnx`);
    if (!existsSync(path)) continue;
    const calibration = imageNoise('input', calibrationSamples, 11);
    models.push({ name, path, kind: 'cnn', calibration, sample: await firstOf(calibration) });
  }
  if (want('ppocr-det')) {
    const path = resolveModel('ppocr-det').path;
    const texts = ['kiln 2026', 'Edge inference', 'HELLO WORLD', 'model v2.1', 'quick brown fox', 'Raspberry Pi 5', 'ONNX runtime', 'canary 5%'];
    const samples: Sample[] = [];
    for (let i = 0; i < Math.min(calibrationSamples, 24); i++)
      samples.push((await sampleInputs('ppocr-det', { text: texts[i % texts.length], seed: i + 1 })) as unknown as Sample);
    const calibration = memorySource(`zoo samples (${samples.length} rendered text lines)`, samples);
    models.push({ name: 'ppocr-det', path, kind: 'ocr', calibration, sample: samples[0] });
  }
  if (want('mnist')) {
    const { train } = splitMnist();
    const picked = subset(
      train,
      Array.from({ length: calibrationSamples }, (_, i) => Math.floor((i * train.count) / calibrationSamples)),
    );
    const samples: Sample[] = Array.from({ length: picked.count }, (_, i) => ({
      image: { type: 'float32', dims: [1, IMAGE_SIZE, IMAGE_SIZE, 1], data: picked.images.slice(i * PIXELS, (i + 1) * PIXELS) },
    }));
    models.push({
      name: 'mnist',
      path: 'models/mnist/mnist.onnx',
      kind: 'digits',
      calibration: memorySource('mnist training digits', samples),
      sample: samples[0],
    });
  }
  if (want('transformer')) {
    // A 4-layer transformer encoder (d=256) whose layers share their weights, with a token embedding
    // table: the dynamic-int8 case.
    const path = join(MODELS_DIR, 'transformer-shared-d256-l4.onnx');
    mkdirSync(MODELS_DIR, { recursive: true });
    const vocab = 2000;
    if (!existsSync(path)) saveModel(buildMatMulAdd({ batch: 1, seqLen: 64, dModel: 256, ffDim: 1024, layers: 4, shareLayers: true, vocab, seed: 3 }), path);
    const samples: Sample[] = Array.from({ length: 16 }, (_, k) => ({
      input_ids: { type: 'int64', dims: [1, 64], data: BigInt64Array.from({ length: 64 }, (_, i) => BigInt((i * 7919 + k * 104729) % vocab)) },
    }));
    const data = memorySource('random token ids (16)', samples);
    models.push({ name: 'transformer', path, kind: 'transformer', quantize: 'int8-dynamic', calibration: undefined, evaluation: data, sample: samples[0] });
  }
  return { models, skipped };
}

export async function runCompilerBench(
  options: { models?: string[]; targets?: string[]; rounds?: number; iterations?: number; calibrationSamples?: number } = {},
): Promise<{ rows: CompilerBenchRow[]; skipped: string[] }> {
  const targets = options.targets ?? ['x86_64', 'wasm'];
  const rounds = options.rounds ?? 7;
  const iterations = options.iterations ?? 20;
  const { models, skipped } = await benchModels(options.models, options.calibrationSamples ?? 64);
  const rows: CompilerBenchRow[] = [];
  process.env.KILN_HOME ??= join(RESULTS, '.kiln-home');
  for (const model of models) {
    for (const target of targets) {
      // WASM is 5–10× slower here: bench the heavy CNNs on the native target only.
      if (target === 'wasm' && ['resnet18', 'efficientnet_b0', 'mnasnet1_0', 'transformer'].includes(model.name)) continue;
      const started = performance.now();
      const res = await compileModel(model.path, {
        target,
        quantize: model.quantize ?? (model.kind === 'cnn' ? 'auto' : 'int8'),
        calibrationData: model.calibration,
        evaluationData: model.calibration ?? model.evaluation,
        shapes: model.shapes,
        outDir: join(RESULTS, 'artifacts', `${model.name}-${target}`),
        // Random-weight CNNs: their logits are nearly tied, so top-1 agreement is a coin toss; the
        // output cosine is the accuracy figure that means something here.
        ...(model.kind === 'cnn' ? { minCosine: 0.97, maxTop1Drop: 1 } : {}),
        modelName: model.name,
        cache: false,
        onEvent: (e) => e.kind === 'warning' && process.stderr.write(`  ${model.name}/${target}: ${e.message}\n`),
      });
      const compileSeconds = (performance.now() - started) / 1000;
      for (const d of res.manifest.quantization.decisions ?? []) process.stderr.write(`    ${d.decision.padEnd(9)} ${d.region}: ${d.why}\n`);
      const runner = target === 'wasm' ? ortWebRunner({ threads: 1 }) : ortNodeRunner({ threads: 1 });
      const source = readFileSync(model.path);
      const compiled = readFileSync(join(res.artifact.dir, 'model.onnx'));
      const plain =
        model.kind === 'cnn' && model.calibration
          ? await plainQdq(model.path, model.calibration)
          : model.kind === 'transformer'
            ? await handDynamic(model.path)
            : undefined;
      // One set of rounds for all: fp32, compiled (and plain), interleaved, the order rotated per round.
      const perRound = await interleavedRounds(runner, plain ? [source, compiled, plain] : [source, compiled], model.sample, { rounds, iterations });
      const med = (k: number) => median(perRound.map((r) => r[k]));
      const fp32 = med(0);
      const int8 = med(1);
      const plainMs = plain ? med(2) : undefined;
      const m = res.manifest;
      const row: CompilerBenchRow = {
        model: model.name,
        target,
        mode: m.quantization.mode,
        quantizedNodes: m.quantization.quantizedNodes,
        floatNodes: m.quantization.excludedNodes.length,
        fp32Ms: fp32,
        compiledMs: int8,
        speedup: fp32 / int8,
        ...(plainMs !== undefined ? { plainMs, vsPlain: median(perRound.map((r) => r[2] / r[1])), plainSizeRatio: plain!.byteLength / source.byteLength } : {}),
        floatRegions: (m.quantization.decisions ?? []).filter((d) => d.decision === 'float').map((d) => d.region),
        shipped: m.performance?.shipped,
        sizeRatio: m.sizes.artifactBytes / m.sizes.sourceBytes,
        cosine: Math.min(...m.verification.outputs.map((o) => o.cosine)),
        top1: m.verification.outputs.find((o) => o.top1Agreement !== undefined)?.top1Agreement,
        withinBudget: m.verification.passed,
        compileSeconds,
        runtime: runner.label,
      };
      rows.push(row);
      process.stderr.write(
        `  ${row.model.padEnd(20)} ${target.padEnd(7)} ${row.mode.padEnd(12)} ${row.fp32Ms.toFixed(2).padStart(8)} → ${row.compiledMs.toFixed(2).padStart(8)} ms  ${row.speedup.toFixed(2)}×${row.vsPlain ? ` (plain ${row.plainMs!.toFixed(2)} ms, kiln/plain ${row.vsPlain.toFixed(3)})` : ''}  size ${(100 * row.sizeRatio).toFixed(0)}%  cos ${row.cosine.toFixed(4)}  compile ${compileSeconds.toFixed(1)} s\n`,
      );
    }
  }
  return { rows, skipped };
}

export function compilerReport(rows: readonly CompilerBenchRow[], skipped: readonly string[]): string {
  const lines = ['# kiln compile: fp32 original vs compiled artifact', ''];
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const flags = cpuinfo.match(/flags\s*:\s*(.*)/)?.[1].split(/\s+/) ?? [];
  const isa = flags.includes('avx512_vnni')
    ? 'AVX-512 VNNI'
    : flags.includes('avx_vnni')
      ? 'AVX-VNNI'
      : flags.includes('avx2')
        ? 'AVX2 without VNNI'
        : 'no AVX2';
  lines.push(
    `Measured ${new Date().toISOString()} on ${cpuinfo.match(/model name\s*:\s*(.*)/)?.[1] ?? 'this host'} (${isa}, ${cpuinfo.match(/^processor/gm)?.length ?? '?'} vCPU), batch 1, 1 thread; fp32, kiln and plain QDQ interleaved in one set of rounds, medians over rounds.`,
    '',
  );
  const withPlain = rows.filter((r) => r.vsPlain !== undefined && r.model !== 'transformer');
  const tf = rows.find((r) => r.model === 'transformer' && r.vsPlain !== undefined);
  if (withPlain.length) {
    lines.push('## kiln vs the plain full-int8 QDQ vs fp32 (speed ratios: above 1 is faster)', '');
    const t = withPlain.map((r) => [
      r.model,
      r.fp32Ms.toFixed(2),
      r.plainMs!.toFixed(2),
      r.compiledMs.toFixed(2),
      `${(r.fp32Ms / r.plainMs!).toFixed(2)}×`,
      `${r.speedup.toFixed(2)}×`,
      r.vsPlain!.toFixed(3),
      r.cosine.toFixed(4),
      `${(100 * r.sizeRatio).toFixed(1)}%`,
      r.shipped ?? '-',
      (r.floatRegions ?? []).join('; ') || '-',
    ]);
    lines.push(
      table(t, {
        header: ['model', 'fp32 ms', 'plain ms', 'kiln ms', 'plain/fp32', 'kiln/fp32', 'kiln/plain', 'cosine', 'size', 'shipped', 'regions in float'],
      }).replace(/^/gm, '    '),
    );
    lines.push(
      '',
      `median kiln/plain ${median(withPlain.map((r) => r.vsPlain!)).toFixed(3)}, lowest ${Math.min(...withPlain.map((r) => r.vsPlain!)).toFixed(3)} (${withPlain.reduce((a, r) => (r.vsPlain! < a.vsPlain! ? r : a)).model}); lowest kiln/fp32 ${Math.min(...withPlain.map((r) => r.speedup)).toFixed(2)}×`,
      '',
    );
    lines.push('## All rows', '');
  }
  if (tf) {
    lines.splice(
      lines.indexOf('## All rows'),
      0,
      `Transformer encoder (4 layers sharing weights, embedding table), dynamic int8: kiln ${tf.compiledMs.toFixed(2)} ms vs hand dynamic quantization ${tf.plainMs!.toFixed(2)} ms (kiln/hand ${tf.vsPlain!.toFixed(3)}), vs fp32 ${tf.speedup.toFixed(2)}×; file ${(100 * tf.sizeRatio).toFixed(1)} % of fp32 (hand: ${(100 * tf.plainSizeRatio!).toFixed(1)} %); cosine ${tf.cosine.toFixed(5)}`,
      '',
    );
  }
  const tableRows = rows.map((r) => [
    r.model,
    r.target,
    `${r.mode} (${r.quantizedNodes}/${r.floatNodes})`,
    r.fp32Ms.toFixed(2),
    r.compiledMs.toFixed(2),
    `${r.speedup.toFixed(2)}×`,
    `${(100 * r.sizeRatio).toFixed(0)}%`,
    r.cosine.toFixed(4),
    r.top1 === undefined ? '-' : `${(100 * r.top1).toFixed(1)}%`,
    r.withinBudget ? 'yes' : 'no',
    r.compileSeconds.toFixed(1),
  ]);
  lines.push(
    table(tableRows, {
      header: ['model', 'target', 'mode (int8/float nodes)', 'fp32 ms', 'compiled ms', 'speedup', 'size', 'cosine', 'top-1', 'budget', 'compile s'],
    }).replace(/^/gm, '    '),
  );
  for (const target of [...new Set(rows.map((r) => r.target))]) {
    const cnn = rows.filter((r) => r.target === target && r.mode === 'int8');
    if (cnn.length)
      lines.push(
        '',
        `${target}: median static-int8 speedup ${median(cnn.map((r) => r.speedup)).toFixed(2)}× over ${cnn.length} models (${cnn.map((r) => r.model).join(', ')}); median size ${(100 * median(cnn.map((r) => r.sizeRatio))).toFixed(0)}%`,
      );
  }
  if (skipped.length) lines.push('', 'Skipped:', ...skipped.map((s) => `- ${s}`));
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { models: { type: 'string' }, targets: { type: 'string' }, rounds: { type: 'string' }, iterations: { type: 'string' } },
  });
  const { rows, skipped } = await runCompilerBench({
    models: values.models?.split(','),
    targets: values.targets?.split(','),
    rounds: values.rounds ? Number(values.rounds) : undefined,
    iterations: values.iterations ? Number(values.iterations) : undefined,
  });
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'compiler.json'), `${JSON.stringify({ date: new Date().toISOString(), rows, skipped }, null, 2)}\n`);
  const report = compilerReport(rows, skipped);
  writeFileSync(join(RESULTS, 'compiler.md'), report);
  process.stdout.write(report);
}
