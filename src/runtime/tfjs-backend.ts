/**
 * The `tfjs` InferenceBackend: TensorFlow.js layers models (model.json + weight files), on the native
 * 'tensorflow' backend when @tensorflow/tfjs-node is installed, else 'wasm', else 'cpu' (see tfjs.ts,
 * imported lazily). `executionProviders` names TF.js backends in order of preference.
 *
 * `threads`, `optimization` and `allowSpinning` do not apply: the wasm backend is single-threaded in
 * Node, and TF.js optimizes nothing at load.
 */
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import type { Availability, BackendLoadOptions, InferenceBackend, LoadedModelHandle, NamedTensors, TensorData } from './backend.js';
import { checkFeeds } from './feeds.js';
import { checkLoadOptions } from './ort-common.js';
import { installedVersion } from './package-info.js';

type TfjsModule = typeof import('./tfjs.js');

const DEFAULT_ORDER = ['tensorflow', 'wasm', 'cpu'];
const firstLine = (err: unknown): string => String((err as Error)?.message ?? err).split('\n')[0];

/** The first bytes of a file, to tell a model.json from an ONNX protobuf. */
function head(path: string, bytes = 64): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(bytes);
    return buf.subarray(0, readSync(fd, buf, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/** Refuse what is not a model.json path (bytes, an ONNX file) with a message that says what to pass. */
function checkModelArgument(model: string | Uint8Array): string {
  const wrongKind = (what: string) =>
    new KilnError('WRONG_BACKEND', `tfjs: ${what}; the tfjs backend loads TF.js layers models (a model.json with its weight files)`, {
      hint: 'run ONNX models with the ort-node or ort-web backend, or pass the path of a model.json',
    });
  if (typeof model !== 'string') throw wrongKind('load() was given bytes, not the path of a model.json');
  if (!existsSync(model)) throw new KilnError('FILE_NOT_FOUND', `tfjs: ${model}: no such file`, { hint: 'pass the path of a TF.js model.json' });
  const file = statSync(model).isDirectory() ? join(model, 'model.json') : model;
  if (/\.(onnx|ort)$/i.test(file)) throw wrongKind(`${model} is an ONNX model`);
  if (existsSync(file)) {
    const text = new TextDecoder('utf-8', { fatal: false }).decode(head(file)).trimStart();
    if (!text.startsWith('{')) throw wrongKind(`${model} is not a model.json (not JSON; an ONNX or other binary file?)`);
  }
  return model;
}

/** A layer name as an ONNX-safe, unique tensor name (the importer's rule: letters, digits, _ . - only; _1, _2 for repeats). */
function uniqueName(layer: string, used: Set<string>): string {
  const base = layer.replace(/[^A-Za-z0-9_.-]/g, '_') || '_';
  let name = base;
  for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
  used.add(name);
  return name;
}

/** Plain numbers for TF.js: int64 (bigint) data becomes int32, which is what TF.js computes in. */
function toTfInput(t: TensorData): { data: Float32Array | Int32Array | Uint8Array; dtype: 'float32' | 'int32' | 'bool' } {
  if (t.type === 'float32') return { data: t.data as Float32Array, dtype: 'float32' };
  if (t.type === 'bool') return { data: t.data as Uint8Array, dtype: 'bool' };
  if (t.type === 'int32') return { data: t.data as Int32Array, dtype: 'int32' };
  if (['int64', 'int16', 'int8', 'uint8', 'uint16'].includes(t.type))
    return { data: Int32Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v)), dtype: 'int32' };
  return { data: Float32Array.from(t.data as ArrayLike<number>), dtype: 'float32' };
}

export function createTfjsBackend(): InferenceBackend {
  let module: Promise<{ ok: true; m: TfjsModule } | { ok: false; reason: string }> | undefined;
  const loadModule = () =>
    (module ??= import('./tfjs.js').then(
      (m) => ({ ok: true as const, m }),
      (err) => ({ ok: false as const, reason: `@tensorflow/tfjs cannot load here: ${firstLine(err)}` }),
    ));

  /** The first TF.js backend in the preference list that initializes, or why none does. */
  const choose = async (options: BackendLoadOptions): Promise<{ ok: true; m: TfjsModule; backend: string } | { ok: false; reason: string }> => {
    checkLoadOptions('tfjs', options);
    const loaded = await loadModule();
    if (!loaded.ok) return loaded;
    const wanted = [...new Set(options.executionProviders ?? DEFAULT_ORDER)];
    const reasons: string[] = [];
    for (const name of wanted) {
      const status = await loaded.m.initTfjsBackend(name);
      if (status.ok) return { ok: true, m: loaded.m, backend: name };
      reasons.push(wanted.length === 1 ? status.reason : `${name}: ${status.reason}`);
    }
    return { ok: false, reason: reasons.join('; ') };
  };

  return {
    name: 'tfjs',
    modelKind: 'tfjs',
    providers: DEFAULT_ORDER,
    describe: () =>
      `TensorFlow.js ${installedVersion('@tensorflow/tfjs') ?? '(not installed)'} (layers models; tensorflow where @tensorflow/tfjs-node is installed, else wasm, else cpu)`,
    async available(options = {}): Promise<Availability> {
      const c = await choose(options);
      return c.ok ? { ok: true } : { ok: false, reason: c.reason };
    },
    async load(model, options = {}): Promise<LoadedModelHandle> {
      const path = checkModelArgument(model);
      const c = await choose(options);
      if (!c.ok) throw new KilnError('BACKEND_UNAVAILABLE', `tfjs cannot run here as asked: ${c.reason}`);
      const { m, backend } = c;
      const tf = m.tf;
      await m.activateTfjsBackend(backend);
      const layersModel = await m.loadTfjsLayersModel(path);
      // Inputs and outputs are named after their layers, as the TF.js → ONNX importer names them.
      const used = new Set<string>();
      const info = (s: { sourceLayer: { name: string }; dtype: string; shape: (number | null)[] }) => ({
        name: uniqueName(s.sourceLayer.name, used),
        type: s.dtype,
        shape: s.shape.map((d) => d ?? null),
      });
      const inputs = layersModel.inputs.map(info);
      const outputs = layersModel.outputs.map(info);
      let released = false;
      return {
        backend: 'tfjs',
        provider: backend,
        inputs,
        outputs,
        async run(feeds: NamedTensors): Promise<NamedTensors> {
          if (released) throw new KilnError('CLOSED', 'tfjs: run() after release()');
          checkFeeds('tfjs', inputs, feeds);
          await m.activateTfjsBackend(backend);
          const xs = inputs.map((info) => {
            const { data, dtype } = toTfInput(feeds[info.name]);
            return tf.tensor(data, [...feeds[info.name].dims], dtype);
          });
          try {
            const predicted = layersModel.predict(xs.length === 1 ? xs[0] : xs);
            const ys = Array.isArray(predicted) ? predicted : [predicted];
            const out: NamedTensors = {};
            try {
              for (let i = 0; i < outputs.length; i++) {
                const y = ys[i];
                out[outputs[i].name] = { type: y.dtype, dims: [...y.shape], data: (await y.data()) as TensorData['data'] };
              }
            } finally {
              tf.dispose(ys);
            }
            return out;
          } finally {
            tf.dispose(xs);
          }
        },
        async release() {
          if (released) return;
          released = true;
          layersModel.dispose();
        },
      };
    },
  };
}
