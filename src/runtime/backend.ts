/**
 * The one interface every runtime implements (ort-node, ort-web, tfjs), and the shapes it speaks.
 * Implementations live in their own modules; this file holds types only.
 */

export type TensorType = 'float32' | 'float16' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

/** A tensor crossing the backend boundary: onnxruntime's {type, dims, data} shape. */
export interface TensorData {
  type: TensorType | string;
  dims: readonly number[];
  data: ArrayBufferView & ArrayLike<number | bigint>;
}

export type NamedTensors = Record<string, TensorData>;

export interface TensorInfo {
  name: string;
  type: string;
  /** Symbolic dims as strings; unknown as null. */
  shape: readonly (number | string | null)[];
}

export interface BackendLoadOptions {
  /** Intra-op threads (default: the backend's choice). */
  threads?: number;
  /** Graph optimization level applied at load (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Execution providers in order of preference, e.g. ['cuda', 'cpu']. */
  executionProviders?: readonly string[];
}

/** A model loaded in a backend. */
export interface LoadedModelHandle {
  readonly backend: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  run(feeds: NamedTensors): Promise<NamedTensors>;
  release(): Promise<void>;
}

export interface InferenceBackend {
  /** 'ort-node', 'ort-web', 'tfjs'. */
  readonly name: string;
  /** What it is, with version: 'onnxruntime-node 1.30.0 (cpu)'. */
  describe(): string;
  /** Can this host run it? Resolves to a reason when not (e.g. 'no CUDA provider installed'). */
  available(options?: BackendLoadOptions): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Load from a path or bytes. */
  load(model: string | Uint8Array, options?: BackendLoadOptions): Promise<LoadedModelHandle>;
}
