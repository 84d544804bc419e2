/**
 * Image files or bytes → resized 8-bit pixels with sharp: kiln's one image decoder (calibration folders and the agent's uploads).
 *
 * Photos are turned upright from their EXIF orientation, alpha is dropped (as PIL's
 * `convert('RGB')` does), and grayscale uses sharp's luminance conversion.
 */
import type { OutputInfo } from 'sharp';
import { KilnError } from '../errors.js';
import type { ChannelOrder, ResizeMode } from './image-preprocess.js';

/** File extensions read as images (lower case, with the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze(['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

export interface DecodeTarget {
  width: number;
  height: number;
  resize: ResizeMode;
  channels: ChannelOrder;
}

export interface DecodeOptions {
  /** What the bytes are, for messages. @default the file's path, or 'image' */
  what?: string;
  /** sharp's `failOn`: how bad an image must be to be refused. @default 'warning' */
  failOn?: 'none' | 'truncated' | 'error' | 'warning';
}

/**
 * Decode an image file (or its bytes) and resize it to `target`: interleaved rows, 3 bytes per
 * pixel in RGB order (for 'rgb' and 'bgr'; the swap happens when the tensor is written) or 1 for
 * 'gray'. The one module that touches sharp (imported on first use: it is slow to load).
 */
export async function decodeImage(source: string | Uint8Array, target: DecodeTarget, options: DecodeOptions = {}): Promise<Uint8Array> {
  const file = options.what ?? (typeof source === 'string' ? source : 'image');
  const want = target.channels === 'gray' ? 1 : 3;
  const { default: sharp } = await import('sharp');
  let data: Buffer;
  let info: OutputInfo;
  try {
    let pipeline = sharp(source, options.failOn ? { failOn: options.failOn } : {})
      .autoOrient()
      .resize(target.width, target.height, {
        fit: target.resize,
        position: 'centre',
        background: { r: 0, g: 0, b: 0, alpha: 1 },
      })
      .removeAlpha();
    pipeline = want === 1 ? pipeline.grayscale() : pipeline.toColourspace('srgb');
    ({ data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new KilnError('CALIBRATION_DATA', `${file}: sharp cannot decode this image (${(err as Error).message})`, {
      hint: 'remove the file from the calibration folder, or re-save it as PNG or JPEG',
      cause: err,
    });
  }
  if (info.width !== target.width || info.height !== target.height) {
    throw new KilnError('INTERNAL', `${file}: sharp returned ${info.width}×${info.height} pixels, ${target.width}×${target.height} were asked for`);
  }
  return toChannels(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info.channels, want);
}

/** Convert interleaved pixels with `have` channels to `want` (1 or 3), dropping alpha. */
function toChannels(pixels: Uint8Array, have: number, want: 1 | 3): Uint8Array {
  if (have === want) return pixels;
  const n = pixels.length / have;
  const out = new Uint8Array(n * want);
  const colour = have >= 3;
  for (let p = 0; p < n; p++) {
    const s = p * have;
    if (want === 1) out[p] = colour ? Math.round(0.2126 * pixels[s] + 0.7152 * pixels[s + 1] + 0.0722 * pixels[s + 2]) : pixels[s];
    else {
      out[p * 3] = pixels[s];
      out[p * 3 + 1] = colour ? pixels[s + 1] : pixels[s];
      out[p * 3 + 2] = colour ? pixels[s + 2] : pixels[s];
    }
  }
  return out;
}
