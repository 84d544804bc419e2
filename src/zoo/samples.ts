/**
 * Sample inputs for zoo models, built from each catalog entry's `feed`: rendered text for the OCR
 * models, synthetic audio frames plus state and sample-rate inputs for the VADs, synthetic feature
 * windows for models that take features. Pure apart from the text renderer, which is passed in.
 */
import { KilnError } from '../errors.js';
import type { CatalogEntry, ImageFeed, TensorSpec, TensorDType } from './catalog.js';
import { synthesize, frameStream } from './preprocess/audio.js';
import { mulberry32 } from '../onnx/random.js';
import { crop, imageToTensor, inkBox, padBox, rotate180, type RgbImage } from './preprocess/image.js';
import type { RenderTextOptions } from './render.js';
import type { TypedTensor } from '../numerics/tensor.js';
import type { SampleFeeds, SampleOptions } from './types.js';

/** Default text rendered for each image task. */
export const DEFAULT_SAMPLE_TEXT: Readonly<Record<string, string>> = Object.freeze({
  'text-detection': 'kiln model zoo 2024',
  'text-recognition': 'kiln2024',
  'text-direction-classification': 'The quick brown fox',
  'image-classification': '7',
});

/** Where the detector sample puts its text: a 640×160 canvas, 44 px DejaVu Sans from x = 60, baseline 95. */
export const DETECTION_CANVAS: Readonly<RenderTextOptions> = Object.freeze({ width: 640, height: 160, fontSize: 44, x: 60, baseline: 95 });
/** Text lines for recognition and direction are rendered at 40 px, then cropped to the ink plus this margin. */
export const LINE_FONT_SIZE = 40;
export const LINE_MARGIN = 6;

export type TextRenderer = (text: string, options: RenderTextOptions) => Promise<RgbImage>;

const bad = (entry: CatalogEntry, message: string): KilnError =>
  new KilnError('ZOO', `zoo model '${entry.name}': ${message}`, { hint: "the catalog entry's feed does not fit its inputs; fix models/catalog.json" });

function inputSpec(entry: CatalogEntry, name: string | undefined): TensorSpec {
  const spec = name === undefined ? entry.inputs[0] : entry.inputs.find((t) => t.name === name);
  if (!spec) throw bad(entry, `feed names input '${name}', which the entry does not list`);
  return spec as TensorSpec;
}

/** Match actual dims against a spec shape, recording symbolic dims in `bind`. */
function bindDims(entry: CatalogEntry, spec: TensorSpec, dims: readonly number[], bind: Map<string, number>): void {
  if (dims.length !== spec.shape.length) throw bad(entry, `input '${spec.name}' has rank ${spec.shape.length} but the feed builds [${dims.join(', ')}]`);
  spec.shape.forEach((d, i) => {
    if (typeof d === 'number') {
      if (d !== dims[i]) throw bad(entry, `input '${spec.name}' dimension ${i} is ${d} but the feed builds ${dims[i]}`);
    } else if (bind.has(d) && bind.get(d) !== dims[i]) {
      throw bad(entry, `input '${spec.name}' dimension ${i} ('${d}') is ${dims[i]}, elsewhere ${bind.get(d)}`);
    } else {
      bind.set(d, dims[i]);
    }
  });
}

/** Concrete dims for a spec: symbols as bound, unbound symbols 1. */
const concreteDims = (spec: TensorSpec, bind: Map<string, number>): number[] => spec.shape.map((d) => (typeof d === 'number' ? d : (bind.get(d) ?? 1)));

/** A tensor of `dtype` holding `values` (repeated/filled to the element count when it is one value). */
export function makeTensor(dtype: TensorDType, dims: number[], values: ArrayLike<number> | number): TypedTensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const at = (i: number): number => (typeof values === 'number' ? values : values[i]);
  if (typeof values !== 'number' && values.length !== count) throw new RangeError(`makeTensor: ${values.length} values for dims [${dims.join(', ')}]`);
  switch (dtype) {
    case 'float32':
      return { type: dtype, dims, data: Float32Array.from({ length: count }, (_, i) => at(i)) };
    case 'float64':
      return { type: dtype, dims, data: Float64Array.from({ length: count }, (_, i) => at(i)) };
    case 'int8':
      return { type: dtype, dims, data: Int8Array.from({ length: count }, (_, i) => at(i)) };
    case 'uint8':
      return { type: dtype, dims, data: Uint8Array.from({ length: count }, (_, i) => at(i)) };
    case 'bool':
      return { type: dtype, dims, data: Uint8Array.from({ length: count }, (_, i) => (at(i) ? 1 : 0)) };
    case 'int16':
      return { type: dtype, dims, data: Int16Array.from({ length: count }, (_, i) => at(i)) };
    case 'uint16':
      return { type: dtype, dims, data: Uint16Array.from({ length: count }, (_, i) => at(i)) };
    case 'int32':
      return { type: dtype, dims, data: Int32Array.from({ length: count }, (_, i) => at(i)) };
    case 'uint32':
      return { type: dtype, dims, data: Uint32Array.from({ length: count }, (_, i) => at(i)) };
    case 'int64':
      return { type: dtype, dims, data: BigInt64Array.from({ length: count }, (_, i) => BigInt(Math.trunc(at(i)))) };
    case 'uint64':
      return { type: dtype, dims, data: BigUint64Array.from({ length: count }, (_, i) => BigInt(Math.trunc(at(i)))) };
    default:
      throw new RangeError(`makeTensor: sample tensors of type '${dtype}' are not supported`);
  }
}

