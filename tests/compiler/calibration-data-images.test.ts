/** Folders of images: decoding with sharp, resizing, and exact preprocessed values. */
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { openCalibrationData, type ModelInputSpec } from '../../src/compiler/calibration-data.js';
import { float16ToNumber } from '../../src/onnx/dtypes.js';
import { collect, expectKilnError, tempDir, writeNpy } from './calibration-data-helpers.js';

/** Write a lossless PNG from interleaved pixel rows. */
async function png(path: string, width: number, height: number, channels: 1 | 3, pixels: number[]): Promise<void> {
  await sharp(Buffer.from(pixels), { raw: { width, height, channels } }).png().toFile(path);
}

// 2×2 pixels, rows top to bottom: red, green / blue, (10, 20, 30)
const PIXELS = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
const NORM = { scale: 1, mean: [10, 20, 30], std: [2, 4, 5] };
// (R − 10)/2, (G − 20)/4, (B − 30)/5 per pixel, worked out by hand
const R = [122.5, -5, -5, 0];
const G = [-5, 58.75, -5, 0];
const B = [-6, -6, 45, 0];

async function tinyImageFolder(): Promise<string> {
  const dir = tempDir();
  await png(join(dir, 'a.png'), 2, 2, 3, PIXELS);
  return dir;
}

const input = (shape: (number | string)[], dtype = 'float32', name = 'x'): ModelInputSpec[] => [{ name, dtype, shape }];

