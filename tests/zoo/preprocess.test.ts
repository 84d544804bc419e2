/** The pure parts of the zoo: resize rules, tensor layout, image ops, audio framing, CTC decoding, sample building. */
import { describe, expect, it } from 'vitest';
import {
  buildSampleInputs,
  crop,
  ctcGreedyDecode,
  frameStream,
  getEntry,
  imageToTensor,
  inkBox,
  makeTensor,
  mapStats,
  resizeBilinear,
  parseCatalog,
  renderText,
  resizeTarget,
  rotate180,
  sampleInputs,
  solidImage,
  synthesize,
  textSvg,
  type CatalogEntry,
  type RgbImage,
} from '../../src/zoo/index.js';

const rgb = (width: number, height: number, f: (x: number, y: number) => [number, number, number]): RgbImage => {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(f(x, y), (y * width + x) * 3);
  return { width, height, data };
};

describe('resize rules (PaddleOCR)', () => {
  it('limit-max-side: never enlarges, shrinks the longer side to maxSide, rounds to multiples of 32', () => {
    const rule = { mode: 'limit-max-side', maxSide: 960, multipleOf: 32 } as const;
    expect(resizeTarget(rule, 640, 160).tensor).toEqual({ width: 640, height: 160 });
    expect(resizeTarget(rule, 650, 100).tensor).toEqual({ width: 640, height: 96 });
    expect(resizeTarget(rule, 1920, 1080).tensor).toEqual({ width: 960, height: 544 }); // 540 → 544
    expect(resizeTarget(rule, 10, 5).tensor).toEqual({ width: 32, height: 32 });
  });

  it('fixed-height: keeps the ratio, pads to minWidth, squeezes past maxWidth', () => {
    const rec = { mode: 'fixed-height', height: 48, minWidth: 320, padValue: 0 } as const;
    expect(resizeTarget(rec, 100, 48)).toEqual({ resized: { width: 100, height: 48 }, tensor: { width: 320, height: 48 } });
    expect(resizeTarget(rec, 1000, 50)).toEqual({ resized: { width: 960, height: 48 }, tensor: { width: 960, height: 48 } });
    const cls = { mode: 'fixed-height', height: 48, minWidth: 192, maxWidth: 192, padValue: 0 } as const;
    expect(resizeTarget(cls, 1000, 50)).toEqual({ resized: { width: 192, height: 48 }, tensor: { width: 192, height: 48 } });
    expect(resizeTarget(cls, 49, 48)).toEqual({ resized: { width: 49, height: 48 }, tensor: { width: 192, height: 48 } });
  });
});

