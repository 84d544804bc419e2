/** JSON files of samples and samples given in memory: conversion per dtype, shapes, names. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { calibrationFromSamples, openCalibrationData, type ModelInputSpec } from '../../src/compiler/calibration-data.js';
import { collect, expectKilnError, tempDir } from './calibration-data-helpers.js';

const inputs: ModelInputSpec[] = [
  { name: 'pixels', dtype: 'float32', shape: [1, 2, 2] },
  { name: 'ids', dtype: 'int64', shape: ['batch', 'seq'] },
];

function jsonFile(content: unknown): string {
  const path = join(tempDir(), 'calib.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('a JSON file of samples', () => {
  it('reads nested arrays (batch dim added) and { dims, data }', async () => {
    const path = jsonFile([
      {
        pixels: [
          [0.5, 1],
          [2, 3],
        ],
        ids: [[1, 2, 3]],
      },
      { pixels: { dims: [1, 2, 2], data: [4, 5, 6, 7] }, ids: { dims: [2, 1], data: [9007199254740991, -5] } },
    ]);
    const source = await openCalibrationData(path, inputs);
    expect(source.count).toBe(2);
    expect(source.describe(1)).toBe(`${path}[1]`);
    const [a, b] = await collect(source);
    expect(a.pixels).toEqual({ type: 'float32', dims: [1, 2, 2], data: Float32Array.of(0.5, 1, 2, 3) });
    expect(a.ids).toEqual({ type: 'int64', dims: [1, 3], data: BigInt64Array.of(1n, 2n, 3n) });
    expect(b.pixels.data).toEqual(Float32Array.of(4, 5, 6, 7));
    expect(b.ids).toEqual({ type: 'int64', dims: [2, 1], data: BigInt64Array.of(9007199254740991n, -5n) });
  });

  it('converts to each input dtype: bool, float16, uint8', async () => {
    const spec: ModelInputSpec[] = [
      { name: 'mask', dtype: 'bool', shape: [3] },
      { name: 'half', dtype: 'float16', shape: [2] },
      { name: 'u8', dtype: 'uint8', shape: [2] },
    ];
    const [s] = await collect(await openCalibrationData(jsonFile([{ mask: [true, false, 1], half: [1, -2], u8: [0, 255] }]), spec));
    expect(s.mask).toEqual({ type: 'bool', dims: [3], data: Uint8Array.of(1, 0, 1) });
    expect(s.half).toEqual({ type: 'float16', dims: [2], data: Uint16Array.of(0x3c00, 0xc000) });
    expect(s.u8).toEqual({ type: 'uint8', dims: [2], data: Uint8Array.of(0, 255) });
  });

  describe('BAD CALL - JSON that does not fit the model', () => {
    it('names that do not match list the model inputs', async () => {
      const k = await expectKilnError(
        () =>
          openCalibrationData(
            jsonFile([
              {
                pixels: [
                  [1, 2],
                  [3, 4],
                ],
                ids: [[1]],
              },
              {
                image: [
                  [1, 2],
                  [3, 4],
                ],
                ids: [[1]],
              },
            ]),
            inputs,
          ),
        'CALIBRATION_DATA',
        /calib\.json\[1\]: the sample misses 'pixels' and names 'image', which the model does not have/,
      );
      expect(k.hint).toBe("the model's inputs are pixels (float32 [1, 2, 2]), ids (int64 [batch, seq])");
    });
    it('not JSON, not an array, an empty array, a sample that is not an object', async () => {
      await expectKilnError(() => openCalibrationData(jsonFile('[{"pixels": [1,'), inputs), 'CALIBRATION_DATA', /calib\.json: not valid JSON/);
      const k = await expectKilnError(
        () => openCalibrationData(jsonFile({ pixels: [1] }), inputs),
        'CALIBRATION_DATA',
        /expected an array of samples, got object/,
      );
      expect(k.hint).toBe('write [{"pixels": [...], "ids": [...]}, ...]');
      await expectKilnError(() => openCalibrationData(jsonFile([]), inputs), 'CALIBRATION_DATA', /the array holds no samples/);
      await expectKilnError(
        () => openCalibrationData(jsonFile([[1, 2]]), inputs),
        'CALIBRATION_DATA',
        /calib\.json\[0\]: a sample must be an object mapping input names to tensors, got an array/,
      );
    });
    it('shapes: wrong dims, ragged arrays, dims that disagree with data', async () => {
      await expectKilnError(
        () => openCalibrationData(jsonFile([{ pixels: [1, 2, 3, 4], ids: [[1]] }]), inputs),
        'BAD_SHAPE',
        /calib\.json\[0\]\.pixels: shape \[4\] does not fit input 'pixels' \[1, 2, 2\]: expected rank 3 \(or 2 without the batch dim\), got rank 1/,
      );
      await expectKilnError(
        () => openCalibrationData(jsonFile([{ pixels: [[1, 2], [3]], ids: [[1]] }]), inputs),
        'CALIBRATION_DATA',
        /pixels: nested arrays are not rectangular \(expected 2 items at depth 1, got 1\)/,
      );
      await expectKilnError(
        () => openCalibrationData(jsonFile([{ pixels: { dims: [1, 2, 2], data: [1, 2, 3] }, ids: [[1]] }]), inputs),
        'CALIBRATION_DATA',
        /'data' must be a flat array of 4 values for dims \[1, 2, 2\], got 3 values/,
      );
      await expectKilnError(
        () =>
          openCalibrationData(
            jsonFile([
              {
                pixels: [
                  ['a', 2],
                  [3, 4],
                ],
                ids: [[1]],
              },
            ]),
            inputs,
          ),
        'CALIBRATION_DATA',
        /expected a number at depth 2, got "a"/,
      );
    });
    it('values that do not suit the dtype are caught when the sample is read', async () => {
      const source = await openCalibrationData(
        jsonFile([
          {
            pixels: [
              [1, 2],
              [3, 4],
            ],
            ids: [[1, 2.5]],
          },
        ]),
        inputs,
      );
      await expectKilnError(() => source.get(0), 'CALIBRATION_DATA', /calib\.json\[0\]\.ids: value #1 \(2\.5\) is not an integer \(int64\)/);
      const u8 = await openCalibrationData(jsonFile([{ b: [256] }]), [{ name: 'b', dtype: 'uint8', shape: [1] }]);
      await expectKilnError(() => u8.get(0), 'CALIBRATION_DATA', /value #0 \(256\) is not an integer in uint8's range \[0, 255\]/);
    });
  });
});

describe('samples in memory', () => {
  it("takes the zoo's { type, dims, data } tensors and yields copies", async () => {
    const original = Float32Array.of(1, 2, 3, 4);
    const source = calibrationFromSamples(
      [{ pixels: { type: 'float32', dims: [1, 2, 2], data: original }, ids: { type: 'int64', dims: [1, 1], data: BigInt64Array.of(7n) } }],
      inputs,
      { origin: 'zoo:mnist' },
    );
    expect(source.origin).toBe('zoo:mnist');
    const first = await source.get(0);
    expect(first.pixels).toEqual({ type: 'float32', dims: [1, 2, 2], data: original });
    expect(first.pixels.data).not.toBe(original);
    first.pixels.data[0] = 99;
    expect(original[0]).toBe(1);
    expect((await source.get(0)).pixels.data[0]).toBe(1);
  });

  it('takes plain nested arrays too', async () => {
    const [s] = await collect(
      calibrationFromSamples(
        [
          {
            pixels: [
              [1, 2],
              [3, 4],
            ],
            ids: [[5]],
          },
        ],
        inputs,
      ),
    );
    expect(s.ids.data).toEqual(BigInt64Array.of(5n));
  });

  it('BAD CALL - a typed array of another type, a type that differs, no samples, missing names', async () => {
    await expectKilnError(
      () => calibrationFromSamples([{ pixels: { dims: [1, 2, 2], data: Float64Array.of(1, 2, 3, 4) }, ids: [[1]] }], inputs).get(0),
      'CALIBRATION_DATA',
      /samples in memory\[0\]\.pixels: input 'pixels' is float32 and takes a Float32Array, got a Float64Array/,
    );
    await expectKilnError(
      () => calibrationFromSamples([{ pixels: { type: 'float64', dims: [1, 2, 2], data: [1, 2, 3, 4] }, ids: [[1]] }], inputs).get(0),
      'CALIBRATION_DATA',
      /tensor type is float64, input 'pixels' takes float32/,
    );
    await expectKilnError(() => calibrationFromSamples([], inputs), 'CALIBRATION_DATA', /samples in memory: no samples given/);
    await expectKilnError(
      () =>
        calibrationFromSamples(
          [
            {
              pixels: [
                [1, 2],
                [3, 4],
              ],
            },
          ],
          inputs,
        ),
      'CALIBRATION_DATA',
      /samples in memory\[0\]: the sample misses 'ids'/,
    );
  });
});
