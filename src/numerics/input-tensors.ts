/**
 * Calibration samples as tensors, pure: model input specs (with the user's `--shape` applied), and
 * turning values (nested arrays, `{ dims, data }`, typed arrays) into tensors that fit an input.
 *
 * Shape rule used everywhere: a sample's shape must have the input's rank, with every static dim
 * equal; symbolic dims take any size. A sample one dim short gets a leading batch dim of 1 when the
 * input's first dim is 1 or symbolic (an image `[3, 224, 224]` fits `[1, 3, 224, 224]`).
 */
import { KilnError } from '../errors.js';
import type { TypedTensor } from './tensor.js';
import { dtypeFromShort, numberToFloat16, typedArrayFor, type NumericArray } from '../onnx/dtypes.js';
import type { NpyDType } from './npy.js';

/** Element types a calibration tensor can have (onnxruntime's names). */
export type InputDType = NpyDType;

/** A model input as onnxruntime describes it: symbolic dims are strings (or negative numbers). */
export interface ModelInputSpec {
  name: string;
  /** onnxruntime-style element type: 'float32', 'int64', ... */
  dtype: string;
  shape: readonly (number | string)[];
}

/** A model input with the user's shapes applied. Frozen. */
export interface ResolvedInputSpec {
  readonly name: string;
  readonly dtype: InputDType;
  /** Static dims are numbers; dims still dynamic keep their symbol (a string). */
  readonly shape: readonly (number | string)[];
}

/** One sample: a tensor per model input, by input name (the zoo's samples are calibration samples as they are). */
export type CalibrationSample = Record<string, TypedTensor>;

const INPUT_DTYPES: readonly InputDType[] = ['float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool'];

/** Build a tensor of the input's type; `data` must be the natural array for it (not checked). */
export const makeCalibrationTensor = (type: InputDType, dims: number[], data: NumericArray): TypedTensor => ({ type, dims, data }) as TypedTensor;

export const isDynamicDim = (d: number | string): d is string => typeof d === 'string' || d < 0;

export const formatShape = (shape: readonly (number | string)[]): string => `[${shape.join(', ')}]`;

/** 'x (float32 [1, 3, H, W])', the way errors list inputs. */
export const describeInput = (spec: ModelInputSpec | ResolvedInputSpec): string => `${spec.name} (${spec.dtype} ${formatShape(spec.shape)})`;
export const describeInputs = (specs: readonly (ModelInputSpec | ResolvedInputSpec)[]): string => specs.map(describeInput).join(', ');

/**
 * The model's inputs with the user's shapes applied. A user shape must name a model input, have
 * the input's rank and agree with its static dims.
 */
export function resolveInputSpecs(inputs: readonly ModelInputSpec[], shapes: Readonly<Record<string, readonly number[]>> = {}): readonly ResolvedInputSpec[] {
  if (inputs.length === 0) throw new KilnError('BAD_SHAPE', 'the model has no inputs to calibrate', { hint: 'check that the model declares its graph inputs' });
  const seen = new Set<string>();
  for (const input of inputs) {
    if (seen.has(input.name)) throw new KilnError('BAD_SHAPE', `the model lists input '${input.name}' twice`);
    seen.add(input.name);
  }
  for (const name of Object.keys(shapes)) {
    if (!seen.has(name)) {
      throw new KilnError('BAD_SHAPE', `--shape names input '${name}', which the model does not have`, {
        hint: `the model's inputs are ${describeInputs(inputs)}`,
      });
    }
  }
  const resolved = inputs.map((input): ResolvedInputSpec => {
    const dtype = input.dtype as InputDType;
    if (!INPUT_DTYPES.includes(dtype)) {
      throw new KilnError('CALIBRATION_DATA', `input '${input.name}' is ${input.dtype}; calibration data can feed ${INPUT_DTYPES.join(', ')} inputs only`, {
        hint: 'calibrate a model whose inputs are numeric tensors, or quantize it without calibration (dynamic int8)',
      });
    }
    const user = shapes[input.name];
    if (!user) return Object.freeze({ name: input.name, dtype, shape: Object.freeze([...input.shape]) });
    const shown = `--shape ${input.name}=${user.join('x')}`;
    if (!user.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new KilnError('BAD_SHAPE', `${shown}: every dim must be a positive integer`);
    }
    if (user.length !== input.shape.length) {
      throw new KilnError('BAD_SHAPE', `${shown} has rank ${user.length}, input '${input.name}' has rank ${input.shape.length} ${formatShape(input.shape)}`, {
        hint: `give ${input.shape.length} dims`,
      });
    }
    input.shape.forEach((d, i) => {
      if (!isDynamicDim(d) && d !== user[i]) {
        throw new KilnError('BAD_SHAPE', `${shown} sets dim ${i} to ${user[i]}, but the model fixes it at ${d} ${formatShape(input.shape)}`, {
          hint: 'only symbolic dims can be set with --shape',
        });
      }
    });
    return Object.freeze({ name: input.name, dtype, shape: Object.freeze([...user]) });
  });
  return Object.freeze(resolved);
}

