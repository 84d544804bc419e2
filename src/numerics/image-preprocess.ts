/**
 * Images → input tensors, pure: the plan for an image input (size, layout, channels, normalization,
 * checked against the model's shape), and decoded pixels → tensor values.
 *
 * A value is `(pixel * scale - mean[c]) / std[c]`, with `mean`/`std` in the tensor's channel order
 * (for 'bgr', `mean[0]` is blue's). Integer inputs (uint8, int8) get the value rounded and clamped.
 */
import { KilnError } from '../errors.js';
import { numberToFloat16, type NumericArray } from '../onnx/dtypes.js';
import { formatShape, isDynamicDim, type InputDType, type ResolvedInputSpec } from './input-tensors.js';
// The options' type is part of the pipeline.json contract (src/protocol); the planner is the compiler's.
import { IMAGE_PREPROCESS_KEYS, type ChannelOrder, type ImageLayout, type ImagePreprocess, type ResizeMode } from '../protocol/pipeline.js';

export type { ImageLayout, ResizeMode, ChannelOrder, ImagePreprocess };

const KEYS = IMAGE_PREPROCESS_KEYS;
const IMAGE_DTYPES: readonly InputDType[] = ['float32', 'float16', 'float64', 'uint8', 'int8'];

/** Everything needed to turn one file into one image of an input tensor. Frozen. */
export interface ImagePlan {
  readonly input: string;
  readonly dtype: InputDType;
  readonly layout: ImageLayout;
  readonly resize: ResizeMode;
  readonly channels: ChannelOrder;
  readonly channelCount: 1 | 3;
  readonly height: number;
  readonly width: number;
  /** Images per tensor: the input's static batch dim, or 1. */
  readonly batch: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly scale: number;
  /** The tensor's dims. */
  readonly dims: readonly number[];
}

const badOption = (message: string, hint?: string): KilnError => new KilnError('BAD_PIPELINE', `image preprocessing: ${message}`, { hint });

/** Check the preprocessing options against an image input and settle every default. */
export function planImageInput(spec: ResolvedInputSpec, options: ImagePreprocess = {}): ImagePlan {
  const unknown = Object.keys(options).filter((k) => !(KEYS as readonly string[]).includes(k));
  if (unknown.length) throw badOption(`unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`, `valid options are ${KEYS.join(', ')}`);
  const { shape, name } = spec;
  if (shape.length !== 3 && shape.length !== 4) {
    throw new KilnError('BAD_SHAPE', `input '${name}' ${formatShape(shape)} is not an image tensor (rank 3 or 4)`, {
      hint: 'feed it .npy files or JSON instead of images',
    });
  }
  if (!IMAGE_DTYPES.includes(spec.dtype)) {
    throw badOption(`input '${name}' is ${spec.dtype}; images can feed ${IMAGE_DTYPES.join(', ')} inputs`, 'feed it .npy files or JSON instead of images');
  }
  const b = shape.length - 3; // offset of the first non-batch dim
  const staticIn = (i: number, values: number[]): boolean => !isDynamicDim(shape[i]) && values.includes(shape[i] as number);
  const layout = options.layout ?? (staticIn(b + 2, [1, 3]) && !staticIn(b, [1, 3]) ? 'NHWC' : 'NCHW');
  if (layout !== 'NCHW' && layout !== 'NHWC') throw badOption(`layout '${String(layout)}' is not NCHW or NHWC`);
  const [ci, hi, wi] = layout === 'NCHW' ? [b, b + 1, b + 2] : [b + 2, b, b + 1];
  const modelChannels = isDynamicDim(shape[ci]) ? undefined : (shape[ci] as number);
  const channels = options.channels ?? (modelChannels === 1 ? 'gray' : 'rgb');
  if (!['rgb', 'bgr', 'gray'].includes(channels)) throw badOption(`channels '${String(channels)}' is not rgb, bgr or gray`);
  const channelCount = channels === 'gray' ? 1 : 3;
  if (modelChannels !== undefined && modelChannels !== channelCount) {
    throw badOption(
      `input '${name}' ${formatShape(shape)} has ${modelChannels} channel${modelChannels === 1 ? '' : 's'} (dim ${ci}, ${layout}), but channels '${channels}' gives ${channelCount}`,
      modelChannels === 1 || modelChannels === 3
        ? `use channels '${modelChannels === 1 ? 'gray' : 'rgb'}'${options.layout ? '' : ' or set the layout'}`
        : `check the layout (${layout === 'NCHW' ? 'NHWC' : 'NCHW'}?)`,
    );
  }
  const [height, width] = imageSize(spec, [ci, hi, wi], channelCount, options.size);
  const resize = options.resize ?? 'fill';
  if (!['fill', 'cover', 'contain'].includes(resize)) throw badOption(`resize '${String(resize)}' is not fill, cover or contain`);
  const isFloat = spec.dtype.startsWith('float');
  const scale = options.scale ?? (isFloat ? 1 / 255 : 1);
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw badOption(`scale ${String(scale)} is not a finite number`);
  const mean = perChannel('mean', options.mean ?? [0], channelCount);
  const std = perChannel('std', options.std ?? [1], channelCount);
  if (std.some((s) => s === 0)) throw badOption(`std [${std.join(', ')}] holds a zero`, 'std values divide; use 1 for no scaling');
  let batch = 1;
  if (b === 1) {
    if (!isDynamicDim(shape[0]) && (shape[0] as number) < 1)
      throw new KilnError('BAD_SHAPE', `input '${name}' ${formatShape(shape)} has a batch dim of ${shape[0]}`);
    batch = isDynamicDim(shape[0]) ? 1 : (shape[0] as number);
  }
  const dims = new Array<number>(shape.length);
  if (b === 1) dims[0] = batch;
  dims[ci] = channelCount;
  dims[hi] = height;
  dims[wi] = width;
  return Object.freeze({
    input: name,
    dtype: spec.dtype,
    layout,
    resize,
    channels,
    channelCount,
    height,
    width,
    batch,
    mean: Object.freeze(mean),
    std: Object.freeze(std),
    scale,
    dims: Object.freeze(dims),
  });
}

