/** Shared helpers for the calibration-data tests: temp folders, .npy files, expected errors. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { KilnError, type ErrorCode } from '../../src/errors.js';
import { encodeNpy, type NpyDType } from '../../src/compiler/npy.js';
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
  for (let i = 0; i < values.length; i++) (data as unknown as (number | bigint)[])[i] = data instanceof BigInt64Array || data instanceof BigUint64Array ? BigInt(values[i]) : Number(values[i]);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encodeNpy({ dtype, shape, data }));
}

/** Assert that `run` rejects (or throws) a KilnError with `code` and a message matching every pattern. */
export async function expectKilnError(run: () => unknown, code: ErrorCode, ...patterns: (RegExp | string)[]): Promise<KilnError> {
  let error: unknown;
  try {
    await run();
  } catch (err) {
    error = err;
  }
  expect(error, 'expected a KilnError').toBeInstanceOf(KilnError);
  const k = error as KilnError;
  expect(k.code).toBe(code);
  for (const p of patterns) expect(k.message).toMatch(p);
  return k;
}

/** Every sample of a source, in order (only for small test sources). */
export async function collect(source: CalibrationSource): Promise<CalibrationSample[]> {
  const out: CalibrationSample[] = [];
  for await (const s of source) out.push(s);
  return out;
}
