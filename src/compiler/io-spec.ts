/**
 * Model input/output specs and sample sources: what the compiler feeds a model when it calibrates
 * and verifies.
 */
import { KilnError } from '../errors.js';
import { dtypeShort } from '../onnx/dtypes.js';
import type { ModelProto, ValueInfoProto } from '../onnx/proto-types.js';
import type { TensorSpec } from '../protocol/manifest.js';
import { mulberry32 } from '../onnx/random.js';
import type { TensorData } from '../numerics/tensor.js';
import type { Sample } from './quantize/calibrate.js';

const specOf = (vi: ValueInfoProto): TensorSpec => ({
  name: vi.name,
  dtype: dtypeShort(vi.type?.tensorType?.elemType ?? 0),
  shape: (vi.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined ? d.dimValue : d.dimParam || '?')),
});

/** The model's real inputs (initializers listed as inputs are not inputs a caller feeds). */
export function inputSpecs(model: ModelProto): TensorSpec[] {
  const inits = new Set(model.graph!.initializer.map((t) => t.name));
  return model.graph!.input.filter((i) => !inits.has(i.name)).map(specOf);
}

export const outputSpecs = (model: ModelProto): TensorSpec[] => model.graph!.output.map(specOf);

/** A source of named input samples that can be read more than once. */
export interface DataSource {
  /** Where the samples come from, for reports ('calibration folder x', 'zoo samples', 'random'). */
  label: string;
  count: number;
  stream(): AsyncIterable<Sample>;
}

/** Samples held in memory (the zoo's sample inputs, tests). */
export function memorySource(label: string, samples: readonly Sample[]): DataSource {
  return {
    label,
    count: samples.length,
    async *stream() {
      yield* samples;
    },
  };
}

/** Take the samples at positions where keep(i) holds. */
export function subsetSource(source: DataSource, label: string, keep: (i: number) => boolean): DataSource {
  let count = 0;
  for (let i = 0; i < source.count; i++) if (keep(i)) count++;
  return {
    label,
    count,
    async *stream() {
      let i = 0;
      for await (const s of source.stream()) if (keep(i++)) yield s;
    },
  };
}

/** The first `n` samples of a source; stops reading the source there. */
export function takeSource(source: DataSource, n: number, label: string): DataSource {
  return {
    label,
    count: Math.min(n, source.count),
    async *stream() {
      if (n <= 0) return;
      let i = 0;
      for await (const s of source.stream()) {
        yield s;
        if (++i >= n) return;
      }
    },
  };
}

/**
 * The same source, each sample checked against the model's inputs as it is read: every input
 * present, of the model's dtype, with its static dims. `what` names the samples in the error
 * ('calibration sample'), so a bad sample fails in one line instead of deep in the runtime.
 */
export function checkedSource(source: DataSource, specs: readonly TensorSpec[], what: string): DataSource {
  const fix = "the samples must match the model's inputs (kiln inspect MODEL lists them)";
  return {
    ...source,
    async *stream() {
      let i = 0;
      for await (const sample of source.stream()) {
        i++;
        for (const spec of specs) {
          const t = sample[spec.name];
          if (!t)
            throw new KilnError(
              'CALIBRATION_DATA',
              `${what} ${i} (${source.label}): no input '${spec.name}' (it has ${Object.keys(sample).join(', ') || 'none'})`,
              { hint: fix },
            );
          if (t.type !== spec.dtype)
            throw new KilnError('CALIBRATION_DATA', `${what} ${i} (${source.label}): input '${spec.name}' is ${t.type}, the model takes ${spec.dtype}`, {
              hint: fix,
            });
          const fits = t.dims.length === spec.shape.length && spec.shape.every((d, k) => typeof d !== 'number' || d === t.dims[k]);
          if (!fits)
            throw new KilnError(
              'CALIBRATION_DATA',
              `${what} ${i} (${source.label}): input '${spec.name}' is [${t.dims.join(', ')}], the model takes [${spec.shape.join(', ')}]`,
              { hint: fix },
            );
        }
        yield sample;
      }
    },
  };
}

