/** Shared by the runtime tests: temporary folders, seeded inputs, tolerance checks, error checks. No runtime is imported here. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Rng } from '../../src/onnx/random.js';
import type { NamedTensors, TensorData } from '../../src/runtime/backend.js';

export const FIXTURES = new URL('./fixtures/', import.meta.url);

/** A captured /proc/cpuinfo from tests/runtime/fixtures. */
export const cpuinfoFixture = (name: 'amd-epyc' | 'intel-xeon-vnni' | 'raspberry-pi-5'): string =>
  readFileSync(new URL(`cpuinfo-${name}.txt`, FIXTURES), 'utf8');

/** A fresh temporary folder; call the returned function to remove it. */
export function tempDir(prefix = 'kiln-runtime-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A seeded float32 tensor of the given shape. */
export function randomTensor(dims: number[], seed = 1234): TensorData {
  return { type: 'float32', dims, data: new Rng(seed).normalArray(dims.reduce((a, b) => a * b, 1)) };
}

/** The largest |a − b| over every element of every output; the outputs must have the same names and dims. */
export function maxAbsDiff(a: NamedTensors, b: NamedTensors): number {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  let max = 0;
  for (const name of Object.keys(a)) {
    expect([...b[name].dims]).toEqual([...a[name].dims]);
    const x = a[name].data as ArrayLike<number>;
    const y = b[name].data as ArrayLike<number>;
    expect(y.length).toBe(x.length);
    for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
  }
  return max;
}

export { expectKilnError } from '../shared/kiln-error.js';
