/**
 * The inputs a benchmark feeds: concrete dims from the model's inputs, `--shape` and the batch size,
 * and seeded random tensors of those dims. Pure.
 */
import { concreteShape } from '../compiler/io-spec.js';
import { KilnError } from '../errors.js';
import { numberToFloat16 } from '../onnx/dtypes.js';
import { mulberry32 } from '../onnx/random.js';
import type { TensorSpec } from '../protocol/manifest.js';
import type { NamedTensors, TensorData } from '../runtime/backend.js';

/** An input with its concrete dims. */
export interface ConcreteInput {
  name: string;
  dtype: string;
  dims: number[];
}

/**
 * Concrete dims for every input. A symbolic first dim is the batch: `batch` when given, else 1;
 * `batch` also replaces the first dim of a `--shape`. Other symbolic dims come from `shapes`, else a
 * KilnError('BAD_SHAPE') that says which `--shape NAME=…` to pass. A fixed first dim other than
 * `batch` is a KilnError('BAD_SHAPE').
 */
export function concreteInputs(specs: readonly TensorSpec[], shapes: Readonly<Record<string, readonly number[]>>, batch?: number): ConcreteInput[] {
  return specs.map((spec) => {
    const d0 = spec.shape[0];
    const batchDim = spec.shape.length > 0 && typeof d0 !== 'number';
    if (batch !== undefined && spec.shape.length > 0 && !batchDim && d0 !== batch) {
      throw new KilnError('BAD_SHAPE', `--batch ${batch}: input '${spec.name}' has a fixed batch dimension of ${d0} [${spec.shape.join(', ')}]`, {
        hint: `benchmark it at its own batch size (--batch ${d0}), or re-export the model with a dynamic batch dimension`,
      });
    }
    let dims: number[];
    if (shapes[spec.name]) dims = concreteShape(spec, shapes);
    else {
      const filled: TensorSpec = batchDim ? { ...spec, shape: [batch ?? 1, ...spec.shape.slice(1)] } : spec;
      const dynamic = filled.shape.map((d, i) => (typeof d === 'number' ? undefined : `${i} (${d})`)).filter((d): d is string => d !== undefined);
      if (dynamic.length) {
        const example = filled.shape.map((d) => (typeof d === 'number' ? d : 224)).join('x');
        throw new KilnError(
          'BAD_SHAPE',
          `input '${spec.name}' has dynamic dimensions [${spec.shape.join(', ')}] and kiln bench needs their sizes (dimension${dynamic.length > 1 ? 's' : ''} ${dynamic.join(', ')})`,
          {
            hint: `pass --shape ${spec.name}=DIMS with every dimension, e.g. --shape ${spec.name}=${example}`,
          },
        );
      }
      dims = concreteShape(filled, {});
    }
    if (batch !== undefined && batchDim) dims = [batch, ...dims.slice(1)];
    return { name: spec.name, dtype: spec.dtype, dims };
  });
}

/**
 * Seeded inputs: floats uniform in [0, 1) (or in `ranges[name]`, e.g. a zoo model's normalized value
 * range), integers and booleans zero. Same seed, same values.
 */
export function randomFeeds(inputs: readonly ConcreteInput[], seed = 7, ranges: Readonly<Record<string, readonly [number, number]>> = {}): NamedTensors {
  const uniform = mulberry32(seed);
  const feeds: NamedTensors = {};
  for (const input of inputs) {
    const [lo, hi] = ranges[input.name] ?? [0, 1];
    const rand = () => lo + (hi - lo) * uniform();
    const n = input.dims.reduce((a, b) => a * b, 1);
    let t: TensorData;
    switch (input.dtype) {
      case 'float32': {
        const data = new Float32Array(n);
        for (let i = 0; i < n; i++) data[i] = rand();
        t = { type: 'float32', dims: input.dims, data };
        break;
      }
      case 'float16': {
        const data = new Uint16Array(n);
        for (let i = 0; i < n; i++) data[i] = numberToFloat16(rand());
        t = { type: 'float16', dims: input.dims, data };
        break;
      }
      case 'float64': {
        const data = new Float64Array(n);
        for (let i = 0; i < n; i++) data[i] = rand();
        t = { type: 'float64', dims: input.dims, data };
        break;
      }
      case 'int64':
        t = { type: 'int64', dims: input.dims, data: new BigInt64Array(n) };
        break;
      case 'int32':
        t = { type: 'int32', dims: input.dims, data: new Int32Array(n) };
        break;
      case 'uint8':
      case 'bool':
        t = { type: input.dtype, dims: input.dims, data: new Uint8Array(n) };
        break;
      case 'int8':
        t = { type: 'int8', dims: input.dims, data: new Int8Array(n) };
        break;
      default:
        throw new KilnError('BAD_SHAPE', `input '${input.name}' is ${input.dtype}; kiln bench cannot make up values of that type`);
    }
    feeds[input.name] = t;
  }
  return feeds;
}

/** `[1, 3, 320, 320]` → '1x3x320x320'. */
export const dimsText = (dims: readonly number[]): string => dims.join('x');

/**
 * A sample tensor brought to `dims` by tiling (wrap-around in every dim): a zoo model's real sample
 * (a rendered text line, say) at the size being benchmarked, so that outputs compared between
 * variants come from realistic activations, not noise outside the calibrated ranges.
 */
export function tileTensor(sample: TensorData, dims: readonly number[]): TensorData {
  const src = sample.dims;
  if (src.length !== dims.length) throw new RangeError(`tileTensor: rank ${src.length} sample for rank ${dims.length} dims`);
  const n = dims.reduce((a, b) => a * b, 1);
  const Ctor = (sample.data as unknown as { constructor: new (n: number) => TensorData['data'] }).constructor;
  const out = new Ctor(n) as unknown as { [i: number]: number | bigint };
  const data = sample.data as unknown as ArrayLike<number | bigint>;
  const srcStrides = src.map((_, i) => src.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = new Array<number>(dims.length).fill(0);
  for (let k = 0; k < n; k++) {
    let off = 0;
    for (let d = 0; d < dims.length; d++) off += (idx[d] % src[d]) * srcStrides[d];
    out[k] = data[off];
    for (let d = dims.length - 1; d >= 0; d--) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  return { type: sample.type, dims: [...dims], data: out as unknown as TensorData['data'] };
}