/**
 * The dims a sample of shape `got` has once fitted to `spec`: `got` itself, or `[1, ...got]` when
 * the batch dim is missing. Throws BAD_SHAPE saying expected vs got, naming `where`.
 */
export function fitDims(got: readonly number[], spec: ResolvedInputSpec, where: string): number[] {
  const want = spec.shape;
  let dims = [...got];
  if (dims.length === want.length - 1 && (isDynamicDim(want[0]) || want[0] === 1)) dims = [1, ...dims];
  const rankOk = dims.length === want.length;
  const badDim = rankOk ? dims.findIndex((d, i) => !isDynamicDim(want[i]) && want[i] !== d) : -1;
  if (!rankOk || badDim >= 0) {
    const detail = rankOk
      ? `dim ${badDim} must be ${want[badDim]}, got ${dims[badDim]}`
      : `expected rank ${want.length}${want.length > 1 && (isDynamicDim(want[0]) || want[0] === 1) ? ` (or ${want.length - 1} without the batch dim)` : ''}, got rank ${got.length}`;
    throw new KilnError('BAD_SHAPE', `${where}: shape ${formatShape(got)} does not fit input '${spec.name}' ${formatShape(want)}: ${detail}`, {
      hint: 'symbolic dims take any size; a missing leading batch dim of 1 is added automatically',
    });
  }
  return dims;
}

// ---- values → tensors ---------------------------------------------------------------------------

/** What a caller may give for one input: nested arrays, a typed array, or `{ dims, data }` (with an optional `type`). */
export type TensorValue =
  | number
  | boolean
  | bigint
  | readonly TensorValue[]
  | NumericArray
  | { readonly type?: string; readonly dims: readonly number[]; readonly data: ArrayLike<number | bigint | boolean> };

const isTypedArray = (v: unknown): v is NumericArray => ArrayBuffer.isView(v) && !(v instanceof DataView);
const isDimsData = (v: unknown): v is { type?: string; dims: readonly number[]; data: ArrayLike<number | bigint | boolean> } =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !isTypedArray(v) && 'dims' in v && 'data' in v;

/**
 * The shape of a value without converting it: nested arrays must be rectangular. Throws
 * CALIBRATION_DATA naming `where`.
 */
export function valueDims(value: unknown, where: string): number[] {
  if (isTypedArray(value)) return [value.length];
  if (isDimsData(value)) {
    const { dims, data } = value;
    if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new KilnError('CALIBRATION_DATA', `${where}: 'dims' must be an array of non-negative integers, got ${JSON.stringify(dims)}`);
    }
    const count = dims.reduce((a: number, b: number) => a * b, 1);
    if (!(Array.isArray(data) || isTypedArray(data)) || data.length !== count) {
      throw new KilnError(
        'CALIBRATION_DATA',
        `${where}: 'data' must be a flat array of ${count} values for dims ${formatShape(dims)}, got ${Array.isArray(data) || isTypedArray(data) ? `${data.length} values` : typeof data}`,
      );
    }
    return [...dims];
  }
  const dims: number[] = [];
  let node: unknown = value;
  while (Array.isArray(node)) {
    dims.push(node.length);
    node = node[0];
  }
  checkNesting(value, dims, 0, where);
  return dims;
}

