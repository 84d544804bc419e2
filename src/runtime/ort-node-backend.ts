/**
 * The `ort-node` InferenceBackend: onnxruntime-node on the CPU provider, and on CUDA / TensorRT where
 * their provider libraries are installed next to the binding (ONNXRUNTIME_NODE_INSTALL=cuda12).
 *
 * onnxruntime itself is reached only through ort-node.ts, imported lazily: creating this backend, or
 * listing it in a registry, loads nothing native. Each provider is probed once per backend object (a
 * one-row session on a tiny model) and the answer is kept.
 *
 * Providers: `executionProviders` lists them in order of preference. 'cpu' is always there underneath
 * (onnxruntime runs on it what an accelerator cannot); accelerators that are not installed are
 * dropped, and the backend is available when the list is ['cpu'] alone or at least one accelerator in
 * it works. A missing GPU provider is never silently replaced by the CPU: ask for ['cpu'] for that.
 */
import { existsSync, statSync } from 'node:fs';
import { KilnError } from '../errors.js';
import type { Availability, BackendLoadOptions, InferenceBackend, LoadedModelHandle, NamedTensors } from './backend.js';
import { checkFeeds } from './feeds.js';
import { checkLoadOptions, tensorInfos, toTensorData, type OrtValueMetadata } from './ort-common.js';
import { installedVersion } from './package-info.js';

/** A loaded session, as the backend needs it (tests substitute a fake). */
export interface OrtNodeSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(feeds: NamedTensors): Promise<NamedTensors>;
  release(): Promise<void>;
}

/** The slice of onnxruntime-node the backend uses. The default one imports ort-node.ts on first use. */
export interface OrtNodeRuntime {
  version(): string;
  /** Providers this build knows; `bundled: false` ones need extra libraries. */
  supportedProviders(): readonly { name: string; bundled: boolean }[];
  /** Libraries a non-bundled provider is missing from the binding's folder ([] when installed). */
  missingLibraries(provider: string): string[];
  createSession(
    model: string | Uint8Array,
    options: {
      threads?: number;
      interOpThreads?: number;
      optimization?: BackendLoadOptions['optimization'];
      executionProviders: readonly string[];
      configEntries?: Record<string, string>;
      source?: string;
    },
  ): Promise<OrtNodeSessionLike>;
}

export interface OrtNodeBackendOptions {
  /** How onnxruntime is reached. @default the real onnxruntime-node, imported lazily */
  runtime?: () => Promise<OrtNodeRuntime>;
}

const PROVIDER_TITLES: Readonly<Record<string, string>> = { cuda: 'CUDA', tensorrt: 'TensorRT', webgpu: 'WebGPU' };
const INSTALL_HINT: Readonly<Record<string, string>> = {
  cuda: 'install with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install',
  tensorrt: 'install with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install; TensorRT 10 libraries are needed too',
};

async function realRuntime(): Promise<OrtNodeRuntime> {
  const m = await import('./ort-node.js');
  return {
    version: m.ortNodeVersion,
    supportedProviders: m.ortNodeSupportedProviders,
    missingLibraries: (provider) => m.missingProviderLibraries(provider),
    async createSession(model, options) {
      const session = await m.createOrtNodeSession(model, options);
      return {
        inputNames: session.inputNames,
        outputNames: session.outputNames,
        inputMetadata: session.inputMetadata,
        outputMetadata: session.outputMetadata,
        async run(feeds) {
          const ortFeeds: Record<string, InstanceType<typeof m.ort.Tensor>> = {};
          for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new m.ort.Tensor(t.type as 'float32', t.data as Float32Array, [...t.dims]);
          const result = await session.run(ortFeeds);
          const out: NamedTensors = {};
          for (const name of session.outputNames) out[name] = toTensorData(result[name]);
          return out;
        },
        release: () => session.release(),
      };
    },
  };
}

let probeModel: Uint8Array | undefined;
/** A one-Gemm ONNX model, [1,1] → [1,1], for probing providers. */
async function tinyModel(): Promise<Uint8Array> {
  if (!probeModel) {
    const [{ buildMlp }, { serializeModel }] = await Promise.all([import('../onnx/builder.js'), import('../onnx/model.js')]);
    probeModel = serializeModel(buildMlp({ inputSize: 1, hidden: [], outputs: 1, batch: 1 }));
  }
  return probeModel;
}

const firstLine = (err: unknown): string => String((err as Error)?.message ?? err).split('\n')[0];

/** onnxruntime's own words for a failed probe, without its source location or kiln's load hint. */
function probeError(err: unknown): string {
  let text = firstLine((err as Error)?.cause ?? err).replace(/^\S+\.(cc|cpp|h):\d+\s+/, '');
  const fail = /\bFAIL : (.*)$/.exec(text);
  if (fail) text = fail[1];
  else if (text.includes(' was false. ')) text = text.slice(text.lastIndexOf(' was false. ') + 12);
  return text.length > 240 ? `${text.slice(0, 237)}...` : text;
}

