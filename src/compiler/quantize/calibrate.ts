/**
 * Running calibration data through the float model and keeping statistics of every float
 * activation. Memory stays bounded: one sample's activations at a time, reduced to a running range
 * (and, for Percentile/Entropy, a fixed-size histogram filled in a second pass).
 */
import type { NamedTensors, TensorData } from '../../numerics/tensor.js';
import type { ModelProto } from '../../onnx/proto-types.js';
import { serializeModel } from '../../onnx/model.js';
import { createOrtNodeSession, ort } from '../../runtime/ort-node.js';
import { AbsHistogram, calibratedRange, RunningRange, type CalibrationMethod, type Range } from '../calibration.js';

/** One sample: a tensor per model input. */
export type Sample = NamedTensors;
/** Calibration data is read again for each pass, one sample at a time. */
export type SampleStream = () => AsyncIterable<Sample>;

export interface CalibrationResult {
  ranges: Map<string, Range>;
  /** Shape of each observed float tensor (from the last sample). */
  shapes: Map<string, number[]>;
  samples: number;
}

export interface CalibrateOptions {
  method: CalibrationMethod;
  /** Percentile for the 'percentile' method (default 99.999). */
  percentile?: number;
  /** Called after each sample with (done, total passes × samples so far). */
  onProgress?: (done: number, pass: number, passes: number) => void;
  /** Intra-op threads (default: onnxruntime's). */
  threads?: number;
}

export const toOrtTensor = (t: TensorData): ort.Tensor => new ort.Tensor(t.type as 'float32', t.data as unknown as Float32Array, [...t.dims]);

/** A copy of the model whose graph also outputs every intermediate tensor (types left for onnxruntime to infer). */
export function withIntermediateOutputs(model: ModelProto, names?: readonly string[]): ModelProto {
  const graph = model.graph!;
  const existing = new Set(graph.output.map((o) => o.name));
  const wanted = names ?? graph.node.flatMap((n) => n.output).filter(Boolean);
  const extra = [...new Set(wanted)].filter((n) => !existing.has(n)).map((name) => ({ name, docString: '', metadataProps: [] }));
  return { ...model, graph: { ...graph, output: [...graph.output, ...extra] } };
}

export async function calibrate(model: ModelProto, stream: SampleStream, options: CalibrateOptions): Promise<CalibrationResult> {
  const session = await createOrtNodeSession(serializeModel(withIntermediateOutputs(model)), {
    optimization: 'disabled',
    threads: options.threads,
    source: 'calibration model',
  });
  const floatInputs = new Set(model.graph!.input.filter((i) => i.type?.tensorType?.elemType === 1).map((i) => i.name));
  const ranges = new Map<string, RunningRange>();
  const shapes = new Map<string, number[]>();
  const passes = options.method === 'minmax' ? 1 : 2;
  let samples = 0;
  const observe = async (sample: Sample, visit: (name: string, data: Float32Array) => void) => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) feeds[name] = toOrtTensor(sample[name]);
    for (const name of floatInputs) {
      if (!sample[name]) continue;
      visit(name, sample[name].data as Float32Array);
      shapes.set(name, [...sample[name].dims]);
    }
    const out = await session.run(feeds);
    for (const [name, t] of Object.entries(out)) {
      if (t.type === 'float32') {
        visit(name, t.data as Float32Array);
        shapes.set(name, [...t.dims]);
      }
      t.dispose?.();
    }
  };
  try {
    for await (const sample of stream()) {
      await observe(sample, (name, data) => {
        let r = ranges.get(name);
        if (!r) ranges.set(name, (r = new RunningRange()));
        r.update(data);
      });
      samples++;
      options.onProgress?.(samples, 1, passes);
    }
    const hists = new Map<string, AbsHistogram>();
    if (passes === 2) {
      let done = 0;
      for (const [name, r] of ranges) hists.set(name, new AbsHistogram(r.absMax));
      for await (const sample of stream()) {
        await observe(sample, (name, data) => hists.get(name)?.update(data));
        options.onProgress?.(++done, 2, passes);
      }
    }
    const result = new Map<string, Range>();
    for (const [name, r] of ranges) result.set(name, calibratedRange(options.method, r, hists.get(name), options.percentile));
    return { ranges: result, shapes, samples };
  } finally {
    await session.release();
  }
}
