/**
 * Image preprocessing, pure: raw RGB pixels in, normalized tensors out, following a catalog entry's
 * `feed` (resize rule, channel order, scale/mean/std, layout). The PaddleOCR rules are the ones in
 * PaddleOCR's tools/infer/predict_{det,rec,cls}.py; resizing is bilinear with half-pixel centres like
 * OpenCV's INTER_LINEAR.
 */
import { normalizePixels } from '../../numerics/image-preprocess.js';
import type { ImageFeed } from '../catalog.js';

/** 8-bit RGB pixels, row-major, 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A pixel rectangle: x0/y0 inclusive, x1/y1 exclusive. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** What an image tensor came from: its size after resizing (before padding) and the scale applied. */
export interface ImageTensor {
  data: Float32Array;
  dims: number[];
  /** Size of the resized image inside the tensor (the rest is padding). */
  resized: { width: number; height: number };
  /** Tensor pixels per source pixel, horizontally and vertically. */
  scale: { x: number; y: number };
}

export type ImageFeedRule = Pick<ImageFeed, 'layout' | 'channels' | 'resize' | 'scale' | 'mean' | 'std'>;

function checkImage(img: RgbImage, what = 'image'): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width <= 0 || img.height <= 0) {
    throw new RangeError(`${what}: width and height must be positive integers (got ${img.width}×${img.height})`);
  }
  if (img.data.length !== img.width * img.height * 3) {
    throw new RangeError(`${what}: expected ${img.width * img.height * 3} bytes for ${img.width}×${img.height} RGB, got ${img.data.length}`);
  }
}

/** A blank image of one colour. */
export function solidImage(width: number, height: number, rgb: readonly [number, number, number] = [255, 255, 255]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = rgb[0];
    data[i + 1] = rgb[1];
    data[i + 2] = rgb[2];
  }
  return { width, height, data };
}

/** Bilinear resize with half-pixel centres and edge clamping (OpenCV INTER_LINEAR). */
export function resizeBilinear(img: RgbImage, width: number, height: number): RgbImage {
  checkImage(img);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`resizeBilinear: target size must be positive integers (got ${width}×${height})`);
  }
  if (width === img.width && height === img.height) return { width, height, data: img.data.slice() };
  const out = new Uint8Array(width * height * 3);
  const sx = img.width / width;
  const sy = img.height / height;
  const xs = new Int32Array(width * 2);
  const wx = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), img.width - 1);
    const x0 = Math.floor(fx);
    xs[2 * x] = x0;
    xs[2 * x + 1] = Math.min(x0 + 1, img.width - 1);
    wx[x] = fx - x0;
  }
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), img.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const wy = fy - y0;
    const r0 = y0 * img.width * 3;
    const r1 = y1 * img.width * 3;
    for (let x = 0; x < width; x++) {
      const a = xs[2 * x] * 3;
      const b = xs[2 * x + 1] * 3;
      const w = wx[x];
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = img.data[r0 + a + c] * (1 - w) + img.data[r0 + b + c] * w;
        const bottom = img.data[r1 + a + c] * (1 - w) + img.data[r1 + b + c] * w;
        out[o + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { width, height, data: out };
}

/** The pixels inside `box` (clamped to the image). */
export function crop(img: RgbImage, box: Box): RgbImage {
  checkImage(img);
  const x0 = Math.max(0, Math.floor(box.x0));
  const y0 = Math.max(0, Math.floor(box.y0));
  const x1 = Math.min(img.width, Math.ceil(box.x1));
  const y1 = Math.min(img.height, Math.ceil(box.y1));
  if (x1 <= x0 || y1 <= y0) throw new RangeError(`crop: box ${JSON.stringify(box)} is empty inside a ${img.width}×${img.height} image`);
  const width = x1 - x0;
  const data = new Uint8Array(width * (y1 - y0) * 3);
  for (let y = y0; y < y1; y++) data.set(img.data.subarray((y * img.width + x0) * 3, (y * img.width + x1) * 3), (y - y0) * width * 3);
  return { width, height: y1 - y0, data };
}

/** The image turned upside down (rotated by 180°). */
export function rotate180(img: RgbImage): RgbImage {
  checkImage(img);
  const n = img.width * img.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const j = (n - 1 - i) * 3;
    data[i * 3] = img.data[j];
    data[i * 3 + 1] = img.data[j + 1];
    data[i * 3 + 2] = img.data[j + 2];
  }
  return { width: img.width, height: img.height, data };
}

