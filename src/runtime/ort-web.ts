/**
 * onnxruntime-web's WebAssembly backend, in Node. The only module that imports onnxruntime-web.
 * (The same artifact runs in a browser page; see the bench's browser runner.)
 *
 * Threads are process-wide: onnxruntime-web reads `env.wasm.numThreads` once, when its WASM module
 * initializes (at the first session), and every later session in the process shares that pool. This
 * module records the count it initialized with; `strictThreads` callers are refused another count.
 */
import { availableParallelism } from 'node:os';
import * as ortWeb from 'onnxruntime-web';
import { KilnError } from '../errors.js';

export { ortWeb };

export interface OrtWebSessionOptions {
  /**
   * WASM threads, 0 = one per core. Only the first session of the process decides; later ones share it.
   * @default 1 (threads need cross-origin isolation in browsers)
   */
  threads?: number;
  /**
   * Refuse (KilnError 'BACKEND_UNAVAILABLE') a `threads` other than the one the process initialized
   * with, instead of running with the existing pool.
   * @default false
   */
  strictThreads?: boolean;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  source?: string;
}

let configuredThreads: number | undefined;

/** The thread count `threads` stands for (0 = one per core, unset = 1). */
export const resolveOrtWebThreads = (threads: number | undefined): number => (threads === undefined ? 1 : threads === 0 ? availableParallelism() : threads);

/** The WASM thread count this process initialized with, or undefined before the first session. */
export const ortWebThreads = (): number | undefined => configuredThreads;

/**
 * Why a session asking for `threads` would not get them (the process already runs another count),
 * or undefined when it would. An unset `threads` takes whatever the process has.
 */
export function ortWebThreadConflict(threads: number | undefined): string | undefined {
  if (configuredThreads === undefined || threads === undefined) return undefined;
  const wanted = resolveOrtWebThreads(threads);
  if (wanted === configuredThreads) return undefined;
  const plural = (n: number): string => `${n} thread${n === 1 ? '' : 's'}`;
  return `onnxruntime-web's WASM threads are fixed per process at its first init: this process runs ${plural(configuredThreads)}, asked for ${plural(wanted)} (use a separate process for another count)`;
}

/** Create a WASM session from model bytes; a refused model becomes a RUNTIME_LOAD KilnError. */
export async function createOrtWebSession(model: Uint8Array, options: OrtWebSessionOptions = {}): Promise<ortWeb.InferenceSession> {
  if (options.strictThreads) {
    const conflict = ortWebThreadConflict(options.threads);
    if (conflict) throw new KilnError('BACKEND_UNAVAILABLE', `${options.source ?? 'model'}: ${conflict}`);
  }
  // numThreads is read once, when the WASM module first initializes.
  if (configuredThreads === undefined) {
    configuredThreads = resolveOrtWebThreads(options.threads);
    ortWeb.env.wasm.numThreads = configuredThreads;
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
