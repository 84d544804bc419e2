/**
 * Image bytes → an input tensor with sharp (decode, EXIF upright, resize, drop alpha), then the
 * compiler's pure layout/normalization. The only agent module that touches sharp (imported lazily:
 * it is slow to load and most requests never need it).
 */
import { planImageInput, writeImage } from '../../numerics/image-preprocess.js';
import type { InputDType } from '../../numerics/input-tensors.js';
import { typedArrayFor, DataType, type DataTypeName } from '../../onnx/dtypes.js';
import type { TensorSpec } from '../../protocol/manifest.js';
import type { TensorData } from '../../runtime/backend.js';
import { RequestError } from '../errors.js';
import type { ImagePreprocessStep } from '../../protocol/pipeline.js';

/** Plan an image input (throws on options that do not fit the model's input). */
export function planImage(step: ImagePreprocessStep, spec: TensorSpec) {
  const { type: _t, input: _i, ...options } = step;
  return planImageInput({ name: spec.name, dtype: spec.dtype as InputDType, shape: spec.shape }, options);
}

const ONNX_NAMES: Record<string, DataTypeName> = { float32: 'FLOAT', float16: 'FLOAT16', float64: 'DOUBLE', uint8: 'UINT8', int8: 'INT8' };

/** Decode image bytes into the tensor the step and the model's input describe. Bad images are a 400. */
export async function imageToTensor(bytes: Uint8Array, step: ImagePreprocessStep, spec: TensorSpec): Promise<TensorData> {
  const plan = planImage(step, spec);
  const { default: sharp } = await import('sharp');
  let pixels: Buffer;
  let channels: number;
  try {
    let p = sharp(bytes, { failOn: 'error' }).autoOrient().resize(plan.width, plan.height, { fit: plan.resize, position: 'centre', background: { r: 0, g: 0, b: 0, alpha: 1 } }).removeAlpha();
    p = plan.channelCount === 1 ? p.grayscale() : p.toColourspace('srgb');
    const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
    pixels = data;
    channels = info.channels;
    if (info.width !== plan.width || info.height !== plan.height) throw new Error(`got ${info.width}×${info.height}`);
  } catch (err) {
    throw new RequestError(400, `the upload is not an image sharp can decode (${(err as Error).message})`);
  }
  let px = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  if (channels !== plan.channelCount) {
    const n = px.length / channels;
    const out = new Uint8Array(n * plan.channelCount);
    for (let i = 0; i < n; i++) for (let c = 0; c < plan.channelCount; c++) out[i * plan.channelCount + c] = px[i * channels + Math.min(c, channels - 1)];
    px = out;
  }
  const count = plan.dims.reduce((a, b) => a * b, 1);
  const data = typedArrayFor(DataType[ONNX_NAMES[plan.dtype]], count);
  writeImage(px, plan, data, 0);
  return { type: plan.dtype, dims: [...plan.dims], data: data as TensorData['data'] };
}
