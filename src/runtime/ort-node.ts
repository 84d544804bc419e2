/**
 * onnxruntime-node: sessions on the CPU provider, or CUDA / TensorRT where their provider libraries
 * are installed. The only module that imports onnxruntime-node (the `ort-node` InferenceBackend in
 * ort-node-backend.ts imports this module lazily, so loading kiln does not load the native addon).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { KilnError } from '../errors.js';

export type OrtTensor = ort.Tensor;
export type OrtSession = ort.InferenceSession;
export { ort };

export interface OrtNodeSessionOptions {
  /** Intra-op threads (default: onnxruntime's choice). */
  threads?: number;
  /** Inter-op threads. @default 1 when `threads` is set, else onnxruntime's choice */
  interOpThreads?: number;
  /** Execution providers in order of preference; onnxruntime runs on the CPU what they cannot. @default ['cpu'] */
  executionProviders?: readonly string[];
  /** Graph optimization level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Write the optimized model here (onnxruntime's offline optimization). */
  optimizedModelFilePath?: string;
  /** Name used in error messages. */
  source?: string;
  /** Extra session config entries (e.g. 'session.intra_op.allow_spinning': '0'). */
  configEntries?: Record<string, string>;
}

/** Create a CPU session from a path or bytes; a refused model becomes a RUNTIME_LOAD KilnError. */
export async function createOrtNodeSession(model: string | Uint8Array, options: OrtNodeSessionOptions = {}): Promise<ort.InferenceSession> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [...(options.executionProviders ?? ['cpu'])],
    graphOptimizationLevel: options.optimization ?? 'all',
    logSeverityLevel: 3,
  };
  if (options.threads) {
    sessionOptions.intraOpNumThreads = options.threads;
    sessionOptions.interOpNumThreads = 1;
  }
  if (options.interOpThreads) sessionOptions.interOpNumThreads = options.interOpThreads;
  if (options.optimizedModelFilePath) sessionOptions.optimizedModelFilePath = options.optimizedModelFilePath;
  if (options.configEntries) (sessionOptions as { extra?: unknown }).extra = nestConfigEntries(options.configEntries);
  try {
    return typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions) : await ort.InferenceSession.create(model, sessionOptions);
  } catch (err) {
    const source = options.source ?? (typeof model === 'string' ? model : 'model');
    const detail = String((err as Error).message ?? err).split('\n')[0];
    throw new KilnError('RUNTIME_LOAD', `${source}: onnxruntime could not load the model: ${detail}`, {
      hint: 'the file may be invalid ONNX, or use an operator this onnxruntime does not have',
      cause: err,
    });
  }
}

/** onnxruntime-node takes config entries as a nested object: {session: {intra_op: {allow_spinning: '0'}}}. */
function nestConfigEntries(entries: Record<string, string>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entries)) {
    const parts = key.split('.');
    let node = root;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]] = value;
  }
  return root;
}

/** onnxruntime-node's version, e.g. '1.30.0'. */
export const ortNodeVersion = (): string => ort.env.versions?.node ?? 'unknown';

/** The execution providers this build of onnxruntime-node knows; `bundled: false` ones need extra libraries. */
export function ortNodeSupportedProviders(): { name: string; bundled: boolean }[] {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

/** The folder holding this platform's binding and provider libraries (bin/napi-v6/<platform>/<arch>). */
export function ortNodeBinDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/** The shared libraries a non-bundled provider needs next to the binding (`ONNXRUNTIME_NODE_INSTALL=cuda12` puts them there). */
export function providerLibraryNames(provider: string, platform: NodeJS.Platform = process.platform): string[] {
  const lib = (name: string): string => (platform === 'win32' ? `${name}.dll` : `lib${name}.so`);
  if (provider === 'cuda') return [lib('onnxruntime_providers_shared'), lib('onnxruntime_providers_cuda')];
  if (provider === 'tensorrt') return [lib('onnxruntime_providers_shared'), lib('onnxruntime_providers_tensorrt')];
  return [];
}

/** Which of a provider's libraries are missing from the binding's folder (none for bundled providers). */
export function missingProviderLibraries(provider: string, binDir = ortNodeBinDir()): string[] {
  return providerLibraryNames(provider).filter((name) => !existsSync(join(binDir, name)));
}
