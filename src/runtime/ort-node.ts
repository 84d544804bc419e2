/**
 * onnxruntime-node, CPU provider. The only module that imports onnxruntime-node.
 * (The InferenceBackend interface and the other runtimes build on this in src/runtime.)
 */
import * as ort from 'onnxruntime-node';
import { KilnError } from '../errors.js';

export type OrtTensor = ort.Tensor;
export type OrtSession = ort.InferenceSession;
export { ort };

export interface OrtNodeSessionOptions {
  /** Intra-op threads (default: onnxruntime's choice). */
  threads?: number;
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
    executionProviders: ['cpu'],
    graphOptimizationLevel: options.optimization ?? 'all',
    logSeverityLevel: 3,
  };
  if (options.threads) {
    sessionOptions.intraOpNumThreads = options.threads;
    sessionOptions.interOpNumThreads = 1;
  }
  if (options.optimizedModelFilePath) sessionOptions.optimizedModelFilePath = options.optimizedModelFilePath;
  if (options.configEntries) (sessionOptions as { extra?: unknown }).extra = nestConfigEntries(options.configEntries);
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, sessionOptions)
      : await ort.InferenceSession.create(model, sessionOptions);
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
