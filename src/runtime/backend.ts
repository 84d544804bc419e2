/**
 * The one interface every runtime implements (ort-node, ort-web, tfjs), and the shapes it speaks.
 * Implementations live in their own modules; this file holds types only.
 */

import type { NamedTensors } from '../numerics/tensor.js';

/** The one tensor type lives in src/numerics/tensor.ts; the backend speaks it. */
export type { NamedTensors, TensorData, TensorType } from '../numerics/tensor.js';

export interface TensorInfo {
  name: string;
  type: string;
  /** Symbolic dims as strings; unknown as null. */
  shape: readonly (number | string | null)[];
}

/** What a backend loads: ONNX models, or TF.js layers models (model.json + weight files). */
export type ModelKind = 'onnx' | 'tfjs';

export interface BackendLoadOptions {
  /**
   * Intra-op threads; 0 = one per core (the backend's choice).
   * @default the backend's choice (ort-web: 1, fixed per process at its first init)
   */
  threads?: number;
  /**
   * Inter-op threads (onnxruntime-node: how many nodes of the graph run at once; ort-web ignores it).
   * @default 1 where `threads` is set, else onnxruntime's choice
   */
  interOpThreads?: number;
  /**
   * Let idle worker threads spin (onnxruntime's `session.intra_op.allow_spinning`). Set false when
   * several sessions share the cores, e.g. benchmarking two side by side.
   * @default true
   */
  allowSpinning?: boolean;
  /** Graph optimization level applied at load (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Execution providers in order of preference, e.g. ['cuda', 'cpu'] (ort-node), ['wasm'] (ort-web);
   * for tfjs the TF.js backends: ['tensorflow', 'wasm', 'cpu'].
   * @default the backend's `providers` (ort-node: ['cpu'])
   */
  executionProviders?: readonly string[];
}

/** The answer of `available()`. */
export type Availability = { ok: true } | { ok: false; reason: string };

/** A model loaded in a backend. */
export interface LoadedModelHandle {
  readonly backend: string;
  /** What actually runs it: 'cpu', 'cuda, cpu' (ort-node), 'wasm (1 thread)' (ort-web), 'wasm' (the TF.js backend, for tfjs). */
  readonly provider?: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  run(feeds: NamedTensors): Promise<NamedTensors>;
  release(): Promise<void>;
}

/** What a runner's load gives: a backend's handle, run and released. */
export type RunningModel = Pick<LoadedModelHandle, 'run' | 'release'>;

/**
 * A backend with its load options settled, and what it stands for on a target: the compiler
 * verifies and times compiled models through one (src/compiler/verify.ts makes them). Not a second
 * backend interface: its models are backends' handles; an emulated runtime (arm64 under qemu, a
 * child process) is the one runner that is not one of the registered backends.
 */
export interface ModelRunner {
  /** e.g. 'onnxruntime-node 1.30.0 (cpu)'. */
  label: string;
  /** True when this runner is the target's own runtime on its own hardware. */
  native: boolean;
  /**
   * The target's own runtime, run under an emulator (arm64 on x86-64 with qemu): its kernels compute
   * the outputs, but its timings are not the target's. `native` is false.
   */
  emulated?: boolean;
  /** Why the target's own runtime could not be used (stand-in), or how it was run (emulated). */
  note?: string;
  load(bytes: Uint8Array): Promise<RunningModel>;
  /** End what the runner keeps between loads (an emulator process). Safe to call twice; a later load starts again. */
  close?(): Promise<void>;
}

export interface InferenceBackend {
  /** 'ort-node', 'ort-web', 'tfjs'. */
  readonly name: string;
  /** The model format it loads. @default 'onnx' */
  readonly modelKind?: ModelKind;
  /** Execution providers (or, for tfjs, TF.js backends) it knows, in its default order of preference. */
  readonly providers?: readonly string[];
  /** What it is, with version: 'onnxruntime-node 1.30.0 (cpu)'. */
  describe(): string;
  /** Can this host run it? Resolves to a reason when not (e.g. 'no CUDA provider installed'). */
  available(options?: BackendLoadOptions): Promise<Availability>;
  /** Load from a path or bytes. */
  load(model: string | Uint8Array, options?: BackendLoadOptions): Promise<LoadedModelHandle>;
}