function imageSize(spec: ResolvedInputSpec, [ci, hi, wi]: readonly number[], channelCount: number, size: ImagePreprocess['size']): [number, number] {
  const { shape, name } = spec;
  if (size !== undefined && (!Array.isArray(size) || size.length !== 2 || !size.every((d) => Number.isSafeInteger(d) && d > 0))) {
    throw badOption(`size ${JSON.stringify(size)} is not [height, width] in positive integers`);
  }
  const fixed = [shape[hi], shape[wi]].map((d) => (isDynamicDim(d) ? undefined : d));
  if (size) {
    fixed.forEach((d, i) => {
      if (d !== undefined && d !== size[i]) {
        throw badOption(
          `size [${size.join(', ')}] does not match input '${name}' ${formatShape(shape)}, whose ${i ? 'width' : 'height'} is fixed at ${d}`,
          `drop the size or use [${fixed.map((f, j) => f ?? size[j]).join(', ')}]`,
        );
      }
    });
    return [size[0], size[1]];
  }
  if (fixed[0] === undefined || fixed[1] === undefined) {
    const example = shape.map((d, i) => (i === hi || i === wi ? 224 : i === ci ? channelCount : isDynamicDim(d) ? 1 : d)).join('x');
    throw new KilnError(
      'BAD_SHAPE',
      `input '${name}' ${formatShape(shape)} has a symbolic ${fixed[0] === undefined ? (fixed[1] === undefined ? 'height and width' : 'height') : 'width'}, so images have no size to be resized to`,
      {
        hint: `pass --shape ${name}=${example} or a preprocessing size [height, width]`,
      },
    );
  }
  return [fixed[0] as number, fixed[1] as number];
}

function perChannel(what: string, values: readonly number[], count: number): number[] {
  if (!Array.isArray(values) || !values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw badOption(`${what} ${JSON.stringify(values)} is not a list of finite numbers`);
  }
  if (values.length === 1) return new Array<number>(count).fill(values[0]);
  if (values.length !== count) throw badOption(`${what} has ${values.length} values; give 1 or ${count} (one per channel)`);
  return [...values];
}

/** How pixels become tensor values: `(pixel * scale - mean[c]) / std[c]`, `mean`/`std` in the tensor's channel order. */
export interface PixelNormalisation {
  readonly scale: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** Take the pixels' channels in reverse order (RGB pixels into a BGR tensor). */
  readonly reverse: boolean;
  /** 'NHWC': channels interleaved (also what a flat [1, H·W·C] tensor holds). */
  readonly layout: 'NCHW' | 'NHWC';
}

/**
 * The one image normaliser (calibration images, the agent's uploads, the zoo's samples). `pixels`:
 * `width` × `height` interleaved pixels of `channels` values each, written through `store` into an
 * image of `size` (at least `width` × `height`; the rest is padding, left alone) starting at `offset`.
 */
export function normalizePixels(
  pixels: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  n: PixelNormalisation,
  store: (index: number, value: number) => void,
  offset = 0,
  size: { readonly width: number; readonly height: number } = { width, height },
): void {
  const { width: W, height: H } = size;
  const nchw = n.layout === 'NCHW';
  for (let c = 0; c < channels; c++) {
    const src = n.reverse ? channels - 1 - c : c;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        // (pixel·scale − mean) / std, computed in the same order for every dtype
        const value = (pixels[(y * width + x) * channels + src] * n.scale - n.mean[c]) / n.std[c];
        store(offset + (nchw ? (c * H + y) * W + x : (y * W + x) * channels + c), value);
      }
    }
  }
}

/**
 * Write one decoded image into image slot `index` of a tensor. `pixels` are interleaved rows of
 * `plan.channelCount` bytes per pixel (RGB order, or gray), `plan.width` × `plan.height`.
 */
export function writeImage(pixels: Uint8Array, plan: ImagePlan, out: NumericArray, index: number): void {
  const { width, height, channelCount: cc, layout } = plan;
  const plane = width * height;
  if (pixels.length !== plane * cc) throw new RangeError(`writeImage: ${pixels.length} bytes for ${width}×${height}×${cc} pixels`);
  if (index < 0 || index >= plan.batch) throw new RangeError(`writeImage: slot ${index} outside a batch of ${plan.batch}`);
  const normalisation = { scale: plan.scale, mean: plan.mean, std: plan.std, reverse: plan.channels === 'bgr', layout };
  normalizePixels(pixels, width, height, cc, normalisation, storeFor(plan.dtype, out), index * plane * cc);
}

function storeFor(dtype: InputDType, out: NumericArray): (i: number, v: number) => void {
  const target = out as unknown as number[];
  switch (dtype) {
    case 'float16':
      return (i, v) => {
        target[i] = numberToFloat16(v);
      };
    case 'uint8':
      return (i, v) => {
        target[i] = Math.min(255, Math.max(0, Math.round(v)));
      };
    case 'int8':
      return (i, v) => {
        target[i] = Math.min(127, Math.max(-128, Math.round(v)));
      };
    default:
      return (i, v) => {
        target[i] = v;
      };
  }
}
