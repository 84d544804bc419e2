/**
 * Train kiln's small MNIST CNN with TensorFlow.js, convert it to ONNX with kiln's TF.js importer,
 * and measure the ONNX model with onnxruntime-node on the held-out digits.
 *
 *   npx tsx models/mnist/train.ts                   # train, convert, evaluate, write metrics.json
 *   npx tsx models/mnist/train.ts --bench-backends  # also time a training step on cpu vs wasm
 *   npx tsx models/mnist/train.ts --epochs 3        # shorter run (for trying things)
 *   npx tsx models/mnist/train.ts --out /tmp/m      # write the outputs elsewhere (e.g. to compare two runs)
 *
 * Writes models/mnist/.tfjs/ (the TF.js model; git-ignored), models/mnist/mnist.onnx and
 * models/mnist/metrics.json. Deterministic: seeded initializers, seeded shuffling, no dropout, and the
 * single-threaded wasm backend; the same machine gives the same weights run after run.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { convertTfjsModel, tfjsDirectory } from '../../src/importers/tfjs.js';
import { saveModel } from '../../src/onnx/model.js';
import { CLASSES, IMAGE_SIZE, PIXELS, SPLIT, SPLIT_RULE, mulberry32, shuffleInPlace, splitMnist, subset, type DigitSet } from './data.js';
import { MNIST_INPUT, MNIST_OUTPUT, onnxProbabilities, score } from './evaluate.js';
import { registerWasmConv2DFilterGrad } from './wasm-conv-grad.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(name);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number, got ${args[i + 1]}`);
  return v;
};
const outIndex = args.indexOf('--out');
/** Where the outputs go (default: this folder). `--out DIR` writes a second copy elsewhere, e.g. to check determinism. */
const OUT_DIR = outIndex >= 0 ? resolve(args[outIndex + 1]) : HERE;
const TFJS_DIR = join(OUT_DIR, '.tfjs');
const ONNX_PATH = join(OUT_DIR, 'mnist.onnx');
const METRICS_PATH = join(OUT_DIR, 'metrics.json');

/** Hyper-parameters, all in one place and recorded in metrics.json. */
const HP = Object.freeze({
  seed: 7,
  epochs: option('--epochs', 15),
  convFilters: [16, 32],
  denseUnits: 128,
  batchSize: 64,
  learningRate: 1e-3,
  /** Learning rate for the last `decayEpochs` epochs. */
  finalLearningRate: 2e-4,
  decayEpochs: 4,
  /** Share of the training split held out to watch training (never the test split). */
  validationFraction: 0.1,
  /** Random translation of training images by up to ± this many pixels, drawn per image per epoch. */
  maxShift: 1,
});

const log = (msg: string): void => {
  process.stdout.write(`${msg}\n`);
};

function buildModel(seed: number): tf.Sequential {
  const he = (k: number) => tf.initializers.heNormal({ seed: seed + k });
  const glorot = (k: number) => tf.initializers.glorotUniform({ seed: seed + k });
  return tf.sequential({
    name: 'kiln_mnist',
    layers: [
      tf.layers.inputLayer({ inputShape: [IMAGE_SIZE, IMAGE_SIZE, 1], name: MNIST_INPUT }),
      tf.layers.conv2d({ filters: HP.convFilters[0], kernelSize: 3, useBias: false, kernelInitializer: he(1), name: 'conv1' }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.activation({ activation: 'relu', name: 'relu1' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tf.layers.conv2d({ filters: HP.convFilters[1], kernelSize: 3, useBias: false, kernelInitializer: he(2), name: 'conv2' }),
      tf.layers.batchNormalization({ name: 'bn2' }),
      tf.layers.activation({ activation: 'relu', name: 'relu2' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units: HP.denseUnits, activation: 'relu', kernelInitializer: he(3), name: 'fc1' }),
      tf.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: glorot(4), name: MNIST_OUTPUT }),
    ],
  });
}

/** Copy `set` in the order `order`, each image shifted by a random (dy, dx) in ±maxShift, zero-filled. */
function epochBatch(set: DigitSet, order: Int32Array, rand: () => number, maxShift: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(order.length * PIXELS);
  const y = new Int32Array(order.length);
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    y[k] = set.labels[i];
    const dy = Math.floor(rand() * (2 * maxShift + 1)) - maxShift;
    const dx = Math.floor(rand() * (2 * maxShift + 1)) - maxShift;
    const src = set.images.subarray(i * PIXELS, (i + 1) * PIXELS);
    const dst = x.subarray(k * PIXELS, (k + 1) * PIXELS);
    for (let r = 0; r < IMAGE_SIZE; r++) {
      const sr = r - dy;
      if (sr < 0 || sr >= IMAGE_SIZE) continue;
      for (let c = 0; c < IMAGE_SIZE; c++) {
        const sc = c - dx;
        if (sc >= 0 && sc < IMAGE_SIZE) dst[r * IMAGE_SIZE + c] = src[sr * IMAGE_SIZE + sc];
      }
    }
  }
  return { x, y };
}

