/**
 * Calibration data in folders: one file per sample (.npy or an image), or for several inputs one
 * subfolder per input whose files are paired by sorted name. Reads headers when the folder is
 * opened (so a wrong dtype or shape fails before a long calibration run) and sample data only when
 * a sample is asked for.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { KilnError } from '../errors.js';
import { allocateNpy, npyDataOffset, parseNpyHeader, NPY_MAX_HEADER_BYTES, NPY_PREFIX_BYTES, type NpyHeader } from '../numerics/npy.js';
import { describeInputs, fitDims, makeCalibrationTensor, type CalibrationSample, type ResolvedInputSpec } from '../numerics/input-tensors.js';
import type { TypedTensor } from '../numerics/tensor.js';
import { planImageInput, writeImage, type ImagePlan, type ImagePreprocess } from '../numerics/image-preprocess.js';
import { decodeImage, IMAGE_EXTENSIONS } from '../numerics/image-decode.js';
import { typedArrayFor, dtypeFromShort } from '../onnx/dtypes.js';
import type { SampleTable } from './calibration-source.js';

export interface FolderOptions {
  /** How image files become tensors. */
  preprocess?: ImagePreprocess;
  /** Told about each file that is skipped. */
  onWarning?: (message: string) => void;
}

/** Extensions a data folder may hold, for messages. */
export const DATA_EXTENSIONS: readonly string[] = Object.freeze(['.npy', ...IMAGE_EXTENSIONS]);

/** Files of one input: a column of the sample table. */
interface Column {
  readonly count: number;
  load(index: number): Promise<TypedTensor>;
  describe(index: number): string;
}

/** A sample table over a folder (see the module comment for the layouts). */
export async function openFolderTable(dir: string, specs: readonly ResolvedInputSpec[], options: FolderOptions = {}): Promise<SampleTable> {
  const top = await listFolder(dir);
  const supported = top.files.filter(isDataFile);
  let columns: Column[];
  if (specs.length === 1 && (supported.length > 0 || !findSubfolder(top.dirs, specs[0].name))) {
    columns = [await folderColumn(dir, top.files, specs[0], options)];
  } else {
    const missing = specs.filter((s) => !findSubfolder(top.dirs, s.name));
    if (missing.length) {
      throw new KilnError(
        'CALIBRATION_DATA',
        `${dir}: no subfolder for input${missing.length > 1 ? 's' : ''} ${missing.map((s) => `'${s.name}'`).join(', ')} (subfolders found: ${top.dirs.length ? top.dirs.join(', ') : 'none'})`,
        {
          hint: `a model with several inputs — ${describeInputs(specs)} — takes one subfolder per input, named after it, with files paired by sorted file name`,
        },
      );
    }
    const used = new Set(specs.map((s) => findSubfolder(top.dirs, s.name)));
    const extra = top.dirs.filter((d) => !used.has(d));
    if (extra.length) options.onWarning?.(`${dir}: skipping subfolder${extra.length > 1 ? 's' : ''} ${preview(extra)}, not named after a model input`);
    columns = [];
    for (const spec of specs) {
      const sub = join(dir, findSubfolder(top.dirs, spec.name)!);
      columns.push(await folderColumn(sub, (await listFolder(sub)).files, spec, options));
    }
    const counts = new Set(columns.map((c) => c.count));
    if (counts.size > 1) {
      throw new KilnError(
        'CALIBRATION_DATA',
        `${dir}: the input subfolders hold different numbers of samples (${specs.map((s, i) => `${findSubfolder(top.dirs, s.name)}/: ${columns[i].count}`).join(', ')})`,
        {
          hint: 'every input needs one file per sample; files are paired by sorted file name',
        },
      );
    }
  }
  return tableOf(specs, columns);
}

/** A sample table over one file (.npy or image) for a single-input model. */
export async function openFileTable(file: string, specs: readonly ResolvedInputSpec[], options: FolderOptions = {}): Promise<SampleTable> {
  if (specs.length !== 1) {
    throw new KilnError('CALIBRATION_DATA', `${file}: one file can feed a single-input model; this one has ${specs.length} inputs (${describeInputs(specs)})`, {
      hint: 'pass a folder with one subfolder per input, or a .json file of samples',
    });
  }
  if (!isDataFile(file)) {
    throw new KilnError('CALIBRATION_DATA', `${file}: not a calibration file (kiln reads ${DATA_EXTENSIONS.join(' ')} files, folders of them, and .json)`, {
      hint: 'pass a folder of images or .npy files, or a .json file of samples',
    });
  }
  return tableOf(specs, [await openColumn(file, [file], specs[0], options)]);
}