/** Concrete dims for an input: the model's static dims, with symbolic ones from `shapes`, else an error naming them. */
export function concreteShape(spec: TensorSpec, shapes: Readonly<Record<string, readonly number[]>> = {}): number[] {
  const given = shapes[spec.name];
  if (given) {
    if (given.length !== spec.shape.length) {
      throw new KilnError(
        'BAD_SHAPE',
        `--shape ${spec.name}=${given.join('x')} has rank ${given.length}, the model's input has rank ${spec.shape.length} [${spec.shape.join(', ')}]`,
      );
    }
    spec.shape.forEach((d, i) => {
      if (typeof d === 'number' && d !== given[i]) {
        throw new KilnError('BAD_SHAPE', `--shape ${spec.name}=${given.join('x')}: dimension ${i} is fixed to ${d} in the model`);
      }
    });
    return [...given];
  }
  const dynamic = spec.shape.map((d, i) => (typeof d === 'number' ? undefined : `${i} (${d})`)).filter(Boolean);
  if (dynamic.length) {
    throw new KilnError('BAD_SHAPE', `input '${spec.name}' has dynamic dimensions [${spec.shape.join(', ')}] and no shape was given`, {
      hint: `pass --shape ${spec.name}=${spec.shape.map((d) => (typeof d === 'number' ? d : 1)).join('x')} (with your real sizes)`,
    });
  }
  return spec.shape as number[];
}

/**
 * Inputs whose only dynamic dimension is the leading (batch) one and that `shapes` leaves open get
 * batch 1: what verification and calibration run at unless the user says otherwise. Returns the
 * shapes to use and one note per such input.
 */
export function batchOneShapes(
  specs: readonly TensorSpec[],
  shapes: Readonly<Record<string, readonly number[]>> = {},
): { shapes: Record<string, number[]>; notes: string[] } {
  const out: Record<string, number[]> = Object.fromEntries(Object.entries(shapes).map(([k, v]) => [k, [...v]]));
  const notes: string[] = [];
  for (const spec of specs) {
    if (shapes[spec.name] || spec.shape.length === 0 || typeof spec.shape[0] === 'number' || spec.shape.slice(1).some((d) => typeof d !== 'number')) continue;
    out[spec.name] = [1, ...(spec.shape.slice(1) as number[])];
    notes.push(
      `input '${spec.name}' has a dynamic batch dimension (${spec.shape[0]}): verified at batch 1, kept dynamic in the artifact (--shape ${spec.name}=${['N', ...spec.shape.slice(1)].join('x')} to verify at another size)`,
    );
  }
  return { shapes: out, notes };
}

/** Uniform random inputs in [0, 1) for float inputs and zeros for integer ones: a last resort for verification. */
export function randomSource(specs: readonly TensorSpec[], shapes: Readonly<Record<string, readonly number[]>>, count: number, seed = 1): DataSource {
  const dims = specs.map((s) => concreteShape(s, shapes));
  return {
    label: 'random inputs',
    count,
    async *stream() {
      const rand = mulberry32(seed);
      for (let k = 0; k < count; k++) {
        const sample: Sample = {};
        specs.forEach((spec, i) => {
          const n = dims[i].reduce((a, b) => a * b, 1);
          let t: TensorData;
          if (spec.dtype === 'float32') {
            const data = new Float32Array(n);
            for (let j = 0; j < n; j++) data[j] = rand();
            t = { type: 'float32', dims: dims[i], data };
          } else if (spec.dtype === 'int64') t = { type: 'int64', dims: dims[i], data: new BigInt64Array(n) };
          else if (spec.dtype === 'int32') t = { type: 'int32', dims: dims[i], data: new Int32Array(n) };
          else
            throw new KilnError('BAD_SHAPE', `input '${spec.name}' is ${spec.dtype}; kiln cannot make up values for it`, {
              hint: 'pass real samples with --calibration',
            });
          sample[spec.name] = t;
        });
        yield sample;
      }
    },
  };
}

/** The first sample a data source yields (the one timings and warm-ups run on), or undefined when it is empty. */
export async function firstSample(data: DataSource) {
  for await (const sample of data.stream()) return sample;
  return undefined;
}