/**
 * The image an image model's sample is made of:
 * - text-detection: a line of text on a 640×160 white canvas (DETECTION_CANVAS), uncropped;
 * - other tasks: the text rendered at 40 px and cropped to its ink plus a 6 px margin (what a
 *   detector's box crop looks like), turned upside down when `rotate180` is set.
 */
export async function sampleImage(entry: CatalogEntry, options: SampleOptions, render: TextRenderer): Promise<RgbImage> {
  const text = options.text ?? DEFAULT_SAMPLE_TEXT[entry.task] ?? 'kiln';
  const feed = entry.feed as ImageFeed;
  const lightOnDark = feed.polarity === 'light-on-dark';
  const colours = lightOnDark ? { color: '#fff', background: '#000' } : {};
  let img: RgbImage;
  if (entry.task === 'text-detection') {
    img = await render(text, { ...DETECTION_CANVAS, ...colours });
  } else {
    const line = await render(text, { fontSize: LINE_FONT_SIZE, ...colours });
    const ink = inkBox(lightOnDark ? invert(line) : line);
    if (!ink)
      throw new KilnError('ZOO', `zoo model '${entry.name}': the text ${JSON.stringify(text)} rendered no visible pixels`, {
        hint: 'use characters the installed fonts can draw',
      });
    img = crop(line, padBox(ink, LINE_MARGIN, line.width, line.height));
  }
  return options.rotate180 ? rotate180(img) : img;
}

function invert(img: RgbImage): RgbImage {
  return { width: img.width, height: img.height, data: img.data.map((v) => 255 - v) };
}

/** Build the sample inputs of one model. */
export async function buildSampleInputs(entry: CatalogEntry, options: SampleOptions, render: TextRenderer): Promise<SampleFeeds> {
  const feed = entry.feed;
  const bind = new Map<string, number>();
  const feeds: SampleFeeds = {};
  const seed = options.seed ?? 1;
  switch (feed.kind) {
    case 'image': {
      const spec = inputSpec(entry, feed.input);
      const img = await sampleImage(entry, options, render);
      const t = imageToTensor(img, feed as ImageFeed);
      bindDims(entry, spec, t.dims, bind);
      if (spec.dtype !== 'float32') throw bad(entry, `image input '${spec.name}' is ${spec.dtype}; image feeds build float32`);
      feeds[spec.name] = { type: 'float32', dims: t.dims, data: t.data };
      break;
    }
    case 'audio': {
      const spec = inputSpec(entry, feed.input);
      const audio = synthesize(options.signal ?? 'voiced', feed.frameSamples, { sampleRate: feed.sampleRate, seed });
      // The first frame of a stream: its context is zeros.
      const [frame] = frameStream(audio, feed.frameSamples, feed.contextSamples);
      const dims = [1, frame.length];
      bindDims(entry, spec, dims, bind);
      feeds[spec.name] = makeTensor(spec.dtype, dims, frame);
      for (const [name, value] of Object.entries(feed.constants)) {
        const c = inputSpec(entry, name);
        feeds[name] = makeTensor(c.dtype, concreteDims(c, bind), value);
      }
      for (const s of feed.state) {
        const st = inputSpec(entry, s.input);
        feeds[s.input] = makeTensor(st.dtype, concreteDims(st, bind), 0);
      }
      break;
    }
    case 'features': {
      const spec = inputSpec(entry, feed.input);
      const dims = [1, feed.frames, feed.featureSize];
      bindDims(entry, spec, dims, bind);
      const [lo, hi] = feed.valueRange ?? [-1, 1];
      const rnd = mulberry32(seed);
      const count = dims.reduce((a, b) => a * b, 1);
      feeds[spec.name] = makeTensor(
        spec.dtype,
        dims,
        Float32Array.from({ length: count }, () => lo + (hi - lo) * rnd()),
      );
      break;
    }
  }
  const missing = entry.inputs.filter((t) => !(t.name in feeds));
  if (missing.length) throw bad(entry, `the feed gives no value for input${missing.length > 1 ? 's' : ''} ${missing.map((t) => `'${t.name}'`).join(', ')}`);
  return feeds;
}
