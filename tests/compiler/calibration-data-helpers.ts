/** Shared helpers for the calibration-data tests: temp folders, .npy files, expected errors. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach } from 'vitest';
import { encodeNpy, type NpyDType } from '../../src/numerics/npy.js';
import { typedArrayFor, dtypeFromShort } from '../../src/onnx/dtypes.js';
import type { CalibrationSample, CalibrationSource } from '../../src/compiler/calibration-data.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp folder, removed after the test. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-calib-'));
  dirs.push(d);
  return d;
}

/** Write a .npy file with kiln's own encoder; `values` are converted to the dtype's array. */
export function writeNpy(path: string, dtype: NpyDType, shape: number[], values: ArrayLike<number | bigint>): void {
  const data = typedArrayFor(dtypeFromShort(dtype), values.length);
  for (let i = 0; i < values.length; i++)
    (data as unknown as (number | bigint)[])[i] = data instanceof BigInt64Array || data instanceof BigUint64Array ? BigInt(values[i]) : Number(values[i]);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encodeNpy({ dtype, shape, data }));
}

export { expectKilnError } from '../shared/kiln-error.js';

/** Every sample of a source, in order (only for small test sources). */
export async function collect(source: CalibrationSource): Promise<CalibrationSample[]> {
  const out: CalibrationSample[] = [];
  for await (const s of source) out.push(s);
  return out;
}
