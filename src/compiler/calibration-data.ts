/**
 * Calibration and evaluation data for the compiler: `kiln compile --calibration PATH` turns PATH
 * into a stream of named input samples for the model being compiled.
 *
 * PATH may be:
 * - a folder of images (jpg, png, webp, gif, tiff, avif), for a model with one image input: each
 *   image is decoded, resized to the input's height × width (from its static dims, `--shape`, or
 *   the preprocessing `size`) and normalized as `preprocess` says;
 * - a folder of `.npy` files, one sample each, for a single-input model. The dtype must be the
 *   input's; the shape must fit it (static dims equal, symbolic dims free), and a missing leading
 *   batch dim of 1 is added automatically (`[3, 224, 224]` feeds `[1, 3, 224, 224]`);
 * - for a model with several inputs, a folder with one subfolder per input, named after it, whose
 *   files (.npy or images) are paired by sorted file name (digit runs sort as numbers);
 * - a single .npy or image file (one sample);
 * - a `.json` file: an array of samples, each `{ inputName: nested arrays }` or
 *   `{ inputName: { dims, data } }` with flat `data`. The file is parsed once and kept as parsed
 *   JSON; tensors are built per sample. Use .npy folders for data that does not fit in memory.
 *
 * In folders, hidden files are ignored and other files are skipped with a warning. Opening a folder
 * lists it and reads every .npy header, so a wrong dtype or shape fails at once, naming the file;
 * images are decoded only when their sample is read (an image sharp cannot decode fails then, named).
 *
 * Samples given in memory (the zoo's sample inputs) become the same kind of source with
 * `calibrationFromSamples`. Either way, a source reads one sample per iteration step and keeps none;
 * `split` and `limit` give sub-sources over the same data.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { KilnError } from '../errors.js';
import { createCalibrationSource, type CalibrationSource, type SampleTable } from './calibration-source.js';
import { openFileTable, openFolderTable, type FolderOptions } from './calibration-files.js';
import {
  describeInputs,
  fitDims,
  resolveInputSpecs,
  toCalibrationTensor,
  valueDims,
  type CalibrationSample,
  type ModelInputSpec,
  type ResolvedInputSpec,
  type TensorValue,
} from '../numerics/input-tensors.js';

export type { CalibrationSource, CalibrationSplit } from './calibration-source.js';
export type { CalibrationSample, ModelInputSpec, ResolvedInputSpec, TensorValue } from '../numerics/input-tensors.js';
export type { ImagePreprocess } from '../numerics/image-preprocess.js';

export interface CalibrationDataOptions extends FolderOptions {
  /**
   * Shapes for inputs with symbolic dims (`--shape name=1x3x224x224`), by input name. They must
   * agree with the model's static dims.
   * @default {}
   */
  shapes?: Readonly<Record<string, readonly number[]>>;
  /**
   * How images become tensors (see ImagePreprocess for each field's default). Ignored for .npy
   * and JSON data.
   * @default {}
   */
  preprocess?: FolderOptions['preprocess'];
  /** Told about each file that is skipped. @default ignore */
  onWarning?: (message: string) => void;
}

/** Open calibration data at `path` for a model with `inputs`. Fails early on anything that does not fit. */
export async function openCalibrationData(path: string, inputs: readonly ModelInputSpec[], options: CalibrationDataOptions = {}): Promise<CalibrationSource> {
  const specs = resolveInputSpecs(inputs, options.shapes);
  let kind: 'dir' | 'file';
  try {
    kind = (await stat(path)).isDirectory() ? 'dir' : 'file';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KilnError(
      'FILE_NOT_FOUND',
      `calibration data ${path}: ${code === 'ENOENT' || code === 'ENOTDIR' ? 'no such file or folder' : `cannot be read (${code ?? String(err)})`}`,
      {
        hint: 'pass a folder of images or .npy files, or a .json file of samples',
        cause: err,
      },
    );
  }
  let table: SampleTable;
  if (kind === 'dir') table = await openFolderTable(path, specs, options);
  else if (extname(path).toLowerCase() === '.json') table = await openJsonTable(path, specs);
  else table = await openFileTable(path, specs, options);
  return createCalibrationSource(table, specs, path);
}

