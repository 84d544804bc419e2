/**
 * Which runtime runs an installed artifact: the one its target names (manifest.target.backend and
 * executionProviders), resolved through src/runtime's backend registry — x86_64 / arm64 on
 * onnxruntime-node's CPU provider, gpu-cuda on onnxruntime-node with TensorRT / CUDA, wasm on
 * onnxruntime-web. A target this host cannot run is refused with the reason, unless the user allows
 * a CPU fallback: then the artifact runs on onnxruntime-node's CPU provider and says so (`note`).
 */
import { KilnError } from '../errors.js';
import type { ArtifactManifest } from '../protocol/manifest.js';
import type { BackendLoadOptions, InferenceBackend, LoadedModelHandle } from '../runtime/backend.js';
import type { BackendRegistry } from '../runtime/registry.js';
import type { AgentMetrics } from './metrics.js';
import type { Runner } from './runner.js';
import type { ModelStore } from './store/model-store.js';
import type { InstallRecord } from './store/state-db.js';

export interface RuntimeOptions {
  /** onnxruntime intra-op threads per model. @default onnxruntime's choice (ort-web: 1) */
  threads?: number;
  /** onnxruntime inter-op threads per model. @default 1 where threads is set, else onnxruntime's choice */
  interOpThreads?: number;
  /** Serve an artifact whose target's runtime is missing here (no CUDA, no onnxruntime-web) on onnxruntime-node's CPU provider. @default false */
  allowCpuFallback?: boolean;
}

/** How a loaded version runs: reported in the log, /v2/models/NAME metadata, metrics and install telemetry. */
export interface RuntimeChoice {
  /** The artifact's target profile name ('x86_64', 'gpu-cuda', 'wasm', ...). */
  target: string;
  /** The backend running it ('ort-node', 'ort-web'). */
  backend: string;
  /** What executes it: 'cpu', 'cuda, cpu', 'wasm (1 thread)'. */
  provider: string;
  threads?: number;
  interOpThreads?: number;
  /** Set when the artifact does not run where its target says: 'gpu-cuda artifact on CPU: no CUDA provider installed (...)'. */
  fallback?: string;
}

const ACCELERATED = (eps: readonly string[]): boolean => eps.some((p) => p !== 'cpu' && p !== 'wasm');

/** Where the optional runtime packages come from, for the refusal's hint. */
const INSTALL: Readonly<Record<string, string>> = {
  'ort-web': 'npm install onnxruntime-web',
  'ort-node': 'npm install onnxruntime-node',
};

/**
 * Load an artifact's model on the runtime its target names. `override`: one backend for every
 * artifact (a library user's choice), with the target's providers ignored.
 */
export async function loadForTarget(
  bytes: Uint8Array,
  target: ArtifactManifest['target'],
  options: RuntimeOptions,
  runtimes: { registry: () => BackendRegistry; override?: InferenceBackend },
): Promise<{ handle: LoadedModelHandle; runtime: RuntimeChoice }> {
  const load: BackendLoadOptions = {
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.interOpThreads !== undefined ? { interOpThreads: options.interOpThreads } : {}),
    // Idle onnxruntime threads spinning would take the cores the HTTP side needs between runs.
    allowSpinning: false,
  };
  const choice = (handle: LoadedModelHandle, backend: string, fallback?: string): RuntimeChoice => {
    // What the session got: onnxruntime-node takes 1 inter-op thread with an explicit intra-op count; WASM has no inter-op pool.
    const interOp = backend === 'ort-node' ? (options.interOpThreads ?? (options.threads ? 1 : undefined)) : undefined;
    return {
      target: target.name,
      backend,
      provider: handle.provider ?? 'cpu',
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
      ...(interOp !== undefined ? { interOpThreads: interOp } : {}),
      ...(fallback ? { fallback } : {}),
    };
  };
  if (runtimes.override) {
    const handle = await runtimes.override.load(bytes, load);
    return { handle, runtime: choice(handle, runtimes.override.name) };
  }
  const registry = runtimes.registry();
  const wanted = { ...load, executionProviders: target.executionProviders.length ? [...target.executionProviders] : undefined };
  let reason: string;
  if (!registry.has(target.backend)) {
    reason = `no '${target.backend}' backend in this kiln (it has ${registry
      .list()
      .map((b) => b.name)
      .join(', ')})`;
  } else if ((registry.get(target.backend).modelKind ?? 'onnx') !== 'onnx') {
    reason = `backend '${target.backend}' does not load ONNX models`;
  } else {
    const answer = await registry.check(target.backend, wanted);
    if (answer.ok) {
      const handle = await registry.get(target.backend).load(bytes, wanted);
      return { handle, runtime: choice(handle, target.backend) };
    }
    reason = answer.reason;
  }
  const eps = target.executionProviders.join(', ') || 'default providers';
  if (options.allowCpuFallback && registry.has('ort-node') && !(target.backend === 'ort-node' && !ACCELERATED(target.executionProviders))) {
    const cpu = { ...load, executionProviders: ['cpu'] };
    const answer = await registry.check('ort-node', cpu);
    if (answer.ok) {
      const handle = await registry.get('ort-node').load(bytes, cpu);
      return {
        handle,
        runtime: choice(handle, 'ort-node', `${target.name} artifact on CPU (onnxruntime-node): ${target.backend} [${eps}] cannot run here: ${reason}`),
      };
    }
    reason += `; the CPU fallback cannot run either: ${answer.reason}`;
  }
  const install = INSTALL[target.backend];
  const missingPackage = /is not installed|Cannot find (package|module)/i.test(reason);
  throw new KilnError('BACKEND_UNAVAILABLE', `a ${target.name} artifact runs on ${target.backend} [${eps}], which cannot run here: ${reason}`, {
    hint: [
      missingPackage && install ? `install it: ${install}` : ACCELERATED(target.executionProviders) ? 'run it on a host with that accelerator' : undefined,
      options.allowCpuFallback ? undefined : 'or start the agent with --allow-cpu-fallback to serve it on the CPU (logged and reported as such)',
    ]
      .filter(Boolean)
      .join(', '),
  });
}

/** Loads installed versions for the pool, each on its target's runtime, and remembers how each runs. */
export class VersionLoader {
  private readonly runtimes = new Map<number, RuntimeChoice>();

  constructor(
    private readonly deps: {
      store: ModelStore;
      runner: Runner;
      metrics: AgentMetrics;
      registry: () => BackendRegistry;
      override?: InferenceBackend;
      runtime: RuntimeOptions;
    },
  ) {}

  async load(record: InstallRecord): Promise<LoadedModelHandle> {
    const { store, runner, metrics, registry, override } = this.deps;
    const { threads, interOpThreads, allowCpuFallback } = this.deps.runtime;
    const bytes = store.readModel(record);
    const { handle, runtime } = await loadForTarget(
      bytes,
      runner.manifestOf(record).target,
      { threads, interOpThreads, allowCpuFallback },
      { registry, override },
    );
    this.runtimes.set(record.id, runtime);
    const labels = { model: record.model, version: record.version, target: runtime.target, backend: runtime.backend, provider: runtime.provider };
    metrics.runtime.set({ ...labels, fallback: runtime.fallback ? 'cpu' : '' }, 1);
    return handle;
  }

  /** How a version runs (undefined until it was loaded once in this process). */
  runtimeOf(id: number): RuntimeChoice | undefined {
    return this.runtimes.get(id);
  }
}
