/**
 * onnxruntime-web's WebAssembly backend, in Node. The only module that imports onnxruntime-web.
 * (The same artifact runs in a browser page; see the bench's browser runner.)
 */
import * as ortWeb from 'onnxruntime-web';
import { KilnError } from '../errors.js';

export { ortWeb };

export interface OrtWebSessionOptions {
  /** WASM threads (default 1: threads need cross-origin isolation in browsers). */
  threads?: number;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  source?: string;
}

let configuredThreads: number | undefined;

/** Create a WASM session from model bytes; a refused model becomes a RUNTIME_LOAD KilnError. */
export async function createOrtWebSession(model: Uint8Array, options: OrtWebSessionOptions = {}): Promise<ortWeb.InferenceSession> {
  const threads = options.threads ?? 1;
  // numThreads is read once, when the WASM module first initializes.
  if (configuredThreads === undefined) {
    ortWeb.env.wasm.numThreads = threads;
    configuredThreads = threads;
  }
  ortWeb.env.logLevel = 'error';
  try {
    return await ortWeb.InferenceSession.create(model, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: options.optimization ?? 'all',
    });
  } catch (err) {
    const detail = String((err as Error).message ?? err).split('\n')[0];
    throw new KilnError('RUNTIME_LOAD', `${options.source ?? 'model'}: onnxruntime-web (wasm) could not load the model: ${detail}`, {
      hint: 'the model may use an operator the WebAssembly build does not have',
      cause: err,
    });
  }
}

export const ortWebVersion = (): string => ortWeb.env.versions?.web ?? 'unknown';