function checkNesting(node: unknown, dims: readonly number[], depth: number, where: string): void {
  if (depth === dims.length) {
    if (!isScalar(node))
      throw new KilnError(
        'CALIBRATION_DATA',
        `${where}: expected a number at depth ${depth}, got ${Array.isArray(node) ? 'an array' : (JSON.stringify(node) ?? typeof node)}`,
        { hint: 'nested arrays must be rectangular, with numbers at the innermost level' },
      );
    return;
  }
  if (!Array.isArray(node) || node.length !== dims[depth]) {
    throw new KilnError(
      'CALIBRATION_DATA',
      `${where}: nested arrays are not rectangular (expected ${dims[depth]} items at depth ${depth}, got ${Array.isArray(node) ? node.length : typeof node})`,
      {
        hint: 'every row must have the same length',
      },
    );
  }
  for (const child of node) checkNesting(child, dims, depth + 1, where);
}

const isScalar = (v: unknown): boolean => typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint';

/**
 * Convert a value to a fresh tensor of the input's type, fitted to its shape. Plain numbers are
 * converted (integers checked, float16 rounded to nearest even); a typed array must already be the
 * input's natural array type, and is copied.
 */
export function toCalibrationTensor(value: unknown, spec: ResolvedInputSpec, where: string): TypedTensor {
  const dims = fitDims(valueDims(value, where), spec, where);
  const count = dims.reduce((a, b) => a * b, 1);
  const out = typedArrayFor(dtypeFromShort(spec.dtype), count);
  if (isDimsData(value) && value.type !== undefined && value.type !== spec.dtype) {
    throw new KilnError('CALIBRATION_DATA', `${where}: tensor type is ${value.type}, input '${spec.name}' takes ${spec.dtype}`, {
      hint: `convert the data to ${spec.dtype}`,
    });
  }
  const flat = isDimsData(value) ? value.data : value;
  if (isTypedArray(flat)) {
    if (flat.constructor !== out.constructor) {
      throw new KilnError(
        'CALIBRATION_DATA',
        `${where}: input '${spec.name}' is ${spec.dtype} and takes a ${out.constructor.name}, got a ${flat.constructor.name}`,
        {
          hint: `convert the data to ${spec.dtype}, or pass plain numbers`,
        },
      );
    }
    (out as Uint8Array).set(flat as Uint8Array);
    return makeCalibrationTensor(spec.dtype, dims, out);
  }
  const put = writer(spec.dtype, out, where);
  if (Array.isArray(flat) && isDimsData(value)) {
    for (let i = 0; i < count; i++) put(i, flat[i]);
  } else {
    let i = 0;
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) for (const child of node) walk(child);
      else put(i++, node);
    };
    walk(flat);
  }
  return makeCalibrationTensor(spec.dtype, dims, out);
}

/** The values each integer element type holds, [min, max]. */
export const INT_RANGE: Readonly<Record<string, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
};

/** A function that stores value #i in `out`, checking it suits the dtype. */
function writer(dtype: InputDType, out: NumericArray, where: string): (i: number, v: unknown) => void {
  const reject = (i: number, v: unknown, what: string): never => {
    throw new KilnError('CALIBRATION_DATA', `${where}: value #${i} (${typeof v === 'bigint' ? `${v}n` : JSON.stringify(v)}) is not ${what}`, {
      hint: `input values must suit ${dtype}`,
    });
  };
  const target = out as unknown as (number | bigint)[];
  switch (dtype) {
    case 'float32':
    case 'float64':
      return (i, v) => {
        target[i] = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : reject(i, v, 'a number');
      };
    case 'float16':
      return (i, v) => {
        target[i] = typeof v === 'number' ? numberToFloat16(v) : reject(i, v, 'a number');
      };
    case 'bool':
      return (i, v) => {
        target[i] = v === true || v === 1 ? 1 : v === false || v === 0 ? 0 : reject(i, v, 'a boolean (true/false or 1/0)');
      };
    case 'int64':
    case 'uint64': {
      const [lo, hi] = dtype === 'int64' ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
      return (i, v) => {
        const b = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : reject(i, v, `an integer (${dtype})`);
        target[i] = b >= lo && b <= hi ? b : reject(i, v, `within ${dtype}'s range`);
      };
    }
    default: {
      const [lo, hi] = INT_RANGE[dtype];
      return (i, v) => {
        const n = typeof v === 'bigint' ? Number(v) : v;
        target[i] = typeof n === 'number' && Number.isInteger(n) && n >= lo && n <= hi ? n : reject(i, v, `an integer in ${dtype}'s range [${lo}, ${hi}]`);
      };
    }
  }
}
