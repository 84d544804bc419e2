/**
 * Verifying a compiled model against the original: both run on the same evaluation inputs, outputs
 * compared per output (cosine, max/mean abs error, top-1 agreement for classifier-like outputs).
 * The compiled model runs on the target's own runtime where this host has it.
 */
import type { TargetProfile } from './targets.js';
import type { BackendLoadOptions, NamedTensors } from '../runtime/backend.js';
import { ortNodeVersion } from '../runtime/ort-node.js';
import { ortWebVersion } from '../runtime/ort-web.js';
import { getBackend } from '../runtime/registry.js';
import { accumulate, figures, newAccumulator, type OutputAccumulator, type OutputFigures } from './metrics.js';
import type { Sample } from './quantize/calibrate.js';
import type { DataSource } from './io-spec.js';

/** Something that runs model bytes on named inputs; one per runtime. */
export interface ModelRunner {
  /** e.g. 'onnxruntime-node 1.30.0 (cpu)'. */
  label: string;
  /** True when this runner is the target's own runtime, false when it stands in for it. */
  native: boolean;
  /** Why the target's own runtime could not be used (when native is false). */
  note?: string;
  load(bytes: Uint8Array): Promise<LoadedModel>;
}

export interface LoadedModel {
  run(sample: Sample): Promise<Record<string, { dims: readonly number[]; data: ArrayLike<number | bigint> }>>;
  release(): Promise<void>;
}

/** A runner over one of kiln's inference backends (src/runtime). */
function backendRunner(backendName: 'ort-node' | 'ort-web', load: BackendLoadOptions, label: string): ModelRunner {
  return {
    label,
    native: true,
    async load(bytes) {
      const handle = await getBackend(backendName).load(bytes, load);
      return {
        run: (sample) => handle.run(sample as NamedTensors),
        release: () => handle.release(),
      };
    },
  };
}

export function ortNodeRunner(options: { threads?: number; optimization?: 'disabled' | 'basic' | 'extended' | 'all' } = {}): ModelRunner {
  // Spinning off: runners are timed side by side, and an idle spinning session steals the core.
  return backendRunner('ort-node', { threads: options.threads, optimization: options.optimization, allowSpinning: false, executionProviders: ['cpu'] }, `onnxruntime-node ${ortNodeVersion()} (cpu)`);
}

/** onnxruntime-web's thread count is fixed per process at first use; without `threads` the runner takes it as it is. */
export function ortWebRunner(options: { threads?: number } = {}): ModelRunner {
  return backendRunner('ort-web', { threads: options.threads }, `onnxruntime-web ${ortWebVersion()} (wasm)`);
}

/** The runner for a target on this host: its own runtime where present, else a labelled stand-in. */
export function runnerForTarget(profile: TargetProfile): ModelRunner {
  if (profile.runtime.backend === 'ort-web') return ortWebRunner();
  const base = ortNodeRunner({ optimization: profile.runtime.optimizationLevel });
  const eps = profile.runtime.executionProviders;
  if (eps.includes('cuda') || eps.includes('tensorrt')) {
    return { ...base, native: false, note: 'no CUDA provider on this host: verified on the CPU provider (fp16 weights, fp32 compute)' };
  }
  if (profile.arch !== process.arch.replace('x64', 'x86_64')) {
    return { ...base, native: false, note: `${profile.arch} runtime not on this ${process.arch} host: verified on onnxruntime's x86-64 CPU kernels` };
  }
  return base;
}

export interface VerifyResult {
  outputs: OutputFigures[];
  samples: number;
}

/** Run reference and candidate on every sample of `data` and compare their outputs. */
export async function compareModels(
  reference: LoadedModel,
  candidate: LoadedModel,
  data: DataSource,
  onSample?: (done: number) => void,
): Promise<VerifyResult> {
  const accs = new Map<string, OutputAccumulator>();
  let samples = 0;
  for await (const sample of data.stream()) {
    const [a, b] = [await reference.run(sample), await candidate.run(sample)];
    for (const [name, ra] of Object.entries(a)) {
      const rb = b[name];
      if (!rb) continue;
      let acc = accs.get(name);
      if (!acc) accs.set(name, (acc = newAccumulator(name, ra.dims)));
      accumulate(acc, ra.data, rb.data);
    }
    onSample?.(++samples);
  }
  return { outputs: [...accs.values()].map(figures), samples };
}

export interface Budget {
  minCosine: number;
  maxTop1Drop: number;
}

/** The worst figure against the budget: positive margin = within budget. */
export function budgetMargin(outputs: readonly OutputFigures[], budget: Budget): number {
  let margin = Infinity;
  for (const o of outputs) {
    margin = Math.min(margin, o.cosine - budget.minCosine);
    if (o.top1Agreement !== undefined) margin = Math.min(margin, budget.maxTop1Drop - (1 - o.top1Agreement));
  }
  return margin === Infinity ? 0 : margin;
}
