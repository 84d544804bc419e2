/**
 * The agent's seam to a runtime: an InferenceBackend (src/runtime/backend.ts) over onnxruntime-node's
 * CPU session. It is leaner than the registry's ort-node backend on the request path on purpose:
 * the agent has already checked every request against the model's signature (http/oip.ts), so this
 * adapter skips the per-call feed checks and output copies (the overhead budget is ≤ 10 % of a
 * MobileNetV2 run). `resolveBackend` is the one place to route other targets to src/runtime.
 */
import type { BackendLoadOptions, InferenceBackend, LoadedModelHandle, NamedTensors, TensorInfo } from '../runtime/backend.js';

export interface OrtNodeAdapterOptions {
  /**
   * Let onnxruntime's intra-op threads spin while idle. Off by default: on a small device the
   * spinning threads take the cores the HTTP side needs between runs. @default false
   */
  spinning?: boolean;
}

/** onnxruntime-node behind the InferenceBackend interface (imports the runtime lazily: fast CLI start). */
export function ortNodeBackend(adapter: OrtNodeAdapterOptions = {}): InferenceBackend {
  let version = 'unknown';
  return {
    name: 'ort-node',
    describe: () => `onnxruntime-node ${version} (cpu)`,
    async available() {
      try {
        await import('../runtime/ort-node.js');
        return { ok: true };
      } catch (err) {
        return { ok: false, reason: `onnxruntime-node cannot load: ${(err as Error).message}` };
      }
    },
    async load(model: string | Uint8Array, options: BackendLoadOptions = {}): Promise<LoadedModelHandle> {
      const { createOrtNodeSession, ort } = await import('../runtime/ort-node.js');
      version = ort.env.versions?.node ?? ort.env.versions?.common ?? version;
      const session = await createOrtNodeSession(model, {
        threads: options.threads,
        optimization: options.optimization,
        ...(adapter.spinning ? {} : { configEntries: { 'session.intra_op.allow_spinning': '0' } }),
      });
      const info = (names: readonly string[], meta: readonly unknown[] | undefined): TensorInfo[] =>
        names.map((name, i) => {
          const m = (meta?.[i] ?? {}) as { type?: string; shape?: readonly (number | string)[]; isTensor?: boolean };
          return { name, type: m.type ?? 'unknown', shape: m.shape ?? [] };
        });
      const s = session as unknown as { inputMetadata?: readonly unknown[]; outputMetadata?: readonly unknown[] };
      return {
        backend: 'ort-node',
        inputs: info(session.inputNames, s.inputMetadata),
        outputs: info(session.outputNames, s.outputMetadata),
        async run(feeds: NamedTensors): Promise<NamedTensors> {
          const ortFeeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
          for (const [name, t] of Object.entries(feeds)) {
            ortFeeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims as number[]);
          }
          return (await session.run(ortFeeds)) as unknown as NamedTensors;
        },
        release: () => session.release(),
      };
    },
  };
}

/** The backend for an artifact's target backend name. Every artifact is standard ONNX, so ort-node runs them all on CPU. */
export function resolveBackend(_name: string, adapter: OrtNodeAdapterOptions = {}): InferenceBackend {
  return ortNodeBackend(adapter);
}