/** Create the `ort-node` backend. Each object keeps its own probe results. */
export function createOrtNodeBackend(backendOptions: OrtNodeBackendOptions = {}): InferenceBackend {
  const getRuntime = backendOptions.runtime ?? realRuntime;
  let runtime: Promise<{ ok: true; rt: OrtNodeRuntime } | { ok: false; reason: string }> | undefined;
  const probes = new Map<string, Promise<Availability>>();

  const loadRuntime = () =>
    (runtime ??= getRuntime().then(
      (rt) => ({ ok: true as const, rt }),
      (err) => ({ ok: false as const, reason: `onnxruntime-node cannot load here: ${firstLine(err)}` }),
    ));

  /** Is one provider usable? Answered once. */
  const providerStatus = (rt: OrtNodeRuntime, provider: string): Promise<Availability> => {
    let answer = probes.get(provider);
    if (!answer) {
      answer = (async (): Promise<Availability> => {
        const title = PROVIDER_TITLES[provider] ?? provider;
        const known = rt.supportedProviders();
        const entry = known.find((p) => p.name === provider);
        if (!entry) {
          return {
            ok: false,
            reason: `onnxruntime-node ${rt.version()} has no '${provider}' execution provider on ${process.platform}/${process.arch} (it knows ${known.map((p) => p.name).join(', ')})`,
          };
        }
        if (!entry.bundled) {
          const missing = rt.missingLibraries(provider);
          if (missing.length > 0) return { ok: false, reason: `no ${title} provider installed (${INSTALL_HINT[provider] ?? `missing ${missing.join(', ')}`})` };
        }
        try {
          const session = await rt.createSession(await tinyModel(), {
            executionProviders: [provider],
            optimization: 'basic',
            threads: 1,
            source: `${provider} probe`,
          });
          await session.release();
          return { ok: true };
        } catch (err) {
          const detail = probeError(err);
          return {
            ok: false,
            reason: provider === 'cpu' ? `onnxruntime-node cannot create a session: ${detail}` : `${title} provider installed but it cannot start: ${detail}`,
          };
        }
      })();
      probes.set(provider, answer);
    }
    return answer;
  };

  /** The providers to pass to onnxruntime, or why none can run. */
  const plan = async (options: BackendLoadOptions): Promise<{ ok: true; rt: OrtNodeRuntime; providers: string[] } | { ok: false; reason: string }> => {
    checkLoadOptions('ort-node', options);
    const loaded = await loadRuntime();
    if (!loaded.ok) return loaded;
    const wanted = [...new Set(options.executionProviders ?? ['cpu'])];
    const accelerators = wanted.filter((p) => p !== 'cpu');
    if (accelerators.length === 0) {
      const cpu = await providerStatus(loaded.rt, 'cpu');
      return cpu.ok ? { ok: true, rt: loaded.rt, providers: ['cpu'] } : cpu;
    }
    const statuses = await Promise.all(accelerators.map(async (p) => ({ p, status: await providerStatus(loaded.rt, p) })));
    const usable = statuses.filter((s) => s.status.ok).map((s) => s.p);
    if (usable.length === 0) {
      const reasons = statuses.map((s) => (s.status.ok ? '' : s.status.reason));
      return { ok: false, reason: reasons.length === 1 ? reasons[0] : reasons.join('; ') };
    }
    return { ok: true, rt: loaded.rt, providers: [...usable, 'cpu'] };
  };

  return {
    name: 'ort-node',
    modelKind: 'onnx',
    providers: ['cpu', 'cuda', 'tensorrt'],
    describe: () => `onnxruntime-node ${installedVersion('onnxruntime-node') ?? '(not installed)'} (native: cpu; cuda, tensorrt where installed)`,
    async available(options = {}) {
      const p = await plan(options);
      return p.ok ? { ok: true } : { ok: false, reason: p.reason };
    },
    async load(model, options = {}): Promise<LoadedModelHandle> {
      const p = await plan(options);
      if (!p.ok)
        throw new KilnError('BACKEND_UNAVAILABLE', `ort-node cannot run here: ${p.reason}`, { hint: "try executionProviders ['cpu'], or the ort-web backend" });
      if (typeof model === 'string' && (!existsSync(model) || statSync(model).isDirectory())) {
        throw new KilnError('FILE_NOT_FOUND', `ort-node: ${model}: no such model file`, { hint: 'pass the path of an .onnx file' });
      }
      const session = await p.rt.createSession(model, {
        threads: options.threads,
        interOpThreads: options.interOpThreads,
        optimization: options.optimization,
        executionProviders: p.providers,
        ...(options.allowSpinning === false ? { configEntries: { 'session.intra_op.allow_spinning': '0' } } : {}),
      });
      const inputs = tensorInfos(session.inputNames, session.inputMetadata);
      const outputs = tensorInfos(session.outputNames, session.outputMetadata);
      let released = false;
      return {
        backend: 'ort-node',
        provider: p.providers.join(', '),
        inputs,
        outputs,
        async run(feeds) {
          if (released) throw new KilnError('CLOSED', 'ort-node: run() after release()');
          checkFeeds('ort-node', inputs, feeds);
          return session.run(feeds);
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
