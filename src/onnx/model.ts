/**
 * Reading and writing ONNX model files, including weights kept in external data files.
 * The only module in src/onnx that touches the file system.
 */
import { existsSync, mkdirSync, openSync, readFileSync, readSync, closeSync, fstatSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { KilnError } from '../errors.js';
import { decodeModelProto, encodeModelProto, ProtoDecodeError } from './proto.js';
import type { GraphProto, ModelProto, TensorProto, TypeProto } from './proto-types.js';
import { isKnownDataType, dtypeName, MAX_KNOWN_DTYPE } from './dtypes.js';
import { isExternal, tensorByteSize } from './tensor.js';

/** Newest IR version kiln reads and writes. */
export const MAX_IR_VERSION = 11;
/** Newest opset per domain kiln (and onnxruntime 1.30) supports. '' is the default ONNX domain. */
export const MAX_OPSET: Readonly<Record<string, number>> = Object.freeze({
  '': 23,
  'ai.onnx': 23,
  'ai.onnx.ml': 5,
  'com.microsoft': 1,
  'com.microsoft.nchwc': 1,
  'ai.onnx.preview.training': 1,
});

export interface LoadOptions {
  /** Read external data files into memory (default true). Without it, external tensors stay references. */
  loadExternalData?: boolean;
  /** Reject models whose opsets are newer than MAX_OPSET (default true). */
  checkVersions?: boolean;
}

export interface SaveOptions {
  /**
   * Write initializers of at least `threshold` bytes to an external file `location` beside the model.
   * Default: inline everything, unless the model would exceed protobuf's 2 GB limit, in which case
   * `<model>.data` is used.
   */
  externalData?: false | { location?: string; threshold?: number };
}

const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** Load a model from a path. Errors name the file and, where it applies, the tensor or node. */
export function loadModel(path: string, options: LoadOptions = {}): ModelProto {
  if (!existsSync(path)) {
    throw new KilnError('FILE_NOT_FOUND', `${path}: no such file`, { hint: 'check the path' });
  }
  const bytes = readFileSync(path);
  return parseModel(bytes, { ...options, source: path, baseDir: dirname(resolve(path)) });
}

export interface ParseOptions extends LoadOptions {
  /** Name used in error messages (a path or 'buffer'). */
  source?: string;
  /** Directory that external data locations are relative to. */
  baseDir?: string;
}

/** Parse model bytes. External data is resolved against `baseDir` when given. */
export function parseModel(bytes: Uint8Array, options: ParseOptions = {}): ModelProto {
  const source = options.source ?? 'model';
  if (bytes.byteLength === 0) throw new KilnError('NOT_ONNX', `${source}: the file is empty, not an ONNX model`);
  let model: ModelProto;
  try {
    model = decodeModelProto(bytes);
  } catch (err) {
    const detail = err instanceof ProtoDecodeError ? err.message : String(err);
    const truncated = /index out of range|invalid wire type|premature/i.test(detail);
    throw new KilnError('NOT_ONNX', `${source}: ${truncated ? 'a truncated or corrupt ONNX model' : 'not an ONNX model'} (protobuf: ${detail})`, {
      hint: 'pass a .onnx file exported by an ONNX exporter, and check it was copied whole',
      cause: err,
    });
  }
  if (!model.graph || model.irVersion <= 0 || (model.irVersion >= 3 && model.opsetImport.length === 0)) {
    throw new KilnError('NOT_ONNX', `${source}: not an ONNX model (no graph, IR version or opset import found)`, {
      hint: 'pass a .onnx file exported by an ONNX exporter',
    });
  }
  if (options.checkVersions !== false) checkVersions(model, source);
  checkDataTypes(model.graph, source);
  if (options.loadExternalData !== false) resolveExternalData(model, options.baseDir ?? process.cwd(), source);
  return model;
}

function checkVersions(model: ModelProto, source: string): void {
  if (model.irVersion > MAX_IR_VERSION) {
    throw new KilnError('OPSET_UNSUPPORTED', `${source}: IR version ${model.irVersion} is newer than kiln supports (≤ ${MAX_IR_VERSION})`, {
      hint: 're-export the model with an older ONNX release',
    });
  }
  for (const { domain, version } of model.opsetImport) {
    const max = MAX_OPSET[domain];
    if (max !== undefined && version > max) {
      throw new KilnError('OPSET_UNSUPPORTED', `${source}: opset ${domain || 'ai.onnx'} ${version} is newer than kiln supports (≤ ${max})`, {
        hint: `re-export the model with opset ≤ ${max} (e.g. torch.onnx.export(..., opset_version=${Math.min(max, 17)}))`,
      });
    }
  }
}

function checkType(type: TypeProto | undefined, where: string, source: string): void {
  const code = type?.tensorType?.elemType ?? type?.sparseTensorType?.elemType;
  if (code !== undefined && code !== 0 && !isKnownDataType(code)) {
    throw new KilnError('UNKNOWN_DTYPE', `${source}: ${where} has data type ${code}, which kiln does not know (known: 1..${MAX_KNOWN_DTYPE})`, {
      hint: 'the model may come from a newer ONNX release; re-export it with a supported data type',
    });
  }
  if (type?.sequenceType) checkType(type.sequenceType.elemType, where, source);
  if (type?.optionalType) checkType(type.optionalType.elemType, where, source);
  if (type?.mapType) checkType(type.mapType.valueType, where, source);
}

function checkDataTypes(graph: GraphProto, source: string): void {
  for (const t of allTensors(graph)) {
    if (!isKnownDataType(t.dataType)) {
      throw new KilnError(
        'UNKNOWN_DTYPE',
        `${source}: tensor '${t.name}' has data type ${t.dataType}, which kiln does not know (known: 1..${MAX_KNOWN_DTYPE})`,
        {
          hint: 'the model may come from a newer ONNX release; re-export it with a supported data type',
        },
      );
    }
  }
  for (const vi of [...graph.input, ...graph.output, ...graph.valueInfo]) checkType(vi.type, `value '${vi.name}'`, source);
}

/** Every TensorProto in a graph: initializers, Constant values and tensors in attributes, sub-graphs included. */
export function* allTensors(graph: GraphProto): Generator<TensorProto> {
  yield* graph.initializer;
  for (const s of graph.sparseInitializer) {
    if (s.values) yield s.values;
    if (s.indices) yield s.indices;
  }
  for (const node of graph.node) {
    for (const a of node.attribute) {
      if (a.t) yield a.t;
      yield* a.tensors;
      if (a.g) yield* allTensors(a.g);
      for (const g of a.graphs) yield* allTensors(g);
    }
  }
}

const externalEntry = (t: TensorProto, key: string): string | undefined => t.externalData.find((e) => e.key === key)?.value;

/** Read each external tensor's bytes into rawData. The location must stay inside baseDir. */
function resolveExternalData(model: ModelProto, baseDir: string, source: string): void {
  const handles = new Map<string, number>();
  try {
    for (const t of allTensors(model.graph!)) {
      if (!isExternal(t)) continue;
      const location = externalEntry(t, 'location');
      if (!location) throw new KilnError('EXTERNAL_DATA', `${source}: tensor '${t.name}' is external but names no location`);
      const normalized = normalize(location);
      if (isAbsolute(normalized) || normalized.startsWith('..' + sep) || normalized === '..') {
        throw new KilnError('EXTERNAL_DATA', `${source}: tensor '${t.name}' points outside the model's folder (${location})`, {
          hint: "external data must sit in the model file's folder or below it",
        });
      }
      const file = join(baseDir, normalized);
      let fd = handles.get(file);
      if (fd === undefined) {
        if (!existsSync(file)) {
          throw new KilnError(
            'EXTERNAL_DATA',
            `${source}: tensor '${t.name}' needs external data file '${location}', which is missing (looked in ${baseDir})`,
            {
              hint: 'copy the .data file that came with the model next to it',
            },
          );
        }
        fd = openSync(file, 'r');
        handles.set(file, fd);
      }
      const offset = Number(externalEntry(t, 'offset') ?? 0);
      const expected = tensorByteSize(t);
      const length = Number(externalEntry(t, 'length') ?? expected);
      const size = fstatSync(fd).size;
      if (offset + length > size) {
        throw new KilnError(
          'EXTERNAL_DATA',
          `${source}: tensor '${t.name}' needs bytes ${offset}..${offset + length} of '${location}', which has only ${size}`,
          {
            hint: 'the external data file is truncated or belongs to another model',
          },
        );
      }
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, offset);
      t.rawData = buf;
    }
  } finally {
    for (const fd of handles.values()) closeSync(fd);
  }
}

