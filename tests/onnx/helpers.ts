/** Shared helpers for the src/onnx tests: real onnxruntime sessions, temporary folders, error checks. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serializeModel } from '../../src/onnx/model.js';
import type { ModelProto } from '../../src/onnx/proto-types.js';
import { Rng } from '../../src/onnx/random.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';

export interface Feed {
  type?: 'float32' | 'bool' | 'int64';
  data: Float32Array | Uint8Array | BigInt64Array | boolean[];
  dims: number[];
}

export interface Fetched {
  data: Float32Array;
  dims: readonly number[];
}

/** Run a model (object, bytes or path) on onnxruntime-node's CPU provider; float outputs by name. */
export async function runModel(model: ModelProto | Uint8Array | string, feeds: Record<string, Feed>): Promise<Record<string, Fetched>> {
  const source = typeof model === 'string' || model instanceof Uint8Array ? model : serializeModel(model);
  const session = await createOrtNodeSession(source, { threads: 1 });
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) inputs[name] = new ort.Tensor(f.type ?? 'float32', f.data, f.dims);
    const results = await session.run(inputs);
    const out: Record<string, Fetched> = {};
    for (const [name, t] of Object.entries(results)) out[name] = { data: t.data as Float32Array, dims: t.dims };
    return out;
  } finally {
    await session.release();
  }
}

/** A seeded float32 input of the given shape. */
export function randomFeed(dims: number[], seed = 1234): Feed {
  const rng = new Rng(seed);
  return { data: rng.normalArray(dims.reduce((a, b) => a * b, 1)), dims };
}

/** A fresh temporary folder; call the returned function to remove it. */
export function tempDir(prefix = 'kiln-onnx-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export { expectKilnError } from '../shared/kiln-error.js';
