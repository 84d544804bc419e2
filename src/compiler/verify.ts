/**
 * Verifying a compiled model against the original: both run on the same evaluation inputs, outputs
 * compared per output (cosine, max/mean abs error, top-1 agreement for classifier-like outputs).
 * The compiled model runs on the target's own runtime where this host has it.
 */
import type { TargetProfile } from '../targets/profiles.js';
import type { BackendLoadOptions, ModelRunner, RunningModel } from '../runtime/backend.js';
import { ortNodeVersion } from '../runtime/ort-node.js';
import { installedVersion } from '../runtime/package-info.js';
import { getBackend } from '../runtime/registry.js';
import { findArm64Emulation, type Arm64Emulation } from '../runtime/emulation.js';
import { startModelServer, type ModelServer } from '../runtime/model-server.js';
import { accumulate, figures, newAccumulator, type OutputAccumulator, type OutputFigures } from './metrics.js';
import type { Sample } from './quantize/calibrate.js';
import type { DataSource } from './io-spec.js';

export type { ModelRunner, RunningModel } from '../runtime/backend.js';

/** A runner over one of kiln's inference backends (src/runtime). */
function backendRunner(backendName: 'ort-node' | 'ort-web', load: BackendLoadOptions, label: string): ModelRunner {
  return {
    label,
    native: true,
    async load(bytes) {
      const handle = await getBackend(backendName).load(bytes, load);
      return { run: (sample) => handle.run(sample), release: () => handle.release() };
    },
  };
}

export function ortNodeRunner(options: { threads?: number; optimization?: 'disabled' | 'basic' | 'extended' | 'all' } = {}): ModelRunner {
  // Spinning off: runners are timed side by side, and an idle spinning session steals the core.
  return backendRunner(
    'ort-node',
    { threads: options.threads, optimization: options.optimization, allowSpinning: false, executionProviders: ['cpu'] },
    `onnxruntime-node ${ortNodeVersion()} (cpu)`,
  );
}

/** onnxruntime-web's thread count is fixed per process at first use; without `threads` the runner takes it as it is. */
export function ortWebRunner(options: { threads?: number } = {}): ModelRunner {
  return backendRunner('ort-web', { threads: options.threads }, `onnxruntime-web ${installedVersion('onnxruntime-web') ?? '(not installed)'} (wasm)`);
}

export interface EmulatedRunnerOptions {
  /** Intra-op threads of the emulated runtime (0: its default, one per core). @default 0 */
  threads?: number;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Longest wait for one sample, in ms. @default 120_000 */
  runTimeoutMs?: number;
}

/**
 * onnxruntime-node's own linux/arm64 build, run under qemu user-mode emulation in one long-lived
 * child process (src/runtime/model-server.ts): started on the first load, each model loaded once,
 * samples streamed. Its NEON and int8 dot-product kernels really run; its timings mean nothing.
 */
export function emulatedArm64Runner(emulation: Extract<Arm64Emulation, { ok: true }>, options: EmulatedRunnerOptions = {}): ModelRunner {
  const label = `onnxruntime-node ${ortNodeVersion()} (cpu, arm64 under qemu ${emulation.cpu})`;
  let server: Promise<ModelServer> | undefined;
  const serverNow = () => {
    server ??= startModelServer(emulation.launcher, {
      name: `onnxruntime-node's arm64 runtime under ${emulation.qemu} (${emulation.cpu}, sysroot ${emulation.sysroot})`,
      hint: 'check the emulation with scripts/setup-arm64-emulation.sh, or pass --verify-on host to verify on the x86-64 stand-in instead',
      runTimeoutMs: options.runTimeoutMs,
    }).catch((err: unknown) => {
      server = undefined;
      throw err;
    });
    return server;
  };
  return {
    label,
    native: false,
    emulated: true,
    note: `emulated: onnxruntime-node's linux/arm64 kernels (NEON, int8 dot product) ran under qemu user-mode emulation (${emulation.cpu}) on this ${process.arch} host; outputs are the arm64 kernels', no timings were taken`,
    async load(bytes) {
      let s = await serverNow();
      if (s.pid === undefined) {
        // The last one crashed or was closed: a fresh one.
        server = undefined;
        s = await serverNow();
      }
      const model = await s.load(bytes, { threads: options.threads ?? 0, optimization: options.optimization });
      return { run: (sample) => model.run(sample), release: () => model.release() };
    },
    async close() {
      const s = server;
      server = undefined;
      if (s) await (await s.catch(() => undefined))?.close();
    },
  };
}

export interface RunnerChoice {
  /**
   * 'target': the target's own runtime, under emulation where this host needs it (arm64 on x86-64);
   * 'host': never an emulator, this host's onnxruntime stands in (faster, the target's kernels unexercised).
   * @default 'target'
   */
  verifyOn?: 'target' | 'host';
  /** Where to look for the emulation (PATH, KILN_ARM64_SYSROOT, QEMU_CPU). @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** The emulation finder (tests replace it). @default findArm64Emulation */
  findEmulation?: (env: Readonly<Record<string, string | undefined>>) => Arm64Emulation;
  /** For the emulated runner. */
  emulated?: EmulatedRunnerOptions;
}

const HOST_ARCH = process.arch.replace('x64', 'x86_64');

/** The runner for a target on this host: its own runtime where present, under emulation where set up, else a labelled stand-in. */
export function runnerForTarget(profile: TargetProfile, choice: RunnerChoice = {}): ModelRunner {
  if (profile.runtime.backend === 'ort-web') return ortWebRunner();
  const base = ortNodeRunner({ optimization: profile.runtime.optimizationLevel });
  const eps = profile.runtime.executionProviders;
  if (eps.includes('cuda') || eps.includes('tensorrt')) {
    return { ...base, native: false, note: 'no CUDA provider on this host: verified on the CPU provider (fp16 weights, fp32 compute)' };
  }
  if (profile.arch !== HOST_ARCH) {
    const standIn = (why: string): ModelRunner => ({
      ...base,
      native: false,
      note: `${why}: verified on onnxruntime's ${HOST_ARCH.replace('_', '-')} CPU kernels`,
    });
    if (profile.arch !== 'arm64' || HOST_ARCH !== 'x86_64') return standIn(`${profile.arch} runtime not on this ${process.arch} host`);
    if (choice.verifyOn === 'host') return standIn('arm64 runtime not used (verify on host was asked)');
    const emulation = (choice.findEmulation ?? findArm64Emulation)(choice.env ?? process.env);
    if (!emulation.ok)
      return standIn(`arm64 runtime not on this ${process.arch} host, and its emulation is not set up (${emulation.missing} missing: ${emulation.reason})`);
    return emulatedArm64Runner(emulation, { optimization: profile.runtime.optimizationLevel, ...choice.emulated });
  }
  return base;
}

export interface VerifyResult {
  outputs: OutputFigures[];
  samples: number;
}

/** Run reference and candidate on every sample of `data` and compare their outputs. */
export async function compareModels(
  reference: RunningModel,
  candidate: RunningModel,
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