/** Serialize a model. External tensors must be loaded (rawData present) unless they are written out again. */
export function serializeModel(model: ModelProto): Uint8Array {
  return encodeModelProto(model);
}

/**
 * Write a model to `path` atomically (temporary file, then rename), optionally moving large
 * initializers to an external data file beside it. The in-memory model is not changed.
 */
export function saveModel(model: ModelProto, path: string, options: SaveOptions = {}): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  const weights = model.graph ? model.graph.initializer.reduce((a, t) => a + (t.rawData?.byteLength ?? 0), 0) : 0;
  let ext = options.externalData;
  if (ext === undefined && weights > PROTOBUF_LIMIT * 0.9) ext = {};
  let toWrite = model;
  let dataBytes: Uint8Array[] | undefined;
  let location = '';
  if (ext) {
    location = ext.location ?? `${basename(path)}.data`;
    const threshold = ext.threshold ?? 1024;
    dataBytes = [];
    let offset = 0;
    const initializer = model.graph!.initializer.map((t) => {
      const raw = t.rawData;
      if (!raw || raw.byteLength < threshold) return t;
      // Align each tensor to 4 KiB so that a runtime can mmap it.
      const pad = (4096 - (offset % 4096)) % 4096;
      if (pad) dataBytes!.push(new Uint8Array(pad));
      offset += pad;
      dataBytes!.push(raw);
      const entry: TensorProto = {
        ...t,
        rawData: undefined,
        dataLocation: 1,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(raw.byteLength) },
        ],
      };
      offset += raw.byteLength;
      return entry;
    });
    toWrite = { ...model, graph: { ...model.graph!, initializer } };
  } else {
    // Inline everything: external tensors loaded earlier are written into the model itself.
    const inline = (t: TensorProto): TensorProto => (isExternal(t) ? { ...t, dataLocation: 0, externalData: [] } : t);
    if (model.graph?.initializer.some(isExternal)) {
      toWrite = { ...model, graph: { ...model.graph, initializer: model.graph.initializer.map(inline) } };
    }
  }
  const bytes = encodeModelProto(toWrite);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    if (dataBytes) {
      const dataPath = join(dirname(path), location);
      const dataTmp = `${dataPath}.tmp-${process.pid}`;
      writeFileSync(dataTmp, Buffer.concat(dataBytes));
      renameSync(dataTmp, dataPath);
    }
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
