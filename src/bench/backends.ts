/**
 * The runtimes the benchmark drives: the InferenceBackends of kiln's registry (src/runtime), plus
 * the few facts about them the benchmark reports. Nothing in src/bench imports a runtime directly
 * (the child process script, child/run-models.cjs, aside: a fresh process is its point).
 */
import type { InferenceBackend } from '../runtime/backend.js';
import { installedVersion } from '../runtime/package-info.js';
import { getBackend } from '../runtime/registry.js';

export type BenchBackendName = 'ort-node' | 'ort-web';

/** The backend by name, from the shared registry. */
export function benchBackend(name: BenchBackendName): InferenceBackend {
  return getBackend(name);
}

/** Why this host cannot run onnxruntime-node's CUDA provider (the registry's answer), or undefined when it can. */
export async function cudaUnavailableReason(): Promise<string | undefined> {
  const answer = await getBackend('ort-node').available({ executionProviders: ['cuda', 'cpu'] });
  return answer.ok ? undefined : answer.reason;
}

export { ortNodeBindingDir } from '../runtime/package-info.js';

/** Versions of the runtimes, for the report's host section (read from package.json: nothing is loaded). */
export const runtimeVersions = (): Record<string, string> => ({
  'onnxruntime-node': installedVersion('onnxruntime-node') ?? 'not installed',
  'onnxruntime-web': installedVersion('onnxruntime-web') ?? 'not installed',
});
