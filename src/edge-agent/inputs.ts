/**
 * Input files for one-off inference (`kiln agent infer --input`): an image (through the model's
 * declared preprocessing), a .npy array for a single-input model, or JSON — an OIP request body (`{"inputs": [...]}`), an object of input name → nested
 * array, or a nested array for a single-input model. Checked against the model's signature.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { decodeNpy } from '../numerics/npy.js';
import { KilnError } from '../errors.js';
import type { TensorSpec } from '../protocol/manifest.js';
import type { NamedTensors } from '../runtime/backend.js';
import { RequestError } from './errors.js';
import { parseInferRequest, type ModelSignature } from './http/oip.js';
import { imageToTensor } from './pipeline/image.js';
import type { PipelineSpec } from '../protocol/pipeline.js';
import { elementCount, flattenJson, OIP_DATATYPE, shapeProblem, typedFromJson } from './tensors.js';

const bad = (path: string, message: string) =>
  new KilnError('AGENT_REQUEST', `${path}: ${message}`, { hint: 'see kiln agent infer --help for the input formats' });

/** The shape of a nested JSON array (checked rectangular), or undefined for a scalar. */
function nestedShape(v: unknown, path: string): number[] {
  const dims: number[] = [];
  let cur: unknown = v;
  while (Array.isArray(cur)) {
    dims.push(cur.length);
    cur = cur[0];
  }
  const check = (x: unknown, depth: number): void => {
    if (depth === dims.length) {
      if (Array.isArray(x)) throw bad(path, 'the nested array is not rectangular');
      return;
    }
    if (!Array.isArray(x) || x.length !== dims[depth]) throw bad(path, 'the nested array is not rectangular');
    for (const y of x) check(y, depth + 1);
  };
  check(v, 0);
  return dims;
}

function fromNested(spec: TensorSpec, value: unknown, path: string) {
  let dims = nestedShape(value, path);
  // A flat list for a model with a fully known shape is taken in that shape.
  if (dims.length === 1 && spec.shape.length !== 1 && spec.shape.every((d) => typeof d === 'number' && d > 0)) {
    const want = spec.shape as number[];
    if (dims[0] === elementCount(want)) dims = [...want];
  }
  const problem = shapeProblem(spec.shape, dims);
  if (problem) throw bad(path, `input '${spec.name}' ${problem}`);
  try {
    return { type: spec.dtype, dims, data: typedFromJson(spec.dtype, flattenJson(value), `input '${spec.name}'`) };
  } catch (err) {
    throw bad(path, (err as Error).message);
  }
}

const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

/**
 * Read an input file for a served version: an image goes through the model's declared image
 * preprocessing; .npy and .json as `readInputFile`.
 */
export async function readInput(path: string, model: ModelSignature, pipeline?: PipelineSpec): Promise<NamedTensors> {
  if (!IMAGE_EXTENSIONS.includes(extname(path).toLowerCase())) return readInputFile(path, model);
  const pre = pipeline?.preprocess;
  if (!pre) throw bad(path, `model '${model.name}' declares no image preprocessing (pipeline.json); pass a .npy or .json tensor`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new KilnError('FILE_NOT_FOUND', `${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const spec = model.inputs.find((i) => i.name === pre.input)!;
  try {
    return { [spec.name]: await imageToTensor(bytes, pre, spec) };
  } catch (err) {
    throw bad(path, (err as Error).message);
  }
}

/** Read and check an input file for `model`. */
export function readInputFile(path: string, model: ModelSignature): NamedTensors {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new KilnError('FILE_NOT_FOUND', `${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.npy') {
    if (model.inputs.length !== 1) throw bad(path, `model '${model.name}' takes ${model.inputs.length} inputs; pass them in a JSON file`);
    const spec = model.inputs[0];
    const arr = decodeNpy(bytes, path);
    if (arr.dtype !== spec.dtype) throw bad(path, `the array is ${arr.dtype}, input '${spec.name}' takes ${spec.dtype} (${OIP_DATATYPE[spec.dtype]})`);
    const problem = shapeProblem(spec.shape, arr.shape);
    if (problem) throw bad(path, `input '${spec.name}' ${problem}`);
    return { [spec.name]: { type: spec.dtype, dims: arr.shape, data: arr.data as NamedTensors[string]['data'] } };
  }
  if (ext !== '.json') throw bad(path, `unsupported input file type '${ext || '(none)'}': use .json or .npy`);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw bad(path, `not valid JSON (${(err as Error).message})`);
  }
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && 'inputs' in doc) {
    try {
      return parseInferRequest(bytes, undefined, model).inputs;
    } catch (err) {
      throw bad(path, err instanceof RequestError ? err.message : String(err));
    }
  }
  if (Array.isArray(doc)) {
    if (model.inputs.length !== 1) throw bad(path, `model '${model.name}' takes ${model.inputs.length} inputs; give an object of input name → array`);
    return { [model.inputs[0].name]: fromNested(model.inputs[0], doc, path) };
  }
  if (!doc || typeof doc !== 'object') throw bad(path, 'expected an OIP request, an object of input name → array, or an array');
  const feeds: NamedTensors = {};
  for (const [name, value] of Object.entries(doc)) {
    const spec = model.inputs.find((s) => s.name === name);
    if (!spec) throw bad(path, `model '${model.name}' has no input '${name}'; its inputs are ${model.inputs.map((s) => `'${s.name}'`).join(', ')}`);
    feeds[name] = fromNested(spec, value, path);
  }
  const missing = model.inputs.filter((s) => !(s.name in feeds));
  if (missing.length) throw bad(path, `missing input${missing.length > 1 ? 's' : ''} ${missing.map((s) => `'${s.name}'`).join(', ')}`);
  return feeds;
}