/**
 * A source over samples already in memory: each sample maps every input name to nested arrays, a
 * typed array of the input's type, or `{ dims, data }` / `{ type, dims, data }` (an onnxruntime
 * tensor or the zoo's SampleFeeds fit). The samples are checked now; each iteration step yields
 * fresh tensors (copies), so consumers may change them.
 */
export function calibrationFromSamples(
  samples: readonly Readonly<Record<string, TensorValue>>[],
  inputs: readonly ModelInputSpec[],
  options: { shapes?: CalibrationDataOptions['shapes']; origin?: string } = {},
): CalibrationSource {
  const specs = resolveInputSpecs(inputs, options.shapes);
  const origin = options.origin ?? 'samples in memory';
  if (!Array.isArray(samples) || samples.length === 0) {
    throw new KilnError('CALIBRATION_DATA', `${origin}: no samples given`, { hint: `give at least one sample with ${describeInputs(specs)}` });
  }
  return createCalibrationSource(
    valuesTable(samples, specs, (i) => `${origin}[${i}]`),
    specs,
    origin,
  );
}

async function openJsonTable(path: string, specs: readonly ResolvedInputSpec[]): Promise<SampleTable> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new KilnError('CALIBRATION_DATA', `${path}: not valid JSON (${(err as Error).message})`, {
      hint: 'write an array of samples, each {"inputName": [...]}',
      cause: err,
    });
  }
  if (!Array.isArray(json)) {
    throw new KilnError('CALIBRATION_DATA', `${path}: expected an array of samples, got ${json === null ? 'null' : typeof json}`, {
      hint: `write [{${specs.map((s) => `"${s.name}": [...]`).join(', ')}}, ...]`,
    });
  }
  if (json.length === 0) throw new KilnError('CALIBRATION_DATA', `${path}: the array holds no samples`, { hint: `add samples with ${describeInputs(specs)}` });
  return valuesTable(json as Record<string, unknown>[], specs, (i) => `${path}[${i}]`);
}

/** A table over parsed values; every sample's names and shapes are checked before it is returned. */
function valuesTable(samples: readonly Readonly<Record<string, unknown>>[], specs: readonly ResolvedInputSpec[], where: (i: number) => string): SampleTable {
  samples.forEach((sample, i) => {
    checkNames(sample, specs, where(i));
    for (const spec of specs) fitDims(valueDims(sample[spec.name], `${where(i)}.${spec.name}`), spec, `${where(i)}.${spec.name}`);
  });
  return {
    count: samples.length,
    describe: where,
    async load(i) {
      const out: CalibrationSample = {};
      for (const spec of specs) out[spec.name] = toCalibrationTensor(samples[i][spec.name], spec, `${where(i)}.${spec.name}`);
      return out;
    },
  };
}

function checkNames(sample: unknown, specs: readonly ResolvedInputSpec[], where: string): void {
  if (typeof sample !== 'object' || sample === null || Array.isArray(sample)) {
    throw new KilnError(
      'CALIBRATION_DATA',
      `${where}: a sample must be an object mapping input names to tensors, got ${Array.isArray(sample) ? 'an array' : sample === null ? 'null' : typeof sample}`,
      {
        hint: `the model's inputs are ${describeInputs(specs)}`,
      },
    );
  }
  const names = Object.keys(sample);
  const missing = specs.filter((s) => !names.includes(s.name)).map((s) => `'${s.name}'`);
  const unknown = names.filter((n) => !specs.some((s) => s.name === n)).map((n) => `'${n}'`);
  if (missing.length || unknown.length) {
    const parts = [missing.length ? `misses ${missing.join(', ')}` : '', unknown.length ? `names ${unknown.join(', ')}, which the model does not have` : ''];
    throw new KilnError('CALIBRATION_DATA', `${where}: the sample ${parts.filter(Boolean).join(' and ')}`, {
      hint: `the model's inputs are ${describeInputs(specs)}`,
    });
  }
}