function tableOf(specs: readonly ResolvedInputSpec[], columns: readonly Column[]): SampleTable {
  return {
    count: columns[0].count,
    async load(index) {
      const sample: CalibrationSample = {};
      for (let c = 0; c < columns.length; c++) sample[specs[c].name] = await columns[c].load(index);
      return sample;
    },
    describe: (index) => columns.map((c) => c.describe(index)).join(' + '),
  };
}

// ---- folders ------------------------------------------------------------------------------------

interface Listing {
  files: string[];
  dirs: string[];
}

/** Non-hidden entries of a folder (links followed), each list in natural order. */
async function listFolder(dir: string): Promise<Listing> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    throw new KilnError('FILE_NOT_FOUND', `${dir}: the folder cannot be read (${err.code ?? err.message})`, {
      hint: 'check the path and its permissions',
      cause: err,
    });
  });
  const files: string[] = [];
  const dirs: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const s = await stat(join(dir, e.name)).catch(() => undefined);
      isDir = !!s?.isDirectory();
      isFile = !!s?.isFile();
    }
    if (isDir) dirs.push(e.name);
    else if (isFile) files.push(e.name);
  }
  return { files: files.sort(naturalCompare), dirs: dirs.sort(naturalCompare) };
}

const isDataFile = (name: string): boolean => DATA_EXTENSIONS.includes(extname(name).toLowerCase());

/**
 * The subfolder holding an input's files: named exactly after the input, or after the input with
 * characters that file names cannot hold (/ \ : * ? " < > |) replaced by '_'.
 */
export function findSubfolder(dirs: readonly string[], input: string): string | undefined {
  return dirs.find((d) => d === input) ?? dirs.find((d) => d === input.replace(/[/\\:*?"<>|]/g, '_'));
}

/** Compare file names with digit runs as numbers: 'img2' < 'img10'. Ties fall back to code points. */
export function naturalCompare(a: string, b: string): number {
  const ta = a.match(/\d+|\D+/g) ?? [];
  const tb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i];
    const y = tb[i];
    if (x === y) continue;
    const digits = /^\d/.test(x) && /^\d/.test(y);
    if (digits) {
      const nx = x.replace(/^0+(?=\d)/, '');
      const ny = y.replace(/^0+(?=\d)/, '');
      if (nx.length !== ny.length) return nx.length - ny.length;
      if (nx !== ny) return nx < ny ? -1 : 1;
      continue;
    }
    return x < y ? -1 : 1;
  }
  if (ta.length !== tb.length) return ta.length - tb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- columns ------------------------------------------------------------------------------------

/** The column of one input from the file `names` in `dir`. */
async function folderColumn(dir: string, names: readonly string[], spec: ResolvedInputSpec, options: FolderOptions): Promise<Column> {
  const files = names.filter(isDataFile).map((n) => join(dir, n));
  const skipped = names.filter((n) => !isDataFile(n));
  if (files.length === 0) {
    throw new KilnError(
      'CALIBRATION_DATA',
      names.length === 0
        ? `${dir}: the folder is empty; input '${spec.name}' needs samples`
        : `${dir}: no calibration files for input '${spec.name}' (found ${preview(skipped)}; looked for ${DATA_EXTENSIONS.join(' ')})`,
      {
        hint: 'put one .npy file or image per sample in the folder',
      },
    );
  }
  if (skipped.length)
    options.onWarning?.(
      `${dir}: skipping ${skipped.length} file${skipped.length > 1 ? 's' : ''} that ${skipped.length > 1 ? 'are' : 'is'} neither .npy nor an image (${preview(skipped)})`,
    );
  return openColumn(dir, files, spec, options);
}

/** The column of one input over data `files` (each .npy or an image), named `where` in messages. */
async function openColumn(where: string, files: readonly string[], spec: ResolvedInputSpec, options: FolderOptions): Promise<Column> {
  const npy = files.filter((f) => extname(f).toLowerCase() === '.npy');
  if (npy.length > 0 && npy.length < files.length) {
    throw new KilnError(
      'CALIBRATION_DATA',
      `${where}: the folder mixes .npy files (${npy.length}) and images (${files.length - npy.length}) for input '${spec.name}'`,
      {
        hint: 'keep one kind of file per folder',
      },
    );
  }
  if (npy.length > 0) return npyColumn(files, spec);
  return imageColumn(files, planImageInput(spec, options.preprocess), options);
}

const preview = (names: readonly string[]): string => (names.length > 3 ? `${names.slice(0, 3).join(', ')}, … ${names.length - 3} more` : names.join(', '));

async function npyColumn(files: readonly string[], spec: ResolvedInputSpec): Promise<Column> {
  // Headers first: a wrong dtype or shape anywhere fails now, not after an hour of calibration.
  for (const file of files) {
    const fh = await open(file, 'r');
    try {
      checkNpy(file, await readNpyHeader(fh, file), spec);
    } finally {
      await fh.close();
    }
  }
  return {
    count: files.length,
    describe: (i) => files[i],
    load: (i) => readNpyTensor(files[i], spec),
  };
}

/** Read a .npy file into a fresh tensor fitted to `spec` (the data is read straight into the array). */
async function readNpyTensor(file: string, spec: ResolvedInputSpec): Promise<TypedTensor> {
  const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new KilnError(
      'FILE_NOT_FOUND',
      `${file}: ${err.code === 'ENOENT' ? 'the file was removed after the calibration data was opened' : `cannot be read (${err.code ?? err.message})`}`,
      {
        hint: 'leave the calibration folder unchanged while kiln reads it',
        cause: err,
      },
    );
  });
  try {
    const header = await readNpyHeader(fh, file);
    const dims = checkNpy(file, header, spec);
    const data = allocateNpy(header);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (let done = 0; done < bytes.length;) {
      const { bytesRead } = await fh.read(bytes, done, bytes.length - done, header.dataOffset + done);
      if (bytesRead === 0) throw new KilnError('CALIBRATION_DATA', `${file}: the file shrank while it was read`);
      done += bytesRead;
    }
    return makeCalibrationTensor(spec.dtype, dims, data);
  } finally {
    await fh.close();
  }
}

