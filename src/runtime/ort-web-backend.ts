/**
 * The `ort-web` InferenceBackend: onnxruntime-web's WebAssembly build, in Node (the same runtime a
 * browser page uses). onnxruntime-web is reached only through ort-web.ts, imported lazily.
 *
 * Threads are per process, fixed when the WASM module first initializes (the first load): a later
 * load or `available()` asking for another count is refused with a reason that says so. Leave
 * `threads` unset to take whatever the process runs. `available()` does not initialize the WASM
 * module (that would fix the thread count): it answers whether the module can be imported and the
 * options can be honoured.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { KilnError } from '../errors.js';
import type { Availability, BackendLoadOptions, InferenceBackend, LoadedModelHandle, NamedTensors } from './backend.js';
import { checkFeeds } from './feeds.js';
import { checkLoadOptions, tensorInfos, toTensorData } from './ort-common.js';
import { installedVersion } from './package-info.js';
import { missingOptionalPackage } from '../optional-packages.js';

type OrtWebModule = typeof import('./ort-web.js');

/** Providers onnxruntime-web runs in Node: its WASM CPU kernels ('cpu' is onnxruntime-web's alias for them). */
const PROVIDERS = ['wasm', 'cpu'];

const firstLine = (err: unknown): string => String((err as Error)?.message ?? err).split('\n')[0];

/** Read a model path into bytes; a missing file or a folder is a FILE_NOT_FOUND KilnError. */
export async function readModelBytes(model: string | Uint8Array, backend: string): Promise<Uint8Array> {
  if (typeof model !== 'string') return model;
  if (!existsSync(model) || statSync(model).isDirectory()) {
    throw new KilnError('FILE_NOT_FOUND', `${backend}: ${model}: no such model file`, { hint: 'pass the path of an .onnx file' });
  }
  return new Uint8Array(await readFile(model));
}

export function createOrtWebBackend(): InferenceBackend {
  let module: Promise<{ ok: true; m: OrtWebModule } | { ok: false; reason: string; missing?: boolean }> | undefined;
  const loadModule = () =>
    (module ??= import('./ort-web.js').then(
      (m) => ({ ok: true as const, m }),
      (err) =>
        missingOptionalPackage(err) === 'onnxruntime-web'
          ? { ok: false as const, reason: 'onnxruntime-web is not installed (an optional package: npm install onnxruntime-web)', missing: true }
          : { ok: false as const, reason: `onnxruntime-web cannot load here: ${firstLine(err)}` },
    ));

  const check = async (options: BackendLoadOptions): Promise<{ ok: true; m: OrtWebModule } | { ok: false; reason: string; missing?: boolean }> => {
    checkLoadOptions('ort-web', options);
    const unsupported = (options.executionProviders ?? []).filter((p) => !PROVIDERS.includes(p));
    // As in ort-node, a CPU in the list is not a stand-in for an accelerator that is missing.
    if (unsupported.length > 0) {
      return { ok: false, reason: `onnxruntime-web in Node runs only the 'wasm' provider (asked for ${unsupported.join(', ')})` };
    }
    const loaded = await loadModule();
    if (!loaded.ok) return loaded;
    const conflict = loaded.m.ortWebThreadConflict(options.threads);
    return conflict ? { ok: false, reason: conflict } : loaded;
  };

  return {
    name: 'ort-web',
    modelKind: 'onnx',
    providers: ['wasm'],
    describe: () => `onnxruntime-web ${installedVersion('onnxruntime-web') ?? '(not installed)'} (WebAssembly, SIMD; threads fixed per process)`,
    async available(options = {}): Promise<Availability> {
      const c = await check(options);
      return c.ok ? { ok: true } : { ok: false, reason: c.reason };
    },
    async load(model, options = {}): Promise<LoadedModelHandle> {
      const c = await check(options);
      if (!c.ok && c.missing)
        throw new KilnError('MISSING_PACKAGE', 'the wasm runtime needs the optional package onnxruntime-web, which is not installed', {
          hint: 'npm install onnxruntime-web',
        });
      if (!c.ok) throw new KilnError('BACKEND_UNAVAILABLE', `ort-web cannot run here as asked: ${c.reason}`);
      const { m } = c;
      const bytes = await readModelBytes(model, 'ort-web');
      const session = await m.createOrtWebSession(bytes, {
        threads: options.threads,
        strictThreads: true,
        optimization: options.optimization,
        source: typeof model === 'string' ? model : 'model',
      });
      const inputs = tensorInfos(session.inputNames, session.inputMetadata);
      const outputs = tensorInfos(session.outputNames, session.outputMetadata);
      const threads = m.ortWebThreads() ?? 1;
      let released = false;
      return {
        backend: 'ort-web',
        provider: `wasm (${threads} thread${threads === 1 ? '' : 's'})`,
        inputs,
        outputs,
        async run(feeds: NamedTensors): Promise<NamedTensors> {
          if (released) throw new KilnError('CLOSED', 'ort-web: run() after release()');
          checkFeeds('ort-web', inputs, feeds);
          const ortFeeds: Record<string, InstanceType<typeof m.ortWeb.Tensor>> = {};
          for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new m.ortWeb.Tensor(t.type as 'float32', t.data as Float32Array, [...t.dims]);
          const result = await session.run(ortFeeds);
          const out: NamedTensors = {};
          for (const name of session.outputNames) out[name] = toTensorData(result[name]);
          return out;
        },
        async release() {
          if (released) return;
          released = true;
          await session.release();
        },
      };
    },
  };
}
