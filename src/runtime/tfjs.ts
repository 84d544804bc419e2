/**
 * TensorFlow.js for kiln's runtime: the only module in src/runtime that imports @tensorflow/tfjs and its
 * wasm backend (the `tfjs` InferenceBackend in tfjs-backend.ts imports this module lazily).
 *
 * TF.js backends, in kiln's order of preference:
 * - 'tensorflow': the native TensorFlow of @tensorflow/tfjs-node, used only when that package is
 *   installed (it is an optional extra, never a dependency: it is imported by a computed name).
 * - 'wasm': @tensorflow/tfjs-backend-wasm (SIMD, single-threaded in Node); its .wasm files are found
 *   in node_modules and their folder is given to `setWasmPaths`.
 * - 'cpu': plain JavaScript kernels, ~30× slower than wasm; always there.
 *
 * TF.js keeps one active backend per process. Each backend is initialized once; a model is loaded and
 * run with its backend made active, so models on different backends can coexist (switching moves
 * tensors between backends, so keep one backend per process when speed matters).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { isKilnError, KilnError } from '../errors.js';
import type { Availability } from './backend.js';
import { packageDir } from './package-info.js';

export { tf };

/** The TF.js backends kiln knows, in order of preference. */
export const TFJS_BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
export type TfjsBackendName = (typeof TFJS_BACKENDS)[number];

export const tfjsVersion = (): string => tf.version.tfjs;

/** The .wasm files tfjs-backend-wasm may ask for. */
export const TFJS_WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'] as const;

/** The folder (with a final separator) holding tfjs-backend-wasm's .wasm files, or why it was not found. */
export function locateTfjsWasmFiles(): { ok: true; dir: string } | { ok: false; reason: string } {
  const root = packageDir('@tensorflow/tfjs-backend-wasm');
  if (!root) return { ok: false, reason: '@tensorflow/tfjs-backend-wasm is not installed' };
  const dir = join(root, 'dist');
  const present = TFJS_WASM_FILES.filter((f) => existsSync(join(dir, f)));
  if (!present.includes('tfjs-backend-wasm.wasm') && !present.includes('tfjs-backend-wasm-simd.wasm')) {
    return { ok: false, reason: `no tfjs-backend-wasm .wasm file in ${dir}` };
  }
  return { ok: true, dir: dir.endsWith('/') ? dir : `${dir}/` };
}

const inits = new Map<TfjsBackendName, Promise<Availability>>();
const firstLine = (err: unknown): string => String((err as Error)?.message ?? err).split('\n')[0];

/** The backend TF.js has active now, without making it pick one. */
const activeBackend = (): string | undefined => (tf.engine() as unknown as { backendName?: string }).backendName ?? undefined;

async function initialize(name: TfjsBackendName): Promise<Availability> {
  const previous = activeBackend();
  try {
    if (name === 'tensorflow') {
      if (!packageDir('@tensorflow/tfjs-node')) {
        return { ok: false, reason: '@tensorflow/tfjs-node is not installed (npm install @tensorflow/tfjs-node for native TensorFlow)' };
      }
      const specifier = '@tensorflow/tfjs-node';
      try {
        await import(specifier);
      } catch (err) {
        return { ok: false, reason: `@tensorflow/tfjs-node is installed but does not load: ${firstLine(err)}` };
      }
    }
    if (name === 'wasm') {
      const files = locateTfjsWasmFiles();
      if (!files.ok) return files;
      try {
        setWasmPaths(files.dir);
      } catch {
        // Already initialized by someone else: its paths stay.
      }
    }
    if (!tf.findBackendFactory(name)) return { ok: false, reason: `TF.js has no '${name}' backend registered` };
    let ok: boolean;
    try {
      ok = await tf.setBackend(name);
    } catch (err) {
      return { ok: false, reason: `the TF.js '${name}' backend failed to initialize: ${firstLine(err)}` };
    }
    if (!ok) return { ok: false, reason: `the TF.js '${name}' backend failed to initialize` };
    if (name === 'cpu') {
      // The cpu backend prints a "install tfjs-node" banner on its first tensor: spend that tensor quietly.
      const prod = tf.env().getBool('PROD');
      tf.env().set('PROD', true);
      try {
        tf.dispose(tf.scalar(0));
      } finally {
        tf.env().set('PROD', prod);
      }
    }
    return { ok: true };
  } finally {
    if (previous && previous !== activeBackend()) await tf.setBackend(previous);
  }
}

/** Initialize a TF.js backend once (later calls get the same answer). The active backend is left as it was. */
export function initTfjsBackend(name: string): Promise<Availability> {
  if (!(TFJS_BACKENDS as readonly string[]).includes(name)) {
    return Promise.resolve({ ok: false, reason: `TF.js has no backend '${name}' in Node (kiln knows ${TFJS_BACKENDS.join(', ')})` });
  }
  const key = name as TfjsBackendName;
  let answer = inits.get(key);
  if (!answer) {
    answer = initialize(key);
    inits.set(key, answer);
  }
  return answer;
}

/** Make `name` the active TF.js backend (it must have been initialized). */
export async function activateTfjsBackend(name: string): Promise<void> {
  if (activeBackend() !== name && !(await tf.setBackend(name))) {
    throw new KilnError('BACKEND_UNAVAILABLE', `tfjs: the '${name}' backend cannot be activated`);
  }
}

/**
 * Load a TF.js layers model from its model.json (or the folder holding it); weight files are read
 * from the same folder. Bad files become KilnErrors: FILE_NOT_FOUND, or RUNTIME_LOAD with the reason.
 */
export async function loadTfjsLayersModel(modelJsonPath: string): Promise<tf.LayersModel> {
  const { readTfjsModelFiles } = await import('../importers/tfjs-files.js');
  let files: ReturnType<typeof readTfjsModelFiles>;
  try {
    files = readTfjsModelFiles(modelJsonPath);
  } catch (err) {
    if (isKilnError(err) && err.code === 'FILE_NOT_FOUND') throw err;
    const message = (err as Error).message.replace('kiln converts layers models only', 'the tfjs backend runs layers models only');
    throw new KilnError('RUNTIME_LOAD', `tfjs: ${message}`, { cause: err });
  }
  const { weightData } = files;
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: files.modelJson.modelTopology as object,
    format: files.modelJson.format,
    generatedBy: files.modelJson.generatedBy,
    convertedBy: files.modelJson.convertedBy ?? undefined,
    weightSpecs: files.weightSpecs as tf.io.WeightsManifestEntry[],
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) as ArrayBuffer,
  };
  try {
    return await tf.loadLayersModel({ load: async () => artifacts });
  } catch (err) {
    throw new KilnError('RUNTIME_LOAD', `${modelJsonPath}: TensorFlow.js could not load the layers model: ${firstLine(err)}`, {
      hint: 'the model may use a layer or a custom object this TF.js version does not have',
      cause: err,
    });
  }
}