describe('a folder of images', () => {
  it('NCHW: exact values of (pixel·scale − mean) / std', async () => {
    const [s] = await collect(await openCalibrationData(await tinyImageFolder(), input([1, 3, 2, 2]), { preprocess: { layout: 'NCHW', ...NORM } }));
    expect(s.x.type).toBe('float32');
    expect(s.x.dims).toEqual([1, 3, 2, 2]);
    expect([...s.x.data]).toEqual([...R, ...G, ...B]);
  });

  it('NHWC: the same values interleaved per pixel (layout inferred from the shape)', async () => {
    const [s] = await collect(await openCalibrationData(await tinyImageFolder(), input(['N', 2, 2, 3]), { preprocess: NORM }));
    expect(s.x.dims).toEqual([1, 2, 2, 3]);
    expect([...s.x.data]).toEqual([0, 1, 2, 3].flatMap((p) => [R[p], G[p], B[p]]));
  });

  it('bgr: channels swapped, with mean/std given in the tensor (BGR) order', async () => {
    const [s] = await collect(
      await openCalibrationData(await tinyImageFolder(), input([1, 3, 2, 2]), {
        preprocess: { channels: 'bgr', scale: 1, mean: [30, 20, 10], std: [5, 4, 2] },
      }),
    );
    expect([...s.x.data]).toEqual([...B, ...G, ...R]);
  });

  it('defaults: scale 1/255, ImageNet mean/std give the familiar values; rank-3 inputs have no batch dim', async () => {
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const [s] = await collect(await openCalibrationData(await tinyImageFolder(), input([3, 2, 2]), { preprocess: { mean, std } }));
    expect(s.x.dims).toEqual([3, 2, 2]);
    const expected = [R, G, B].flatMap((_, c) => [0, 1, 2, 3].map((p) => (PIXELS[p * 3 + c] / 255 - mean[c]) / std[c]));
    [...s.x.data].forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    expect(s.x.data[0]).toBeCloseTo(2.2489, 4); // (1 − 0.485) / 0.229
  });

  it('uint8 inputs take raw pixels by default; float16 inputs get binary16 bits', async () => {
    const dir = await tinyImageFolder();
    const [u] = await collect(await openCalibrationData(dir, input([1, 2, 2, 3], 'uint8')));
    expect(u.x).toEqual({ type: 'uint8', dims: [1, 2, 2, 3], data: Uint8Array.from(PIXELS) });
    const [h] = await collect(await openCalibrationData(dir, input([1, 3, 2, 2], 'float16')));
    expect(h.x.data).toBeInstanceOf(Uint16Array);
    expect(h.x.data[0]).toBe(0x3c00); // 255/255 = 1.0
    [...h.x.data].forEach((bits, i) => expect(float16ToNumber(bits as number)).toBeCloseTo(PIXELS[(i % 4) * 3 + Math.floor(i / 4)] / 255, 3));
  });

  it('gray: a 1-channel model reads gray images exactly and converts colour ones', async () => {
    const dir = tempDir();
    await png(join(dir, 'a.png'), 2, 2, 1, [0, 128, 255, 7]);
    await png(join(dir, 'b.png'), 2, 2, 3, [0, 0, 0, 128, 128, 128, 255, 255, 255, 7, 7, 7]);
    const samples = await collect(await openCalibrationData(dir, input([1, 1, 2, 2]), { preprocess: { scale: 1 } }));
    expect(samples[0].x).toEqual({ type: 'float32', dims: [1, 1, 2, 2], data: Float32Array.of(0, 128, 255, 7) });
    [0, 128, 255, 7].forEach((v, i) => expect(Math.abs((samples[1].x.data[i] as number) - v)).toBeLessThanOrEqual(1));
  });

  it('resize: fill stretches, cover crops the centre, contain pads with black', async () => {
    const dir = tempDir();
    // 4 wide × 2 high, columns A B C D
    const cols = [
      [10, 10, 10],
      [20, 20, 20],
      [30, 30, 30],
      [40, 40, 40],
    ];
    await png(join(dir, 'wide.png'), 4, 2, 3, [...cols, ...cols].flat());
    const opts = { preprocess: { scale: 1, channels: 'gray' as const } };
    const [cover] = await collect(await openCalibrationData(dir, input([1, 1, 2, 2]), { preprocess: { ...opts.preprocess, resize: 'cover' } }));
    expect([...cover.x.data]).toEqual([20, 30, 20, 30]);
    // contain into 4 wide × 4 high: the 4×2 image sits in rows 1–2
    const [contain] = await collect(await openCalibrationData(dir, input([1, 1, 4, 4]), { preprocess: { ...opts.preprocess, resize: 'contain' } }));
    expect([...contain.x.data]).toEqual([0, 0, 0, 0, 10, 20, 30, 40, 10, 20, 30, 40, 0, 0, 0, 0]);

    const solid = tempDir();
    await png(join(solid, 's.png'), 5, 3, 3, new Array(15).fill([50, 100, 150]).flat());
    const [fill] = await collect(await openCalibrationData(solid, input([1, 2, 2, 3]), { preprocess: { scale: 1 } }));
    expect([...fill.x.data]).toEqual([50, 100, 150, 50, 100, 150, 50, 100, 150, 50, 100, 150]);
  });

  it('symbolic height/width take a size or --shape', async () => {
    const dir = await tinyImageFolder();
    const dyn = input(['N', 3, 'H', 'W']);
    const k = await expectKilnError(() => openCalibrationData(dir, dyn), 'BAD_SHAPE', /input 'x' \[N, 3, H, W\] has a symbolic height and width/);
    expect(k.hint).toBe('pass --shape x=1x3x224x224 or a preprocessing size [height, width]');
    const bySize = await collect(await openCalibrationData(dir, dyn, { preprocess: { size: [2, 2], ...NORM } }));
    expect([...bySize[0].x.data]).toEqual([...R, ...G, ...B]);
    const byShape = await collect(await openCalibrationData(dir, dyn, { shapes: { x: [1, 3, 2, 2] }, preprocess: NORM }));
    expect(byShape[0].x.dims).toEqual([1, 3, 2, 2]);
  });

  it('a static batch dim above 1 takes that many images per sample; left-over images are reported', async () => {
    const dir = tempDir();
    for (let i = 0; i < 5; i++) await png(join(dir, `${i}.png`), 1, 1, 3, [i, i, i]);
    const warnings: string[] = [];
    const source = await openCalibrationData(dir, input([2, 3, 1, 1]), { preprocess: { scale: 1 }, onWarning: (m) => warnings.push(m) });
    expect(source.count).toBe(2);
    expect(warnings).toEqual([expect.stringMatching(/1 image\(s\) left over after 2 samples of 2/)]);
    const samples = await collect(source);
    expect(samples[1].x).toEqual({ type: 'float32', dims: [2, 3, 1, 1], data: Float32Array.of(2, 2, 2, 3, 3, 3) });
  });

  it('JPEG files decode (lossy: values close to the source colour)', async () => {
    const dir = tempDir();
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 100, b: 50 } } })
      .jpeg({ quality: 95 })
      .toFile(join(dir, 'a.jpg'));
    const [s] = await collect(await openCalibrationData(dir, input([1, 3, 8, 8]), { preprocess: { scale: 1 } }));
    for (let c = 0; c < 3; c++) expect(Math.abs((s.x.data[c * 64] as number) - [200, 100, 50][c])).toBeLessThanOrEqual(3);
  });

  it('images and .npy files feed different inputs of one model', async () => {
    const dir = tempDir();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'image'));
    await png(join(dir, 'image', '1.png'), 2, 2, 3, PIXELS);
    writeNpy(join(dir, 'ratio', '1.npy'), 'float32', [1], [0.5]);
    const inputs: ModelInputSpec[] = [
      { name: 'image', dtype: 'float32', shape: [1, 3, 2, 2] },
      { name: 'ratio', dtype: 'float32', shape: [1] },
    ];
    const [s] = await collect(await openCalibrationData(dir, inputs, { preprocess: NORM }));
    expect([...s.image.data]).toEqual([...R, ...G, ...B]);
    expect([...s.ratio.data]).toEqual([0.5]);
  });

  describe('BAD CALL - images that cannot be read or options that do not fit', () => {
    it('an image sharp cannot decode is named when its sample is read', async () => {
      const dir = await tinyImageFolder();
      writeFileSync(join(dir, 'b.jpg'), 'this is not a JPEG');
      const good = readFileSync(join(dir, 'a.png'));
      writeFileSync(join(dir, 'c.png'), good.subarray(0, Math.floor(good.length / 2)));
      const source = await openCalibrationData(dir, input([1, 3, 2, 2]));
      expect(source.count).toBe(3);
      await source.get(0);
      const k = await expectKilnError(() => source.get(1), 'CALIBRATION_DATA', `${join(dir, 'b.jpg')}: sharp cannot decode this image`);
      expect(k.hint).toMatch(/re-save it as PNG or JPEG/);
      await expectKilnError(() => source.get(2), 'CALIBRATION_DATA', `${join(dir, 'c.png')}: sharp cannot decode this image`);
      await expectKilnError(() => collect(source), 'CALIBRATION_DATA', 'b.jpg');
    });
    it('channel count, size, layout and option values that contradict the model', async () => {
      const dir = await tinyImageFolder();
      await expectKilnError(
        () => openCalibrationData(dir, input([1, 1, 2, 2]), { preprocess: { channels: 'rgb' } }),
        'BAD_PIPELINE',
        /input 'x' \[1, 1, 2, 2\] has 1 channel \(dim 1, NCHW\), but channels 'rgb' gives 3/,
      );
      await expectKilnError(
        () => openCalibrationData(dir, input([1, 3, 2, 2]), { preprocess: { size: [4, 4] } }),
        'BAD_PIPELINE',
        /size \[4, 4\] does not match input 'x' \[1, 3, 2, 2\], whose height is fixed at 2/,
      );
      await expectKilnError(
        () => openCalibrationData(dir, input([1, 3, 2, 2]), { preprocess: { layout: 'NHWC' } }),
        'BAD_PIPELINE',
        /has 2 channels \(dim 3, NHWC\)/,
      );
      await expectKilnError(
        () => openCalibrationData(dir, input([1, 3, 2, 2]), { preprocess: { std: [1, 0, 1] } }),
        'BAD_PIPELINE',
        /std \[1, 0, 1\] holds a zero/,
      );
      await expectKilnError(
        () => openCalibrationData(dir, input([1, 3, 2, 2]), { preprocess: { mean: [1, 2] } }),
        'BAD_PIPELINE',
        /mean has 2 values; give 1 or 3/,
      );
      await expectKilnError(
        () => openCalibrationData(dir, input([1, 3, 2, 2]), { preprocess: { normalise: true } as never }),
        'BAD_PIPELINE',
        /unknown option normalise/,
      );
      await expectKilnError(
        () => openCalibrationData(dir, input([1, 3, 2, 2]), { preprocess: { resize: 'stretch' as never } }),
        'BAD_PIPELINE',
        /resize 'stretch' is not fill, cover or contain/,
      );
    });
    it('inputs that are not images', async () => {
      const dir = await tinyImageFolder();
      await expectKilnError(() => openCalibrationData(dir, input([1, 12])), 'BAD_SHAPE', /input 'x' \[1, 12\] is not an image tensor/);
      await expectKilnError(
        () => openCalibrationData(dir, input([1, 3, 2, 2], 'int64')),
        'BAD_PIPELINE',
        /input 'x' is int64; images can feed float32, float16, float64, uint8, int8 inputs/,
      );
    });
    it('fewer images than a static batch needs', async () => {
      const dir = await tinyImageFolder();
      await expectKilnError(() => openCalibrationData(dir, input([4, 3, 2, 2])), 'CALIBRATION_DATA', /takes 4 images per sample \(batch dim 4\), only 1 found/);
    });
  });
});
