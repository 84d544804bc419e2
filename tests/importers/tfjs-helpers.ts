/**
 * Shared by the TF.js importer tests: real TF.js (cpu backend) and real onnxruntime-node.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { convertTfjsModel, tfjsDirectory, type TfjsConvertOptions } from '../../src/importers/tfjs.js';
import { serializeModel } from '../../src/onnx/model.js';
import type { ModelProto } from '../../src/onnx/proto-types.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';

let ready: Promise<void> | undefined;
let dumped = 0;
/** TF.js on its cpu backend: plain JS kernels, the reference the ONNX outputs are compared with. */
export function initTf(): Promise<void> {
  ready ??= (async () => {
    await tf.setBackend('cpu');
    await tf.ready();
  })();
  return ready;
}

/** A fresh temporary folder; removed by the returned cleanup. */
export function tempDir(prefix = 'kiln-tfjs-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Give every weight seeded random values (BatchNormalization variances positive), so that a
 * converter mistake in any weight (a wrong transpose, a swapped gamma/beta) changes the outputs.
 */
export function randomizeWeights(model: tf.LayersModel, seed = 1): void {
  const specs = model.weights;
  const values = specs.map((w, i) => {
    const shape = w.shape as number[];
    if (/moving_variance$/.test(w.originalName)) return tf.randomUniform(shape, 0.5, 1.5, 'float32', seed + i);
    return tf.randomNormal(shape, 0, 0.5, 'float32', seed + i);
  });
  model.setWeights(values);
  tf.dispose(values);
}

export interface RoundTrip {
  onnx: ModelProto;
  /** Max |TF.js − ONNX| over every output element. */
  maxDiff: number;
  /** ONNX outputs by name, with dims. */
  outputs: Record<string, { dims: readonly number[]; data: Float32Array }>;
  /** TF.js outputs in model.outputs order. */
  expected: Float32Array[];
  /** Their shapes. */
  expectedDims: number[][];
}

/**
 * Save `model` with the directory handler, convert the model.json from disk, run it in
 * onnxruntime-node on `inputs` (fed by the ONNX input names, in order) and compare with model.predict.
 */
export async function roundTrip(model: tf.LayersModel, inputs: tf.Tensor[], options: TfjsConvertOptions = {}): Promise<RoundTrip> {
  const { dir, cleanup } = tempDir();
  try {
    await model.save(tfjsDirectory(dir));
    const onnx = await convertTfjsModel(join(dir, 'model.json'), options);
    // KILN_DUMP_ONNX=dir keeps every converted model (e.g. to run another ONNX checker over them).
    const dump = process.env.KILN_DUMP_ONNX;
    if (dump) writeFileSync(join(dump, `${++dumped}-${process.pid}.onnx`), serializeModel(onnx));
    const session = await createOrtNodeSession(serializeModel(onnx));
    try {
      const feeds: Record<string, ort.Tensor> = {};
      session.inputNames.forEach((name, i) => {
        feeds[name] = new ort.Tensor('float32', inputs[i].dataSync() as Float32Array, inputs[i].shape);
      });
      const result = await session.run(feeds);
      const predicted = model.predict(inputs.length === 1 ? inputs[0] : inputs);
      const predictedList = Array.isArray(predicted) ? predicted : [predicted];
      const expected = predictedList.map((t) => t.dataSync() as Float32Array);
      const expectedDims = predictedList.map((t) => t.shape);
      let maxDiff = 0;
      const outputs: RoundTrip['outputs'] = {};
      session.outputNames.forEach((name, i) => {
        const got = result[name];
        outputs[name] = { dims: got.dims, data: got.data as Float32Array };
        const want = expected[i];
        if (got.data.length !== want.length) throw new Error(`output '${name}': ${got.data.length} values, TF.js gave ${want.length}`);
        for (let k = 0; k < want.length; k++) {
          const d = Math.abs((got.data as Float32Array)[k] - want[k]);
          if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
        }
      });
      return { onnx, maxDiff, outputs, expected, expectedDims };
    } finally {
      await session.release();
    }
  } finally {
    cleanup();
  }
}

/** The dims an ONNX graph output declares (null where dynamic). */
export const declaredDims = (model: ModelProto, output: number): (number | null)[] =>
  model.graph!.output[output].type!.tensorType!.shape!.dim.map((d) => d.dimValue ?? null);

/** Count ONNX node types in a converted model. */
export const opTypes = (model: ModelProto): string[] => model.graph!.node.map((n) => n.opType);
