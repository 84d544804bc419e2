/**
 * The public types of `kiln bench`: what it is asked to do, and the report it produces. The report
 * is plain JSON data (what `--json` prints and `result.json` holds); every figure is in ms, bytes
 * or a plain ratio.
 */
import type { LatencySummary, PairedRatio } from './stats.js';

/** Where a group of variants runs. */
export type RuntimeKind =
  /** onnxruntime-node in this process (CPU, or CUDA where installed). */
  | 'ort-node'
  /** onnxruntime-web's WebAssembly build in this Node process. */
  | 'ort-web'
  /** onnxruntime-web's WebAssembly build in headless Chromium: what a browser user gets. */
  | 'chromium'
  /** onnxruntime-node's linux/arm64 build under qemu user-mode emulation (timings are emulated). */
  | 'arm64-emulated';

/** One model file to measure. */
export interface VariantSpec {
  /** Unique in a run: 'original', 'x86_64/fp32', 'wasm/int8'. */
  id: string;
  /** Shown in tables and charts: 'original', 'x86_64 fp32-opt', 'wasm int8'. */
  label: string;
  role: 'original' | 'compiled';
  /** The target it was compiled for (compiled variants). */
  target?: string;
  /** 'source' for the original; the artifact's quantization mode otherwise. */
  quantization: 'source' | 'none' | 'int8' | 'int8-dynamic' | 'fp16';
  /** The .onnx file. */
  modelPath: string;
  sizeBytes: number;
  /** The artifact folder (compiled variants). */
  artifactDir?: string;
}

/** Cold start: the model's load and first inference, and where it was measured. */
export interface ColdStart {
  /** 'fresh process': a new process per variant (runtime import excluded, lazily initialised runtimes such as WASM included); 'fresh page': a new browser context; 'shared': in the benchmark process, after other variants loaded. */
  where: 'fresh process' | 'fresh page' | 'shared';
  /** Importing the runtime module, in the fresh process / page. */
  importMs?: number;
  /** Creating the session (reading and optimizing the model). */
  loadMs: number;
  firstRunMs: number;
  /** loadMs + firstRunMs. */
  totalMs: number;
}

/** Memory of the fresh process that loaded the variant and ran it. */
export interface MemoryFigures {
  /** Peak resident set size of that process (maxRSS), bytes. */
  peakRssBytes: number;
  /** Peak RSS minus the RSS before the model was loaded (runtime already imported), bytes. */
  modelRssBytes: number;
}

export interface OutputAgreement {
  /** Lowest cosine similarity over outputs, this variant vs the original on the same input. */
  cosine: number;
  maxAbsError: number;
}

export type VariantResult =
  | {
      state: 'measured';
      variant: VariantSpec;
      latency: LatencySummary;
      /** Every timed iteration, in round order (sample i of each variant was taken in round i). */
      samplesMs: number[];
      /** Items per second, one stream: batch · 1000 / mean. */
      throughput: number;
      cold: ColdStart;
      memory?: MemoryFigures;
      /** Against the original in the same group: median of paired per-round ratios (> 1 = faster). */
      speedup?: PairedRatio;
      /** This variant's size / the original's. */
      sizeRatio?: number;
      agreement?: OutputAgreement;
      /** Emulated runs: this variant's outputs under emulation vs the same file on the host's own CPU. */
      hostCheck?: OutputAgreement;
    }
  | { state: 'failed'; variant: VariantSpec; reason: string };

/** The variants measured side by side on one runtime at one batch size. */
export type GroupResult =
  | {
      state: 'measured';
      id: string;
      runtime: RuntimeKind;
      /** 'onnxruntime-node 1.30.0 (cpu, 2 threads)'. */
      label: string;
      /** Timings that are not the real hardware's (emulation). */
      emulated: boolean;
      batch: number;
      /** Input dims fed, by input name. */
      inputs: Record<string, number[]>;
      variants: VariantResult[];
      notes: string[];
    }
  | { state: 'unavailable'; id: string; runtime: RuntimeKind | 'cuda'; label: string; batch: number; reason: string; variants: VariantSpec[] };

export interface HostInfo {
  cpu: string;
  cores: number;
  arch: string;
  platform: string;
  memoryBytes: number;
  node: string;
  runtimes: Record<string, string>;
}

export interface BenchReport {
  kind: 'kiln-bench';
  schemaVersion: 1;
  /** `<model>-<yyyymmdd-hhmmss>`: also the name of the run's output folder. */
  runId: string;
  createdAt: string;
  model: { name: string; source: string; sha256: string; sizeBytes: number };
  host: HostInfo;
  settings: {
    iterations: number;
    warmup: number;
    /** undefined: each runtime's default (onnxruntime-node: one per core; WASM: 1). */
    threads?: number;
    batches: number[];
    shapes: Record<string, number[]>;
    /** How the iterations were timed. */
    timing: string;
  };
  groups: GroupResult[];
  /** Compiles and checks done before measuring, warnings, what was skipped and why. */
  notes: string[];
  /** Peak RSS of the benchmark process itself (all in-process groups together), bytes. */
  processPeakRssBytes: number;
  seconds: number;
}

/** The change since the previous run of the same model (history.jsonl). */
export interface HistoryDelta {
  previousRunId: string;
  previousAt: string;
  /** Settings that differ from that run ('threads 2 → 1'); figures are still compared. */
  settingsChanged: string[];
  rows: {
    group: string;
    batch: number;
    variant: string;
    p50Before: number;
    p50After: number;
    /** (after − before) / before. */
    p50Change: number;
    speedupBefore?: number;
    speedupAfter?: number;
  }[];
}

export type BenchEvent =
  { kind: 'step'; step: string; detail?: string } | { kind: 'progress'; step: string; done: number; total: number } | { kind: 'warning'; message: string };
