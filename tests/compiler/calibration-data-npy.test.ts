/** Folders of .npy files: one input, several inputs in subfolders, and every way they can be wrong. */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCalibrationData, type ModelInputSpec } from '../../src/compiler/calibration-data.js';
import { collect, expectKilnError, tempDir, writeNpy } from './calibration-data-helpers.js';

const image: ModelInputSpec[] = [{ name: 'x', dtype: 'float32', shape: ['batch', 2, 3] }];
const twoInputs: ModelInputSpec[] = [
  { name: 'input_ids', dtype: 'int64', shape: [1, 'seq'] },
  { name: 'attention_mask', dtype: 'int64', shape: [1, 'seq'] },
];

describe('a folder of .npy files, one input', () => {
  it('yields one sample per file in natural file-name order, with the batch dim added when missing', async () => {
    const dir = tempDir();
    writeNpy(join(dir, 's10.npy'), 'float32', [1, 2, 3], [10, 10, 10, 10, 10, 10]);
    writeNpy(join(dir, 's2.npy'), 'float32', [2, 3], [2, 2, 2, 2, 2, 2.5]); // no batch dim
    writeNpy(
      join(dir, 's1.npy'),
      'float32',
      [4, 2, 3],
      Array.from({ length: 24 }, (_, i) => i),
    ); // batch of 4: 'batch' is symbolic
    const source = await openCalibrationData(dir, image);
    expect(source.count).toBe(3);
    expect(source.inputsSpec).toEqual([{ name: 'x', dtype: 'float32', shape: ['batch', 2, 3] }]);
    expect([0, 1, 2].map((i) => source.describe(i))).toEqual(['s1.npy', 's2.npy', 's10.npy'].map((f) => join(dir, f)));
    const samples = await collect(source);
    expect(samples.map((s) => s.x.dims)).toEqual([
      [4, 2, 3],
      [1, 2, 3],
      [1, 2, 3],
    ]);
    expect(samples[1].x).toEqual({ type: 'float32', dims: [1, 2, 3], data: Float32Array.of(2, 2, 2, 2, 2, 2.5) });
    expect(samples[0].x.data).toBeInstanceOf(Float32Array);
  });

  it('applies --shape and checks files against it', async () => {
    const dir = tempDir();
    writeNpy(join(dir, 'a.npy'), 'float32', [2, 2, 3], new Array(12).fill(1));
    const k = await expectKilnError(
      () => openCalibrationData(dir, image, { shapes: { x: [1, 2, 3] } }),
      'BAD_SHAPE',
      join(dir, 'a.npy'),
      /shape \[2, 2, 3\] does not fit input 'x' \[1, 2, 3\]: dim 0 must be 1, got 2/,
    );
    expect(k.hint).toMatch(/batch dim of 1 is added automatically/);
    const ok = await openCalibrationData(dir, image, { shapes: { x: [2, 2, 3] } });
    expect(ok.inputsSpec[0].shape).toEqual([2, 2, 3]);
  });

  it('takes a single .npy file as one sample, and a subfolder named after the only input', async () => {
    const dir = tempDir();
    writeNpy(join(dir, 'x', '0.npy'), 'float32', [2, 3], new Array(6).fill(0));
    writeNpy(join(dir, 'x', '1.npy'), 'float32', [2, 3], new Array(6).fill(1));
    expect((await openCalibrationData(dir, image)).count).toBe(2);
    const one = await openCalibrationData(join(dir, 'x', '1.npy'), image);
    expect(one.count).toBe(1);
    expect([...(await one.get(0)).x.data]).toEqual(new Array(6).fill(1));
  });

  it('skips other files with a warning, and hidden files silently', async () => {
    const dir = tempDir();
    writeNpy(join(dir, 'a.npy'), 'float32', [2, 3], new Array(6).fill(0));
    writeFileSync(join(dir, 'README.txt'), 'notes');
    writeFileSync(join(dir, '.DS_Store'), 'x');
    const warnings: string[] = [];
    const source = await openCalibrationData(dir, image, { onWarning: (m) => warnings.push(m) });
    expect(source.count).toBe(1);
    expect(warnings).toEqual([expect.stringMatching(/skipping 1 file that is neither \.npy nor an image \(README\.txt\)/)]);
  });

  describe('BAD CALL - wrong or missing files', () => {
    it('a path that does not exist', async () => {
      await expectKilnError(
        () => openCalibrationData('/nonexistent/calib', image),
        'FILE_NOT_FOUND',
        /calibration data \/nonexistent\/calib: no such file or folder/,
      );
    });
    it('an empty folder', async () => {
      await expectKilnError(() => openCalibrationData(tempDir(), image), 'CALIBRATION_DATA', /the folder is empty; input 'x' needs samples/);
    });
    it('a folder without supported files lists the extensions looked for', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'data.csv'), '1,2');
      writeFileSync(join(dir, 'x.bmp'), 'BM');
      await expectKilnError(
        () => openCalibrationData(dir, image),
        'CALIBRATION_DATA',
        dir,
        /no calibration files for input 'x' \(found data\.csv, x\.bmp; looked for \.npy \.jpg \.jpeg .*\.png \.webp/,
      );
    });
    it('a .npy of the wrong dtype says expected vs got and how to convert', async () => {
      const dir = tempDir();
      writeNpy(join(dir, 'a.npy'), 'float64', [1, 2, 3], new Array(6).fill(0));
      const k = await expectKilnError(
        () => openCalibrationData(dir, image),
        'CALIBRATION_DATA',
        `${join(dir, 'a.npy')}: the array is float64 ('<f8'), input 'x' takes float32`,
      );
      expect(k.hint).toMatch(/astype\(numpy\.float32\)/);
    });
    it('a .npy of the wrong shape says expected vs got', async () => {
      const dir = tempDir();
      writeNpy(join(dir, 'ok.npy'), 'float32', [2, 3], new Array(6).fill(0));
      writeNpy(join(dir, 'wide.npy'), 'float32', [1, 2, 4], new Array(8).fill(0));
      await expectKilnError(
        () => openCalibrationData(dir, image),
        'BAD_SHAPE',
        join(dir, 'wide.npy'),
        /\[1, 2, 4\] does not fit input 'x' \[batch, 2, 3\]: dim 2 must be 3, got 4/,
      );
      const flat = tempDir();
      writeNpy(join(flat, 'flat.npy'), 'float32', [6], new Array(6).fill(0));
      await expectKilnError(() => openCalibrationData(flat, image), 'BAD_SHAPE', /expected rank 3 \(or 2 without the batch dim\), got rank 1/);
    });
    it('a broken .npy file is named, and is caught when the folder is opened', async () => {
      const dir = tempDir();
      writeNpy(join(dir, 'a.npy'), 'float32', [2, 3], new Array(6).fill(0));
      writeFileSync(join(dir, 'b.npy'), 'not numpy');
      writeFileSync(join(dir, 'c.npy'), '');
      await expectKilnError(() => openCalibrationData(dir, image), 'CALIBRATION_DATA', `${join(dir, 'b.npy')}: not a NumPy .npy file`);
      rmSync(join(dir, 'b.npy'));
      await expectKilnError(() => openCalibrationData(dir, image), 'CALIBRATION_DATA', `${join(dir, 'c.npy')}: the file is empty`);
      rmSync(join(dir, 'c.npy'));
      writeNpy(join(dir, 'd.npy'), 'float32', [2, 3], new Array(6).fill(0));
      const { readFileSync } = await import('node:fs');
      writeFileSync(join(dir, 'd.npy'), readFileSync(join(dir, 'd.npy')).subarray(0, 140));
      await expectKilnError(() => openCalibrationData(dir, image), 'CALIBRATION_DATA', join(dir, 'd.npy'), /truncated: .*needs 24 data bytes, the file has 12/);
    });
    it('a folder mixing .npy files and images', async () => {
      const dir = tempDir();
      writeNpy(join(dir, 'a.npy'), 'float32', [2, 3], new Array(6).fill(0));
      writeFileSync(join(dir, 'b.png'), 'x');
      await expectKilnError(() => openCalibrationData(dir, image), 'CALIBRATION_DATA', /mixes \.npy files \(1\) and images \(1\)/);
    });
    it('a file that is neither data nor JSON', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'calib.txt'), '1 2 3');
      await expectKilnError(() => openCalibrationData(join(dir, 'calib.txt'), image), 'CALIBRATION_DATA', /calib\.txt: not a calibration file/);
    });
  });
});