/** Bounding box of the pixels darker than `threshold` (luma 0..255), or undefined when there are none. */
export function inkBox(img: RgbImage, threshold = 128): Box | undefined {
  checkImage(img);
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const o = (y * img.width + x) * 3;
      const luma = 0.299 * img.data[o] + 0.587 * img.data[o + 1] + 0.114 * img.data[o + 2];
      if (luma < threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? undefined : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/** `box` grown by `margin` pixels on each side, clamped to width × height. */
export function padBox(box: Box, margin: number, width: number, height: number): Box {
  return {
    x0: Math.max(0, box.x0 - margin),
    y0: Math.max(0, box.y0 - margin),
    x1: Math.min(width, box.x1 + margin),
    y1: Math.min(height, box.y1 + margin),
  };
}

/**
 * Target sizes for a resize rule: the resized image, and the tensor it sits in (larger where padded).
 * - limit-max-side (PaddleOCR det, limit_type 'max'): ratio = min(1, maxSide / longer side); each
 *   side → max(round(side·ratio / m)·m, m).
 * - fixed-height (PaddleOCR rec/cls): height H, width ceil(H·w/h); the tensor is that width clamped
 *   to [minWidth, maxWidth]; a narrower image is padded on the right, a wider one squeezed.
 * - fixed: exactly width × height.
 */
export function resizeTarget(
  rule: ImageFeed['resize'],
  width: number,
  height: number,
): { resized: { width: number; height: number }; tensor: { width: number; height: number } } {
  switch (rule.mode) {
    case 'limit-max-side': {
      const m = rule.multipleOf;
      const ratio = Math.max(width, height) > rule.maxSide ? rule.maxSide / Math.max(width, height) : 1;
      const w = Math.max(Math.round((width * ratio) / m) * m, m);
      const h = Math.max(Math.round((height * ratio) / m) * m, m);
      return { resized: { width: w, height: h }, tensor: { width: w, height: h } };
    }
    case 'fixed-height': {
      const natural = Math.max(1, Math.ceil((rule.height * width) / height));
      let tensorWidth = Math.max(natural, rule.minWidth ?? 1);
      if (rule.maxWidth !== undefined) tensorWidth = Math.min(tensorWidth, rule.maxWidth);
      return { resized: { width: Math.min(natural, tensorWidth), height: rule.height }, tensor: { width: tensorWidth, height: rule.height } };
    }
    case 'fixed':
      return { resized: { width: rule.width, height: rule.height }, tensor: { width: rule.width, height: rule.height } };
  }
}

/** Gray values (ITU-R BT.601 luma, unrounded) of an RGB image. */
function luma(img: RgbImage): Float64Array {
  const out = new Float64Array(img.width * img.height);
  for (let p = 0; p < out.length; p++) out[p] = 0.299 * img.data[p * 3] + 0.587 * img.data[p * 3 + 1] + 0.114 * img.data[p * 3 + 2];
  return out;
}

/**
 * An image → a [1, C, H, W] ([1, H, W, C], or [1, H·W·C] for 'flat') float32 tensor by the feed's rules:
 * resize, then x = (pixel · scale − mean[c]) / std[c] with channels in the feed's order, then pad
 * (fixed-height rule) with its padValue.
 */
export function imageToTensor(img: RgbImage, feed: ImageFeedRule): ImageTensor {
  checkImage(img);
  const { resized, tensor } = resizeTarget(feed.resize, img.width, img.height);
  const src = resizeBilinear(img, resized.width, resized.height);
  const channels = feed.channels === 'gray' ? 1 : 3;
  const H = tensor.height;
  const W = tensor.width;
  const pad = feed.resize.mode === 'fixed-height' ? feed.resize.padValue : 0;
  const data = new Float32Array(channels * H * W).fill(pad);
  const nchw = feed.layout === 'NCHW';
  const pixels = channels === 1 ? luma(src) : src.data;
  const normalisation = { scale: feed.scale, mean: feed.mean, std: feed.std, reverse: feed.channels === 'BGR', layout: nchw ? 'NCHW' : 'NHWC' } as const;
  normalizePixels(
    pixels,
    resized.width,
    resized.height,
    channels,
    normalisation,
    (i, v) => {
      data[i] = v;
    },
    0,
    tensor,
  );
  return {
    data,
    dims: nchw ? [1, channels, H, W] : feed.layout === 'flat' ? [1, H * W * channels] : [1, H, W, channels],
    resized,
    scale: { x: resized.width / img.width, y: resized.height / img.height },
  };
}