function predictProbs(model: tf.LayersModel, set: DigitSet): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(set.images, [set.count, IMAGE_SIZE, IMAGE_SIZE, 1]);
    return (model.predict(x, { batchSize: 500 }) as tf.Tensor).dataSync() as Float32Array;
  });
}

/** Mean seconds per training step (batch of HP.batchSize) on `backend`, after one warm-up step. */
async function timeStep(backend: string, set: DigitSet, steps: number): Promise<number> {
  await tf.setBackend(backend);
  const model = buildModel(HP.seed);
  model.compile({ optimizer: tf.train.adam(HP.learningRate), loss: 'sparseCategoricalCrossentropy' });
  const n = HP.batchSize;
  const x = tf.tensor4d(set.images.subarray(0, n * PIXELS), [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
  const y = tf.tensor1d(Array.from(set.labels.subarray(0, n)), 'float32');
  await model.trainOnBatch(x, y);
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await model.trainOnBatch(x, y);
  const seconds = (performance.now() - t0) / 1000 / steps;
  tf.dispose([x, y]);
  model.dispose();
  return seconds;
}

async function main(): Promise<void> {
  const require = createRequire(import.meta.url);
  const tfjsVersion = (require('@tensorflow/tfjs/package.json') as { version: string }).version;
  const ortVersion = (require('onnxruntime-node/package.json') as { version: string }).version;

  const t0 = performance.now();
  const split = splitMnist();
  log(`data: ${split.train.count} train / ${split.test.count} test digits (test ids sha256 ${split.testIdsSha256.slice(0, 12)}…)`);

  await tf.ready();
  registerWasmConv2DFilterGrad();

  let backendComparison: Record<string, number> | undefined;
  if (flag('--bench-backends')) {
    const wasm = await timeStep('wasm', split.train, 10);
    const cpu = await timeStep('cpu', split.train, 2);
    backendComparison = { wasmSecondsPerStep: round(wasm, 4), cpuSecondsPerStep: round(cpu, 4), wasmSpeedup: round(cpu / wasm, 1) };
    log(`backends: wasm ${wasm.toFixed(3)} s/step, cpu ${cpu.toFixed(3)} s/step (batch ${HP.batchSize})`);
  }
  await tf.setBackend('wasm');

  // Validation: a seeded 10 % of the training split, only watched, never trained on.
  const valRand = mulberry32(HP.seed * 1000 + 1);
  const trainOrder = Array.from({ length: split.train.count }, (_, i) => i);
  shuffleInPlace(trainOrder, valRand);
  const nVal = Math.round(split.train.count * HP.validationFraction);
  const val = subset(split.train, trainOrder.slice(0, nVal).sort((a, b) => a - b));
  const fit = subset(split.train, trainOrder.slice(nVal).sort((a, b) => a - b));

  const model = buildModel(HP.seed);
  const optimizer = tf.train.adam(HP.learningRate);
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  log(`model: ${model.countParams()} parameters; training on ${fit.count}, watching ${val.count} (wasm backend)`);

  const shuffleRand = mulberry32(HP.seed * 1000 + 2);
  const history: { epoch: number; loss: number; trainAccuracy: number; valAccuracy: number; seconds: number }[] = [];
  const trainStart = performance.now();
  for (let epoch = 1; epoch <= HP.epochs; epoch++) {
    const e0 = performance.now();
    if (epoch === HP.epochs - HP.decayEpochs + 1) (optimizer as unknown as { learningRate: number }).learningRate = HP.finalLearningRate;
    const order = Int32Array.from({ length: fit.count }, (_, i) => i);
    shuffleInPlace(order, shuffleRand);
    const { x, y } = epochBatch(fit, order, shuffleRand, HP.maxShift);
    const xs = tf.tensor4d(x, [fit.count, IMAGE_SIZE, IMAGE_SIZE, 1]);
    const ys = tf.tensor1d(y, 'float32');
    const h = await model.fit(xs, ys, { epochs: 1, batchSize: HP.batchSize, shuffle: false, verbose: 0 });
    tf.dispose([xs, ys]);
    const valScore = score(predictProbs(model, val), val.labels);
    const entry = {
      epoch,
      loss: round(Number(h.history.loss[0]), 4),
      trainAccuracy: round(Number(h.history.acc[0]), 4),
      valAccuracy: round(valScore.accuracy, 4),
      seconds: round((performance.now() - e0) / 1000, 1),
    };
    history.push(entry);
    log(`epoch ${epoch}/${HP.epochs}: loss ${entry.loss} train acc ${entry.trainAccuracy} val acc ${entry.valAccuracy} (${entry.seconds} s)`);
  }
  const trainSeconds = (performance.now() - trainStart) / 1000;

  // Save the TF.js model, then convert it from disk as a user would.
  await model.save(tfjsDirectory(TFJS_DIR));
  const onnx = await convertTfjsModel(join(TFJS_DIR, 'model.json'), { source: 'models/mnist/.tfjs/model.json' });
  saveModel(onnx, ONNX_PATH);
  const bytes = readFileSync(ONNX_PATH);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  log(`onnx: ${relative(ROOT, ONNX_PATH)} ${bytes.byteLength} bytes, sha256 ${sha256}`);

  // Held-out evaluation: ONNX in onnxruntime-node, and TF.js for the comparison.
  const onnxProbs = await onnxProbabilities(ONNX_PATH, split.test);
  const onnxScore = score(onnxProbs, split.test.labels);
  const tfjsProbs = predictProbs(model, split.test);
  const tfjsScore = score(tfjsProbs, split.test.labels);
  let maxAbsDiff = 0;
  for (let i = 0; i < onnxProbs.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(onnxProbs[i] - tfjsProbs[i]));
  log(`test: onnx ${onnxScore.correct}/${onnxScore.total} = ${(onnxScore.accuracy * 100).toFixed(2)} %, tfjs ${(tfjsScore.accuracy * 100).toFixed(2)} %, max |tfjs − onnx| ${maxAbsDiff.toExponential(2)}`);

  const metrics = {
    model: relative(ROOT, ONNX_PATH),
    bytes: bytes.byteLength,
    sha256,
    parameters: model.countParams(),
    input: { name: MNIST_INPUT, dtype: 'float32', shape: ['batch', IMAGE_SIZE, IMAGE_SIZE, 1], layout: 'NHWC', values: 'pixel intensity 0..1, ink = 1, background = 0 (as in the mnist package)' },
    output: { name: MNIST_OUTPUT, dtype: 'float32', shape: ['batch', CLASSES], values: 'softmax probabilities of digits 0..9' },
    opset: onnx.opsetImport[0].version,
    irVersion: onnx.irVersion,
    data: {
      source: 'npm mnist@1.1.0 src/digits/0..9.json (10,000 digits)',
      split: { ...SPLIT, rule: SPLIT_RULE, train: split.train.count, test: split.test.count, testPerDigit: split.testPerDigit, testIdsSha256: split.testIdsSha256 },
      validation: `${val.count} of the train split (seeded shuffle, seed ${HP.seed * 1000 + 1}), watched only; the model is fitted on the other ${fit.count}`,
    },
    training: {
      framework: `@tensorflow/tfjs ${tfjsVersion}`,
      backend: 'wasm (with kiln\'s Conv2DBackpropFilter kernel, models/mnist/wasm-conv-grad.ts)',
      ...(backendComparison ? { backendComparison } : {}),
      hyperParameters: HP,
      seconds: round(trainSeconds, 1),
      history,
    },
    test: {
      onnx: { runtime: `onnxruntime-node ${ortVersion}`, ...onnxScore, accuracy: round(onnxScore.accuracy, 4) },
      tfjs: { backend: 'wasm', ...tfjsScore, accuracy: round(tfjsScore.accuracy, 4) },
      maxAbsDiffTfjsVsOnnx: Number(maxAbsDiff.toExponential(3)),
    },
    reproduce: 'npx tsx models/mnist/train.ts',
    host: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', loadAverage1mAtEnd: round(loadavg()[0], 2), note: 'seconds depend on the load from other processes' },
    totalSeconds: round((performance.now() - t0) / 1000, 1),
  };
  writeFileSync(METRICS_PATH, `${JSON.stringify(metrics, null, 2)}\n`);
  log(`wrote ${relative(ROOT, METRICS_PATH)} (${metrics.totalSeconds} s in all)`);
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

await main();
