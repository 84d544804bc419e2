import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, serializeModel } from '../../src/onnx/model.js';
import type { ModelProto } from '../../src/onnx/proto-types.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';
import { memorySource, type DataSource } from '../../src/compiler/io-spec.js';
import type { Sample } from '../../src/compiler/quantize/calibrate.js';
import { mulberry32 } from '../../src/onnx/random.js';

export const tempDir = (prefix = 'kiln-test-'): string => mkdtempSync(join(tmpdir(), prefix));

/** Uniform random float samples for one input. */
export function randomSamples(input: string, dims: number[], count: number, seed = 1): Sample[] {
  const rand = mulberry32(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return Array.from({ length: count }, () => {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = rand() * 2 - 0.5;
    return { [input]: { type: 'float32', dims, data } };
  });
}

export const randomData = (input: string, dims: number[], count: number, seed = 1): DataSource =>
  memorySource('random test samples', randomSamples(input, dims, count, seed));

/** The ops onnxruntime runs after optimizing the model at `level` (domain-qualified when not default). */
export async function optimizedOps(model: ModelProto | Uint8Array, level: 'basic' | 'extended' | 'all' = 'all'): Promise<string[]> {
  const dir = tempDir('kiln-opt-');
  const path = join(dir, 'opt.onnx');
  const s = await createOrtNodeSession(model instanceof Uint8Array ? model : serializeModel(model), { optimization: level, optimizedModelFilePath: path });
  await s.release();
  return loadModel(path, { checkVersions: false }).graph!.node.map((n) => (n.domain ? `${n.domain}:${n.opType}` : n.opType));
}

/** Run a model on samples; outputs of the first output, concatenated. */
export async function runAll(model: ModelProto | Uint8Array, samples: Sample[]): Promise<Float32Array[]> {
  const s = await createOrtNodeSession(model instanceof Uint8Array ? model : serializeModel(model));
  const out: Float32Array[] = [];
  for (const sample of samples) {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(sample)) feeds[k] = new ort.Tensor((t.type ?? 'float32') as 'float32', t.data as Float32Array, [...t.dims]);
    const r = await s.run(feeds);
    out.push(r[s.outputNames[0]].data as Float32Array);
  }
  await s.release();
  return out;
}