describe('image ops', () => {
  it('resizeBilinear keeps a constant image constant and interpolates a ramp', () => {
    const flat = resizeBilinear(solidImage(7, 5, [10, 20, 30]), 13, 3);
    expect(flat.data.length).toBe(13 * 3 * 3);
    for (let i = 0; i < flat.data.length; i += 3) expect([flat.data[i], flat.data[i + 1], flat.data[i + 2]]).toEqual([10, 20, 30]);
    const ramp = rgb(2, 1, (x) => [x * 100, 0, 0]);
    // Half-pixel centres: 4 columns sample source x = -0.25, 0.25, 0.75, 1.25 (clamped).
    expect(Array.from(resizeBilinear(ramp, 4, 1).data.filter((_, i) => i % 3 === 0))).toEqual([0, 25, 75, 100]);
  });

  it('crop, rotate180 and inkBox', () => {
    const img = rgb(5, 4, (x, y) => (x === 3 && y === 1 ? [0, 0, 0] : [255, 255, 255]));
    expect(inkBox(img)).toEqual({ x0: 3, y0: 1, x1: 4, y1: 2 });
    expect(inkBox(rotate180(img))).toEqual({ x0: 1, y0: 2, x1: 2, y1: 3 });
    expect(inkBox(solidImage(3, 3))).toBeUndefined();
    const c = crop(img, { x0: 2, y0: 0, x1: 5, y1: 2 });
    expect([c.width, c.height]).toEqual([3, 2]);
    expect(inkBox(c)).toEqual({ x0: 1, y0: 1, x1: 2, y1: 2 });
    expect(() => crop(img, { x0: 6, y0: 0, x1: 9, y1: 2 })).toThrow(RangeError);
  });

  it('BAD CALL: an image whose data does not match its size', () => {
    expect(() => inkBox({ width: 2, height: 2, data: new Uint8Array(5) })).toThrow(/expected 12 bytes for 2×2 RGB, got 5/);
    expect(() => resizeBilinear(solidImage(2, 2), 0, 3)).toThrow(RangeError);
  });

  it('imageToTensor: BGR order, per-channel mean/std, NCHW, right padding', () => {
    const img = solidImage(48, 48, [255, 0, 51]); // R=255, G=0, B=51
    const t = imageToTensor(img, {
      layout: 'NCHW',
      channels: 'BGR',
      resize: { mode: 'fixed-height', height: 48, minWidth: 96, padValue: -9 },
      scale: 1 / 255,
      mean: [0.1, 0.2, 0.3],
      std: [0.5, 0.5, 0.5],
    });
    expect(t.dims).toEqual([1, 3, 48, 96]);
    const at = (c: number, y: number, x: number): number => t.data[(c * 48 + y) * 96 + x];
    expect(at(0, 10, 10)).toBeCloseTo((0.2 - 0.1) / 0.5, 6); // channel 0 is blue
    expect(at(1, 10, 10)).toBeCloseTo((0 - 0.2) / 0.5, 6);
    expect(at(2, 10, 10)).toBeCloseTo((1 - 0.3) / 0.5, 6); // channel 2 is red
    expect(at(0, 10, 60)).toBe(-9); // padding
    const nhwc = imageToTensor(img, {
      layout: 'NHWC',
      channels: 'RGB',
      resize: { mode: 'fixed', width: 4, height: 2 },
      scale: 1,
      mean: [0, 0, 0],
      std: [1, 1, 1],
    });
    expect(nhwc.dims).toEqual([1, 2, 4, 3]);
    expect(Array.from(nhwc.data.subarray(0, 3))).toEqual([255, 0, 51]);
    const gray = imageToTensor(solidImage(4, 4, [255, 255, 255]), {
      layout: 'NCHW',
      channels: 'gray',
      resize: { mode: 'fixed', width: 2, height: 2 },
      scale: 1 / 255,
      mean: [0, 0, 0],
      std: [1, 1, 1],
    });
    expect(gray.dims).toEqual([1, 1, 2, 2]);
    expect(gray.data[0]).toBeCloseTo(1, 6);
    const flat = imageToTensor(
      rgb(3, 2, (x, y) => [x * 10 + y, 0, 0]),
      { layout: 'flat', channels: 'gray', resize: { mode: 'fixed', width: 3, height: 2 }, scale: 1, mean: [0, 0, 0], std: [0.299, 1, 1] },
    );
    expect(flat.dims).toEqual([1, 6]);
    expect(Array.from(flat.data).map((v) => Math.round(v))).toEqual([0, 10, 20, 1, 11, 21]); // row-major
  });

  it('textSvg escapes markup in the text', () => {
    expect(textSvg('<a&b>').svg).toContain('&#60;a&#38;b&#62;');
    expect(textSvg('<a&b>').svg).not.toContain('<a&b>');
  });
});

describe('audio', () => {
  it("frameStream prefixes each frame with the previous frame's tail", () => {
    const audio = Float32Array.from({ length: 10 }, (_, i) => i + 1);
    const frames = frameStream(audio, 4, 2);
    expect(frames.map((f) => Array.from(f))).toEqual([
      [0, 0, 1, 2, 3, 4],
      [3, 4, 5, 6, 7, 8],
    ]);
    expect(frameStream(audio, 5, 0).map((f) => Array.from(f))).toEqual([
      [1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10],
    ]);
    expect(() => frameStream(audio, 4, 5)).toThrow(RangeError);
  });

  it('synthesize is deterministic, bounded, and continues across offsets', () => {
    for (const kind of ['silence', 'tone', 'noise', 'voiced'] as const) {
      const a = synthesize(kind, 1024);
      expect(a).toEqual(synthesize(kind, 1024));
      expect(a.every((v) => Math.abs(v) <= 1)).toBe(true);
    }
    expect(synthesize('silence', 100).every((v) => v === 0)).toBe(true);
    expect(synthesize('tone', 512, { offset: 512 })).toEqual(synthesize('tone', 1024).subarray(512));
    expect(synthesize('noise', 64, { seed: 2 })).not.toEqual(synthesize('noise', 64, { seed: 3 }));
  });
});

describe('ctcGreedyDecode', () => {
  const labels = ['<blank>', 'a', 'b', ' '];
  const probs = (steps: number[]): Float32Array => {
    const out = new Float32Array(steps.length * 4);
    steps.forEach((k, t) => {
      out.fill(0.1 / 3, t * 4, t * 4 + 4);
      out[t * 4 + k] = 0.9;
    });
    return out;
  };
  it('merges repeats and drops blanks; a blank separates real repeats', () => {
    expect(ctcGreedyDecode(probs([1, 1, 0, 2, 2, 3, 1, 0, 1]), [1, 9, 4], labels).text).toBe('ab aa');
    expect(ctcGreedyDecode(probs([0, 0]), [2, 4], labels)).toEqual({ text: '', confidence: 0 });
    expect(ctcGreedyDecode(probs([1]), [1, 4], labels).confidence).toBeCloseTo(0.9, 6);
  });
  it('BAD CALL: labels that do not match the classes', () => {
    expect(() => ctcGreedyDecode(probs([1]), [1, 4], ['x'])).toThrow(/1 labels for 4 classes/);
    expect(() => ctcGreedyDecode(probs([1]), [2, 1, 4], labels)).toThrow(/dims must be/);
  });
});

