/**
 * The PP-OCR models fed as their catalog entries say: the detector finds the rendered text and
 * nothing on the blank margin, the recognizer reads rendered words back, and the direction
 * classifier tells upright from upside-down lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrtSession } from '../../src/runtime/ort-node.js';
import {
  argmax,
  ctcGreedyDecode,
  getEntry,
  imageToTensor,
  inkBox,
  mapStats,
  modelLabels,
  padBox,
  renderText,
  resolveModel,
  sampleImage,
  sampleInputs,
  type ImageFeed,
} from '../../src/zoo/index.js';
import { openSession, run } from './helpers.js';

const sessions: Record<string, OrtSession> = {};
beforeAll(async () => {
  for (const name of ['ppocr-det', 'ppocr-rec', 'ppocr-cls']) sessions[name] = await openSession(resolveModel(name).path, name);
});
afterAll(async () => {
  for (const s of Object.values(sessions)) await s.release();
});

const only = <T>(record: Record<string, T>): T => {
  const values = Object.values(record);
  expect(values.length).toBe(1);
  return values[0];
};

describe('ppocr-det', () => {
  const entry = getEntry('ppocr-det');
  const post = entry.feed.kind === 'image' && entry.feed.postprocess?.kind === 'db-probability-map' ? entry.feed.postprocess : undefined;

  it('the catalog gives DB post-processing thresholds', () => {
    expect(post).toEqual({ kind: 'db-probability-map', threshold: 0.3, boxThreshold: 0.6, unclipRatio: 1.5 });
  });

  it('is high where the rendered text is and low on the blank margin', async () => {
    const image = await sampleImage(entry, {}, renderText);
    const ink = inkBox(image)!;
    expect(ink).toBeDefined();
    const feeds = await sampleInputs('ppocr-det');
    const [, , H, W] = feeds.x.dims;
    expect([H % 32, W % 32]).toEqual([0, 0]);
    const map = only(await run(sessions['ppocr-det'], feeds));
    expect(map.dims).toEqual([1, 1, H, W]);
    // The sample canvas needs no resizing (640×160), so image and map coordinates are the same.
    expect([W, H]).toEqual([image.width, image.height]);
    const probs = map.data as Float32Array;
    const midBand = { x0: ink.x0 + 4, x1: ink.x1 - 4, y0: ink.y0 + Math.round((ink.y1 - ink.y0) / 3), y1: ink.y1 - Math.round((ink.y1 - ink.y0) / 3) };
    const inside = mapStats(probs, W, H, midBand);
    const margin = mapStats(probs, W, H, padBox(ink, 16, W, H), true);
    expect(inside.max).toBeGreaterThan(0.9);
    expect(inside.mean).toBeGreaterThan(post!.boxThreshold);
    expect(margin.count).toBeGreaterThan(W * H * 0.5);
    expect(margin.max).toBeLessThan(post!.threshold);
    // Above-threshold pixels span the text line horizontally and stay near it.
    const above = { x0: W, x1: 0, y0: H, y1: 0 };
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        if (probs[y * W + x] <= post!.threshold) continue;
        above.x0 = Math.min(above.x0, x);
        above.x1 = Math.max(above.x1, x + 1);
        above.y0 = Math.min(above.y0, y);
        above.y1 = Math.max(above.y1, y + 1);
      }
    expect(above.x1 - above.x0).toBeGreaterThan(0.85 * (ink.x1 - ink.x0));
    expect(above.x0).toBeGreaterThanOrEqual(ink.x0 - 16);
    expect(above.x1).toBeLessThanOrEqual(ink.x1 + 16);
    expect(above.y0).toBeGreaterThanOrEqual(ink.y0 - 16);
    expect(above.y1).toBeLessThanOrEqual(ink.y1 + 16);
  });

  it('finds nothing on a blank canvas', async () => {
    const map = only(await run(sessions['ppocr-det'], await sampleInputs('ppocr-det', { text: '' })));
    let max = 0;
    for (const v of map.data as Float32Array) max = Math.max(max, v);
    expect(max).toBeLessThan(post!.threshold);
  });
});

describe('ppocr-rec', () => {
  const entry = getEntry('ppocr-rec');
  const labels = modelLabels('ppocr-rec');
  const blank = entry.feed.kind === 'image' && entry.feed.postprocess?.kind === 'ctc-greedy' ? entry.feed.postprocess.blankIndex : -1;

  for (const word of ['kiln2024', 'Hello', 'ONNX Runtime', 'The quick brown fox']) {
    it(`reads ${JSON.stringify(word)} back (greedy CTC over blank + ppocr_keys_v1.txt + space)`, async () => {
      const feeds = await sampleInputs('ppocr-rec', { text: word });
      expect(feeds.x.dims[2]).toBe(48);
      expect(feeds.x.dims[3]).toBeGreaterThanOrEqual(320);
      const out = only(await run(sessions['ppocr-rec'], feeds));
      expect(out.dims[2]).toBe(labels.length);
      const { text, confidence } = ctcGreedyDecode(out.data as Float32Array, out.dims, labels, blank);
      expect(text).toBe(word);
      expect(confidence).toBeGreaterThan(0.8);
    });
  }

  it('keeps the width dynamic: a long line is not squeezed into 320 columns', async () => {
    const word = 'kiln compiles ONNX models for edge devices';
    const feeds = await sampleInputs('ppocr-rec', { text: word });
    expect(feeds.x.dims[3]).toBeGreaterThan(320);
    const out = only(await run(sessions['ppocr-rec'], feeds));
    expect(out.dims[1]).toBe(Math.floor(feeds.x.dims[3] / 8));
    expect(ctcGreedyDecode(out.data as Float32Array, out.dims, labels, blank).text).toBe(word);
  });

  it('control: the same line upside down does not read back', async () => {
    const out = only(await run(sessions['ppocr-rec'], await sampleInputs('ppocr-rec', { text: 'kiln2024', rotate180: true })));
    expect(ctcGreedyDecode(out.data as Float32Array, out.dims, labels, blank).text).not.toBe('kiln2024');
  });
});

describe('ppocr-cls', () => {
  const entry = getEntry('ppocr-cls');
  const labels = modelLabels('ppocr-cls');
  const threshold = entry.feed.kind === 'image' && entry.feed.postprocess?.kind === 'argmax' ? entry.feed.postprocess.threshold! : NaN;

  for (const text of ['The quick brown fox', 'kiln2024', 'ONNX Runtime']) {
    it(`says 0° for upright and 180° for rotated ${JSON.stringify(text)}`, async () => {
      for (const [rotate180, want] of [
        [false, '0'],
        [true, '180'],
      ] as const) {
        const feeds = await sampleInputs('ppocr-cls', { text, rotate180 });
        expect(feeds.x.dims).toEqual([1, 3, 48, 192]);
        const out = only(await run(sessions['ppocr-cls'], feeds));
        const best = argmax(out.data as Float32Array);
        expect(labels[best.index], `rotate180=${rotate180}`).toBe(want);
        expect(best.value).toBeGreaterThanOrEqual(threshold);
      }
    });
  }
});

describe("the catalog's normalization is the one that works", () => {
  it('feeding the recognizer raw 0..255 pixels instead breaks it', async () => {
    const entry = getEntry('ppocr-rec');
    const feed = entry.feed as ImageFeed;
    const line = await sampleImage(entry, { text: 'kiln2024' }, renderText);
    const wrong = imageToTensor(line, { ...feed, scale: 1, mean: [0, 0, 0], std: [1, 1, 1] });
    const out = only(await run(sessions['ppocr-rec'], { x: { type: 'float32', dims: wrong.dims, data: wrong.data } }));
    expect(ctcGreedyDecode(out.data as Float32Array, out.dims, modelLabels('ppocr-rec'), 0).text).not.toBe('kiln2024');
  });
});