async function readNpyHeader(fh: Awaited<ReturnType<typeof open>>, file: string): Promise<NpyHeader & { fileSize: number }> {
  const { size } = await fh.stat();
  if (size === 0) throw new KilnError('CALIBRATION_DATA', `${file}: the file is empty, not a .npy array`, { hint: 'save the array with numpy.save' });
  const prefix = new Uint8Array(Math.min(size, NPY_PREFIX_BYTES));
  await fh.read(prefix, 0, prefix.length, 0);
  // A corrupt length field must not make us allocate the whole file: parseNpyHeader reports it.
  const offset = Math.min(npyDataOffset(prefix, file), size, NPY_PREFIX_BYTES + NPY_MAX_HEADER_BYTES + 1);
  const head = new Uint8Array(offset);
  await fh.read(head, 0, offset, 0);
  return { ...parseNpyHeader(head, file), fileSize: size };
}

/** The tensor dims for a .npy header, after checking its dtype, shape and size against the input. */
function checkNpy(file: string, header: NpyHeader & { fileSize: number }, spec: ResolvedInputSpec): number[] {
  if (header.dtype !== spec.dtype) {
    throw new KilnError('CALIBRATION_DATA', `${file}: the array is ${header.dtype} ('${header.descr}'), input '${spec.name}' takes ${spec.dtype}`, {
      hint: `save it as ${spec.dtype}: numpy.save(path, arr.astype(numpy.${spec.dtype === 'bool' ? 'bool_' : spec.dtype}))`,
    });
  }
  const dims = fitDims(header.shape, spec, file);
  const size = header.dataOffset + header.dataBytes;
  if (header.fileSize !== size) {
    throw new KilnError(
      'CALIBRATION_DATA',
      header.fileSize < size
        ? `${file}: the .npy file is truncated: shape (${header.shape.join(', ')}) of ${header.descr} needs ${header.dataBytes} data bytes, the file has ${Math.max(0, header.fileSize - header.dataOffset)}`
        : `${file}: the .npy file has ${header.fileSize - size} bytes after the array data`,
      { hint: 'save the array again with numpy.save' },
    );
  }
  return dims;
}

function imageColumn(files: readonly string[], plan: ImagePlan, options: FolderOptions): Column {
  const per = plan.batch;
  const count = Math.floor(files.length / per);
  if (count === 0) {
    throw new KilnError(
      'CALIBRATION_DATA',
      `${files[0]}: input '${plan.input}' takes ${per} images per sample (batch dim ${per}), only ${files.length} found`,
      {
        hint: 'add images, or export the model with a dynamic or size-1 batch dim',
      },
    );
  }
  if (files.length % per) options.onWarning?.(`${plan.input}: ${files.length % per} image(s) left over after ${count} samples of ${per}; they are not used`);
  const group = (i: number): readonly string[] => files.slice(i * per, (i + 1) * per);
  return {
    count,
    describe: (i) => group(i).join(', '),
    async load(i) {
      const data = typedArrayFor(
        dtypeFromShort(plan.dtype),
        plan.dims.reduce((a, b) => a * b, 1),
      );
      const paths = group(i);
      for (let k = 0; k < paths.length; k++) {
        const pixels = await decodeImage(paths[k], { width: plan.width, height: plan.height, resize: plan.resize, channels: plan.channels });
        writeImage(pixels, plan, data, k);
      }
      return makeCalibrationTensor(plan.dtype, [...plan.dims], data);
    },
  };
}