it('mapStats inside and outside a box', () => {
  const map = Float32Array.from([0, 1, 2, 3, 4, 5]); // 3 × 2
  expect(mapStats(map, 3, 2, { x0: 1, y0: 0, x1: 3, y1: 1 })).toEqual({ max: 2, mean: 1.5, count: 2 });
  expect(mapStats(map, 3, 2, { x0: 1, y0: 0, x1: 3, y1: 1 }, true)).toEqual({ max: 5, mean: 3, count: 4 });
});

describe('sample inputs', () => {
  it('makeTensor builds each dtype', () => {
    expect(makeTensor('int64', [], 16000)).toEqual({ type: 'int64', dims: [], data: BigInt64Array.from([16000n]) });
    expect(makeTensor('float32', [2, 2], 0).data).toEqual(new Float32Array(4));
    expect(makeTensor('bool', [3], [0, 2, 0]).data).toEqual(Uint8Array.from([0, 1, 0]));
    expect(() => makeTensor('float32', [3], [1, 2])).toThrow(/2 values for dims \[3\]/);
  });

  it("wake-word models get a synthetic embedding window of the catalog's size, seeded", async () => {
    for (const [name, frames] of [
      ['oww-hello-deepa', 25],
      ['oww-hello-deepa-old', 24],
      ['oww-namaste-deepa', 24],
    ] as const) {
      const feeds = await sampleInputs(name);
      expect(feeds['onnx::Flatten_0'].dims).toEqual([1, frames, 96]);
    }
    const a = await sampleInputs('oww-hello-deepa', { seed: 1 });
    const b = await sampleInputs('oww-hello-deepa', { seed: 1 });
    const c = await sampleInputs('oww-hello-deepa', { seed: 2 });
    expect(a).toEqual(b);
    expect(a['onnx::Flatten_0'].data).not.toEqual(c['onnx::Flatten_0'].data);
  });

  it('BAD CALL: a feed that does not fit the inputs is reported as a catalog problem', async () => {
    const entry = JSON.parse(JSON.stringify(getEntry('oww-hello-deepa'))) as CatalogEntry & { feed: { frames: number } };
    entry.feed.frames = 30;
    await expect(buildSampleInputs(entry, {}, async () => solidImage(1, 1))).rejects.toThrow(/'onnx::Flatten_0' dimension 1 is 25 but the feed builds 30/);
  });

  it('a kiln-built image classifier (file source, gray, light on dark, NHWC) gets an MNIST-like digit', async () => {
    const draft = {
      name: 'digits-demo',
      description: 'a hypothetical MNIST classifier',
      task: 'image-classification',
      source: { kind: 'file', path: 'models/mnist/model.onnx' },
      sha256: 'a'.repeat(64),
      size: 1000,
      license: { spdx: 'Apache-2.0', foundIn: 'trained in this repository' },
      inputs: [{ name: 'image', dtype: 'float32', shape: ['N', 28, 28, 1] }],
      outputs: [{ name: 'probs', dtype: 'float32', shape: ['N', 10] }],
      feed: {
        kind: 'image',
        summary: '28×28 gray digit, white on black, 0..1',
        layout: 'NHWC',
        channels: 'gray',
        resize: { mode: 'fixed', width: 28, height: 28 },
        scale: 1 / 255,
        mean: [0, 0, 0],
        std: [1, 1, 1],
        valueRange: [0, 1],
        polarity: 'light-on-dark',
        labels: { values: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] },
        postprocess: { kind: 'argmax' },
      },
    };
    const [entry] = parseCatalog({ version: 1, models: [draft] }).models;
    const feeds = await buildSampleInputs(entry, {}, renderText);
    const t = feeds.image;
    expect(t.dims).toEqual([1, 28, 28, 1]);
    const data = t.data as Float32Array;
    expect(data.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(data[0]).toBeLessThan(0.05); // dark corner
    expect(Math.max(...data)).toBeGreaterThan(0.9); // bright stroke
    const lit = data.filter((v) => v > 0.5).length;
    expect(lit).toBeGreaterThan(20);
    expect(lit).toBeLessThan((28 * 28) / 2);
  });

  it('BAD CALL: text that renders no pixels cannot make a recognizer sample', async () => {
    await expect(sampleInputs('ppocr-rec', { text: '   ' })).rejects.toThrow(/rendered no visible pixels/);
  });
});