describe('several inputs: one subfolder per input', () => {
  it('pairs files across subfolders by sorted name', async () => {
    const dir = tempDir();
    for (const n of [1, 2, 10]) {
      writeNpy(join(dir, 'input_ids', `${n}.npy`), 'int64', [1, 3], [n, n + 1, n + 2]);
      writeNpy(join(dir, 'attention_mask', `m${n}.npy`), 'int64', [3], [1, 1, n % 2]);
    }
    mkdirSync(join(dir, 'notes'));
    const warnings: string[] = [];
    const source = await openCalibrationData(dir, twoInputs, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([`${dir}: skipping subfolder notes, not named after a model input`]);
    expect(source.count).toBe(3);
    expect(source.describe(2)).toBe(`${join(dir, 'input_ids', '10.npy')} + ${join(dir, 'attention_mask', 'm10.npy')}`);
    const samples = await collect(source);
    expect(samples.map((s) => [...s.input_ids.data])).toEqual([
      [1n, 2n, 3n],
      [2n, 3n, 4n],
      [10n, 11n, 12n],
    ]);
    expect(samples[1].attention_mask).toEqual({ type: 'int64', dims: [1, 3], data: BigInt64Array.of(1n, 1n, 0n) });
  });

  it('finds a subfolder for an input whose name a file name cannot hold', async () => {
    const dir = tempDir();
    writeNpy(join(dir, 'serving_default_x_0', 'a.npy'), 'float32', [2], [1, 2]);
    writeNpy(join(dir, 'y', 'a.npy'), 'float32', [2], [3, 4]);
    const inputs: ModelInputSpec[] = [
      { name: 'serving_default/x:0', dtype: 'float32', shape: [2] },
      { name: 'y', dtype: 'float32', shape: [2] },
    ];
    const [sample] = await collect(await openCalibrationData(dir, inputs));
    expect([...sample['serving_default/x:0'].data]).toEqual([1, 2]);
  });

  describe('BAD CALL - layouts that do not fit', () => {
    it('a subfolder missing for an input names it, the subfolders found, and the inputs', async () => {
      const dir = tempDir();
      writeNpy(join(dir, 'input_ids', '1.npy'), 'int64', [1, 3], [1, 2, 3]);
      writeNpy(join(dir, 'mask', '1.npy'), 'int64', [1, 3], [1, 1, 1]);
      const k = await expectKilnError(
        () => openCalibrationData(dir, twoInputs),
        'CALIBRATION_DATA',
        `${dir}: no subfolder for input 'attention_mask' (subfolders found: input_ids, mask)`,
      );
      expect(k.hint).toMatch(/input_ids \(int64 \[1, seq\]\), attention_mask \(int64 \[1, seq\]\)/);
    });
    it('flat files for a model with several inputs', async () => {
      const dir = tempDir();
      writeNpy(join(dir, '1.npy'), 'int64', [1, 3], [1, 2, 3]);
      await expectKilnError(
        () => openCalibrationData(dir, twoInputs),
        'CALIBRATION_DATA',
        /no subfolder for inputs 'input_ids', 'attention_mask' \(subfolders found: none\)/,
      );
    });
    it('different sample counts across subfolders', async () => {
      const dir = tempDir();
      for (const n of [1, 2, 3]) writeNpy(join(dir, 'input_ids', `${n}.npy`), 'int64', [1, 3], [1, 2, 3]);
      for (const n of [1, 2]) writeNpy(join(dir, 'attention_mask', `${n}.npy`), 'int64', [1, 3], [1, 1, 1]);
      await expectKilnError(
        () => openCalibrationData(dir, twoInputs),
        'CALIBRATION_DATA',
        /different numbers of samples \(input_ids\/: 3, attention_mask\/: 2\)/,
      );
    });
    it('an empty subfolder', async () => {
      const dir = tempDir();
      writeNpy(join(dir, 'input_ids', '1.npy'), 'int64', [1, 3], [1, 2, 3]);
      mkdirSync(join(dir, 'attention_mask'));
      await expectKilnError(
        () => openCalibrationData(dir, twoInputs),
        'CALIBRATION_DATA',
        `${join(dir, 'attention_mask')}: the folder is empty; input 'attention_mask' needs samples`,
      );
    });
    it('one file for a model with several inputs', async () => {
      const dir = tempDir();
      writeNpy(join(dir, '1.npy'), 'int64', [1, 3], [1, 2, 3]);
      await expectKilnError(
        () => openCalibrationData(join(dir, '1.npy'), twoInputs),
        'CALIBRATION_DATA',
        /one file can feed a single-input model; this one has 2 inputs/,
      );
    });
  });
});

describe('BAD CALL - input specs and shapes', () => {
  it('--shape for an input the model lacks, of the wrong rank, or against a static dim', async () => {
    const dir = tempDir();
    writeNpy(join(dir, 'a.npy'), 'float32', [2, 3], new Array(6).fill(0));
    await expectKilnError(
      () => openCalibrationData(dir, image, { shapes: { y: [1, 2, 3] } }),
      'BAD_SHAPE',
      /--shape names input 'y', which the model does not have/,
    );
    await expectKilnError(() => openCalibrationData(dir, image, { shapes: { x: [1, 2] } }), 'BAD_SHAPE', /--shape x=1x2 has rank 2, input 'x' has rank 3/);
    await expectKilnError(() => openCalibrationData(dir, image, { shapes: { x: [1, 5, 3] } }), 'BAD_SHAPE', /sets dim 1 to 5, but the model fixes it at 2/);
    await expectKilnError(() => openCalibrationData(dir, image, { shapes: { x: [0, 2, 3] } }), 'BAD_SHAPE', /every dim must be a positive integer/);
  });
  it('string inputs cannot be calibrated', async () => {
    await expectKilnError(() => openCalibrationData(tempDir(), [{ name: 'text', dtype: 'string', shape: [1] }]), 'CALIBRATION_DATA', /input 'text' is string/);
  });
});
