/** Shared by the zoo suites: sample tensors → onnxruntime tensors, and runs that return plain arrays. */
import { createOrtNodeSession, ort, type OrtSession } from '../../src/runtime/ort-node.js';
import type { SampleFeeds } from '../../src/zoo/index.js';

export type OutputArray =
  Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export interface PlainTensor {
  type: string;
  dims: number[];
  data: OutputArray;
}

export function toOrtFeeds(feeds: SampleFeeds): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, new ort.Tensor(t.type, t.data, t.dims)]));
}

/** One session per model file or bytes: one thread, so results do not depend on the machine's cores. */
export function openSession(model: string | Uint8Array, source?: string): Promise<OrtSession> {
  return createOrtNodeSession(model, { threads: 1, source, configEntries: { 'session.intra_op.allow_spinning': '0' } });
}

export async function run(session: OrtSession, feeds: SampleFeeds): Promise<Record<string, PlainTensor>> {
  const out = await session.run(toOrtFeeds(feeds));
  return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, { type: t.type, dims: [...t.dims], data: t.data as OutputArray }]));
}
