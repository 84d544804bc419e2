/**
 * Image bytes → an input tensor: kiln's one decoder (sharp: decode, EXIF upright, resize, drop
 * alpha; loaded on first use, most requests never need it) and its one normaliser (src/numerics).
 */
import { decodeImage } from '../../numerics/image-decode.js';
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
  let px: Uint8Array;
  try {
    px = await decodeImage(bytes, plan, { failOn: 'error', what: 'the upload' });
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    throw new RequestError(400, `the upload is not an image sharp can decode (${(cause instanceof Error ? cause : (err as Error)).message})`);
  }
  const count = plan.dims.reduce((a, b) => a * b, 1);
  const data = typedArrayFor(DataType[ONNX_NAMES[plan.dtype]], count);
  writeImage(px, plan, data, 0);
  return { type: plan.dtype, dims: [...plan.dims], data: data as TensorData['data'] };
}
