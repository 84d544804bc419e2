/**
 * Shared numerics, used by the compiler (calibration data) and the edge agent (requests) alike:
 * .npy files, model input specs and values turned into tensors, image decoding and normalisation.
 */
export type { TensorData, TensorType, NamedTensors, TypedTensor } from './tensor.js';
export { decodeNpy, encodeNpy, parseNpyHeader, NPY_DTYPES, type NpyArray, type NpyDType, type NpyHeader } from './npy.js';
export {
  resolveInputSpecs,
  toCalibrationTensor,
  type ModelInputSpec,
  type ResolvedInputSpec,
  type CalibrationSample,
  type TensorValue,
} from './input-tensors.js';
export { planImageInput, writeImage, type ImagePlan, type ImagePreprocess } from './image-preprocess.js';
export { decodeImage, IMAGE_EXTENSIONS } from './image-decode.js';
