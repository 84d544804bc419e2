/**
 * Host detection: what CPU, memory, GPU and WebAssembly features this machine has, and which target
 * profile fits it best. The parsers and the ranking are pure functions over text and data (tested on
 * captured /proc/cpuinfo samples); `readHostFacts` is the thin reader over the real files and commands,
 * with every read behind a `HostReader` that tests replace.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, freemem, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { missingFeatures, type TargetProfile } from '../targets/profiles.js';
import type { Availability } from './backend.js';

// ───────────────────────────── /proc/cpuinfo ─────────────────────────────

export interface CpuInfo {
  /** 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz', 'Cortex-A76 (Raspberry Pi 5 Model B Rev 1.0)'. */
  model: string;
  /** 'GenuineIntel', 'AuthenticAMD', 'ARM', ... when the file says. */
  vendor?: string;
  /** Processors listed (logical cores / hardware threads). */
  logicalCores: number;
  /** Distinct (physical id, core id) pairs, where the file lists them (x86). */
  physicalCores?: number;
  /** Features every processor has, as /proc/cpuinfo names them (x86 `flags`, ARM `Features`), sorted. */
  features: string[];
  /** The architecture the text is from, when it tells: x86 has `flags`, ARM `CPU architecture`. */
  arch?: HostArch;
}

export type HostArch = 'x86_64' | 'x86' | 'arm64' | 'arm' | 'other';

/** ARM CPU implementer codes → vendor. */
const ARM_IMPLEMENTERS: Readonly<Record<string, string>> = {
  '0x41': 'ARM',
  '0x42': 'Broadcom',
  '0x43': 'Cavium',
  '0x46': 'Fujitsu',
  '0x48': 'HiSilicon',
  '0x4e': 'NVIDIA',
  '0x51': 'Qualcomm',
  '0x61': 'Apple',
  '0xc0': 'Ampere',
};

/** ARM Ltd. (0x41) part numbers of the cores kiln's targets meet. */
const ARM_PARTS: Readonly<Record<string, string>> = {
  '0xd03': 'Cortex-A53',
  '0xd04': 'Cortex-A35',
  '0xd05': 'Cortex-A55',
  '0xd07': 'Cortex-A57',
  '0xd08': 'Cortex-A72',
  '0xd09': 'Cortex-A73',
  '0xd0a': 'Cortex-A75',
  '0xd0b': 'Cortex-A76',
  '0xd0c': 'Neoverse-N1',
  '0xd0d': 'Cortex-A77',
  '0xd40': 'Neoverse-V1',
  '0xd41': 'Cortex-A78',
  '0xd42': 'Cortex-A78AE',
  '0xd44': 'Cortex-X1',
  '0xd46': 'Cortex-A510',
  '0xd47': 'Cortex-A710',
  '0xd48': 'Cortex-X2',
  '0xd49': 'Neoverse-N2',
  '0xd4b': 'Cortex-A78C',
  '0xd4f': 'Neoverse-V2',
};

/** The features that matter for inference speed, in the order `kiln doctor` shows them. */
export const ML_FEATURES: Readonly<Record<'x86' | 'arm', readonly string[]>> = {
  x86: [
    'sse4_1',
    'sse4_2',
    'avx',
    'avx2',
    'fma',
    'f16c',
    'avx512f',
    'avx512bw',
    'avx512vl',
    'avx512_vnni',
    'avx512_bf16',
    'avx512_fp16',
    'avx_vnni',
    'amx_tile',
    'amx_int8',
    'amx_bf16',
  ],
  arm: ['asimd', 'asimdhp', 'fphp', 'asimddp', 'i8mm', 'bf16', 'sve', 'sve2', 'sme'],
};

/** `key : value` blocks separated by blank lines (keys trimmed, first occurrence wins). */
function blocks(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  let current = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (current.size) out.push(current);
      current = new Map();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    if (!current.has(key)) current.set(key, line.slice(colon + 1).trim());
  }
  if (current.size) out.push(current);
  return out;
}

/** Parse /proc/cpuinfo (x86 or ARM). Unknown or empty text gives an 'unknown' model and no features. */
export function parseCpuInfo(text: string): CpuInfo {
  const all = blocks(text);
  const processors = all.filter(
    (b) => b.has('processor') && (b.has('flags') || b.has('Features') || b.has('model name') || b.has('CPU part') || b.has('vendor_id')),
  );
  const extra = new Map<string, string>();
  for (const b of all) if (!processors.includes(b)) for (const [k, v] of b) if (!extra.has(k)) extra.set(k, v);
  const first = processors[0] ?? new Map<string, string>();
  const featureKey = first.has('flags') ? 'flags' : 'Features';
  const sets = processors.map((p) => new Set((p.get(featureKey) ?? '').split(/\s+/).filter(Boolean)));
  const features = sets.length ? [...sets[0]].filter((f) => sets.every((s) => s.has(f))).sort() : [];

  let arch: HostArch | undefined;
  if (first.has('flags')) arch = sets[0]?.has('lm') ? 'x86_64' : 'x86';
  else if (first.has('CPU architecture')) arch = /^[89]|^AArch64/i.test(first.get('CPU architecture') ?? '') ? 'arm64' : 'arm';

  let model = first.get('model name') ?? '';
  let vendor = first.get('vendor_id');
  if (first.has('CPU implementer')) {
    const implementer = (first.get('CPU implementer') ?? '').toLowerCase();
    vendor = ARM_IMPLEMENTERS[implementer] ?? `implementer ${implementer}`;
    const parts = [...new Set(processors.map((p) => (p.get('CPU part') ?? '').toLowerCase()))].filter(Boolean);
    const coreNames = parts.map((part) => (implementer === '0x41' ? ARM_PARTS[part] : undefined) ?? `${vendor} part ${part}`);
    const board = extra.get('Model') ?? extra.get('Hardware');
    const cores = coreNames.join(' + ');
    model = [cores || model, board ? `(${board})` : ''].filter(Boolean).join(' ');
  }
  let physicalCores: number | undefined;
  const pairs = processors.filter((p) => p.has('core id')).map((p) => `${p.get('physical id') ?? '0'}/${p.get('core id')}`);
  if (pairs.length === processors.length && pairs.length > 0) physicalCores = new Set(pairs).size;

  return {
    model: model || 'unknown',
    ...(vendor ? { vendor } : {}),
    logicalCores: processors.length,
    ...(physicalCores !== undefined ? { physicalCores } : {}),
    features,
    ...(arch ? { arch } : {}),
  };
}

/** Node's `process.arch` → the names target profiles use. */
export function hostArch(nodeArch: string): HostArch {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'ia32') return 'x86';
  if (nodeArch === 'arm64') return 'arm64';
  if (nodeArch === 'arm') return 'arm';
  return 'other';
}

/** The inference-relevant features among `features`, in display order. */
export function mlFeatures(features: readonly string[], arch: HostArch): string[] {
  const set = new Set(features);
  const list = arch === 'arm64' || arch === 'arm' ? ML_FEATURES.arm : ML_FEATURES.x86;
  return list.filter((f) => set.has(f));
}

/**
 * Which int8 dot-product path onnxruntime's x86 kernels take with these CPU features: 'vnni'
 * (AVX-512 VNNI or AVX-VNNI: full-range int8 weights are exact), 'avx2' (VPMADDUBSW, which saturates
 * u8×s8 pairs: 7-bit weights avoid it), 'none' (neither: not an int8 x86 CPU).
 */
export type X86Int8Kernel = 'vnni' | 'avx2' | 'none';

export function x86Int8Kernel(features: readonly string[]): X86Int8Kernel {
  const set = new Set(features);
  if (set.has('avx512_vnni') || set.has('avx_vnni')) return 'vnni';
  return set.has('avx2') ? 'avx2' : 'none';
}

const KERNEL_NAMES: Record<X86Int8Kernel, string> = { vnni: 'VNNI', avx2: 'AVX2 without VNNI', none: 'neither VNNI nor AVX2' };

/**
 * Does this host's int8 path differ from the one an artifact's int8 was tuned for (its manifest's
 * quantization.tuning)? One line saying what that means, or undefined when it does not differ. Pure.
 */
export function int8TuningMismatch(
  tuning: { cpu: string; int8Kernel: X86Int8Kernel; reduceRange: boolean },
  hostFeatures: readonly string[],
): string | undefined {
  const host = x86Int8Kernel(hostFeatures);
  if (host === tuning.int8Kernel) return undefined;
  const tuned = `tuned on ${tuning.cpu} (${KERNEL_NAMES[tuning.int8Kernel]}: ${tuning.reduceRange ? '7-bit' : 'full-range'} int8 weights)`;
  if (!tuning.reduceRange && host !== 'vnni')
    return `${tuned}; this host has ${KERNEL_NAMES[host]}: it runs, but full-range weights can saturate its u8×s8 kernels and lose accuracy — recompile it on this host (--target x86_64) or on one like it`;
  return `${tuned}; this host has ${KERNEL_NAMES[host]}: it runs, but 7-bit weights give up accuracy VNNI does not need — recompile it on this host (--target x86_64) for full-range weights`;
}

// ───────────────────────────── GPUs ─────────────────────────────

export interface GpuInfo {
  vendor: 'nvidia';
  index: number;
  name: string;
  uuid?: string;
}

/** `nvidia-smi -L`: "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-…)" per line. */
export function parseNvidiaSmiList(text: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^GPU (\d+): (.+?)(?: \(UUID: ([^)]+)\))?\s*$/.exec(line.trim());
    if (m) gpus.push({ vendor: 'nvidia', index: Number(m[1]), name: m[2], ...(m[3] ? { uuid: m[3] } : {}) });
  }
  return gpus;
}

/** /proc/driver/nvidia/gpus/<bus>/information: "Model: \t NVIDIA GeForce RTX 3090" → the model. */
export function parseProcNvidiaInformation(text: string): string | undefined {
  const m = /^Model:\s*(.+?)\s*$/m.exec(text);
  return m?.[1];
}

/** /proc/driver/nvidia/version: "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  …" → "535.104.05". */
export function parseNvidiaDriverVersion(text: string): string | undefined {
  return /Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)/.exec(text)?.[1];
}

// ───────────────────────────── WebAssembly ─────────────────────────────

/** A module using one v128 instruction (wasm-feature-detect's SIMD probe). */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** What this JavaScript engine's WebAssembly supports: 'simd128', 'threads'. */
export function wasmFeatures(): string[] {
  const out: string[] = [];
  if (typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE)) out.push('simd128');
  if (typeof SharedArrayBuffer === 'function' && typeof Atomics === 'object') out.push('threads');
  return out;
}

// ───────────────────────────── the reader ─────────────────────────────

/** Everything `readHostFacts` reads from the machine; tests pass their own. */
export interface HostReader {
  /** A file's text, or undefined when it cannot be read. */
  readFile(path: string): string | undefined;
  /** File names in a folder ([] when absent). */
  listDir(path: string): string[];
  /** A command's stdout, or undefined when it is not there or fails. */
  exec(command: string, args: readonly string[]): string | undefined;
  /** process.arch. */
  arch: string;
  platform: NodeJS.Platform;
  osRelease: string;
  node: string;
  cores: number;
  memory: { totalBytes: number; freeBytes: number };
}

/** The reader over this machine. */
export function systemHostReader(): HostReader {
  return {
    readFile(path) {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    listDir(path) {
      try {
        return existsSync(path) ? readdirSync(path) : [];
      } catch {
        return [];
      }
    },
    exec(command, args) {
      try {
        return execFileSync(command, [...args], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
      } catch {
        return undefined;
      }
    },
    arch: process.arch,
    platform: process.platform,
    osRelease: release(),
    node: process.versions.node,
    cores: availableParallelism(),
    memory: { totalBytes: totalmem(), freeBytes: freemem() },
  };
}

export interface HostFacts {
  /** As target profiles name it: 'x86_64', 'arm64'. */
  arch: HostArch;
  /** process.arch: 'x64', 'arm64'. */
  nodeArch: string;
  os: { platform: string; release: string };
  node: string;
  cpu: CpuInfo & { mlFeatures: string[]; source: string };
  /** Cores this process may use (os.availableParallelism()). */
  usableCores: number;
  memory: { totalBytes: number; freeBytes: number };
  gpus: GpuInfo[];
  /** Where the GPU list came from: 'nvidia-smi', '/proc/driver/nvidia', or 'none'. */
  gpuSource: 'nvidia-smi' | '/proc/driver/nvidia' | 'none';
  nvidiaDriver?: string;
  /** WebAssembly features of this JavaScript engine (the wasm target's `cpu.features`). */
  wasm: string[];
}

/** Read this host's facts (files and `nvidia-smi` only; no runtime is loaded). */
export function readHostFacts(reader: HostReader = systemHostReader()): HostFacts {
  const arch = hostArch(reader.arch);
  const cpuText = reader.platform === 'linux' ? reader.readFile('/proc/cpuinfo') : undefined;
  const parsed = cpuText ? parseCpuInfo(cpuText) : { model: 'unknown', logicalCores: reader.cores, features: [] as string[] };
  const cpu = {
    ...parsed,
    logicalCores: parsed.logicalCores || reader.cores,
    mlFeatures: mlFeatures(parsed.features, arch),
    source: cpuText ? '/proc/cpuinfo' : 'none (no /proc/cpuinfo)',
  };

  let gpus: GpuInfo[] = [];
  let gpuSource: HostFacts['gpuSource'] = 'none';
  const smi = reader.exec('nvidia-smi', ['-L']);
  if (smi !== undefined && parseNvidiaSmiList(smi).length > 0) {
    gpus = parseNvidiaSmiList(smi);
    gpuSource = 'nvidia-smi';
  } else {
    const dir = '/proc/driver/nvidia/gpus';
    const names = reader.listDir(dir).sort();
    gpus = names.flatMap((bus, index) => {
      const name = parseProcNvidiaInformation(reader.readFile(join(dir, bus, 'information')) ?? '');
      return name ? [{ vendor: 'nvidia' as const, index, name }] : [];
    });
    if (gpus.length) gpuSource = '/proc/driver/nvidia';
  }
  const driverText = reader.readFile('/proc/driver/nvidia/version');
  const nvidiaDriver = driverText ? parseNvidiaDriverVersion(driverText) : undefined;

  return {
    arch,
    nodeArch: reader.arch,
    os: { platform: reader.platform, release: reader.osRelease },
    node: reader.node,
    cpu,
    usableCores: reader.cores,
    memory: reader.memory,
    gpus,
    gpuSource,
    ...(nvidiaDriver ? { nvidiaDriver } : {}),
    wasm: wasmFeatures(),
  };
}

// ───────────────────────────── which target fits ─────────────────────────────

/** What the ranking needs to know of a host. */
export interface HostCapabilities {
  arch: HostArch;
  /** CPU features (/proc/cpuinfo names). */
  features: readonly string[];
  /** WebAssembly features ('simd128'), checked for wasm32 targets. */
  wasm: readonly string[];
  gpus: readonly GpuInfo[];
}

export interface TargetFit {
  target: string;
  fits: boolean;
  /** 'native', 'accelerated' (a GPU target that fits) or 'portable' (wasm32, runs on any host). */
  kind: 'native' | 'accelerated' | 'portable';
  /** Higher is more specific; 0 when it does not fit. */
  score: number;
  /** What the host lacks for it: 'avx512_vnni|avx_vnni', 'arch arm64 (this host is x86_64)', ... */
  missing: string[];
  /** One line: why it fits or not. */
  why: string;
}

const ACCELERATORS = ['cuda', 'tensorrt'];

/**
 * Rank target profiles for a host: a profile fits when its arch is the host's (or wasm32, portable),
 * every required feature is present (`a|b` = either), its GPU providers have an NVIDIA GPU, and its
 * runtime answers ok (`runtime(profile)`, when given). Fitting profiles come first, most specific
 * first: a GPU target, then native profiles by how many features they require (x86_64-vnni before
 * x86_64), then portable ones. Pure.
 */
export function rankTargets(
  profiles: readonly TargetProfile[],
  host: HostCapabilities,
  runtime?: (profile: TargetProfile) => Availability | undefined,
): TargetFit[] {
  const fits = profiles.map((p): TargetFit => {
    const portable = p.arch === 'wasm32';
    const accelerated = p.runtime.executionProviders.some((e) => ACCELERATORS.includes(e));
    const missing: string[] = [];
    if (!portable && p.arch !== host.arch) {
      // Another architecture: its features and runtime cannot be judged from here.
      missing.push(`arch ${p.arch} (this host is ${host.arch})`);
    } else {
      const lacking = missingFeatures(p, new Set(portable ? host.wasm : host.features));
      missing.push(...(portable ? lacking.map((f) => `WebAssembly ${f}`) : lacking));
      if (accelerated && !host.gpus.some((g) => g.vendor === 'nvidia')) missing.push('an NVIDIA GPU (none found)');
      const status = runtime?.(p);
      if (status && !status.ok) missing.push(`${p.runtime.backend} [${p.runtime.executionProviders.join(', ')}]: ${status.reason}`);
    }
    const ok = missing.length === 0;
    const kind = portable ? 'portable' : accelerated ? 'accelerated' : 'native';
    const score = !ok ? 0 : (kind === 'accelerated' ? 1000 : kind === 'native' ? 100 : 1) + 10 * p.cpu.features.length;
    const has = p.cpu.features.length ? `has ${p.cpu.features.join(', ')}` : 'needs no CPU feature';
    const why = ok
      ? portable
        ? `portable: runs on any host through ${p.runtime.backend} (this engine ${has.replace('has', 'has WebAssembly')})`
        : `arch ${p.arch} matches; ${has}${accelerated ? `; NVIDIA GPU ${host.gpus[0]?.name ?? ''}`.trimEnd() : ''}`
      : `needs ${missing.join('; ')}`;
    return { target: p.name, fits: ok, kind, score, missing, why };
  });
  return fits.sort((a, b) => b.score - a.score || Number(b.fits) - Number(a.fits) || a.target.localeCompare(b.target));
}

/** The best fitting target and one sentence of why (with what the more specific ones lack), or undefined. */
export function recommendTarget(ranked: readonly TargetFit[]): { target: string; reason: string } | undefined {
  const best = ranked.find((f) => f.fits);
  if (!best) return undefined;
  const sameArchUnfit = ranked.filter((f) => !f.fits && !f.missing.some((m) => m.startsWith('arch ')));
  // The first thing each lacks is enough here; TargetFit.missing has the rest.
  const others = sameArchUnfit.map((f) => `${f.target} needs ${f.missing[0]}`);
  const lead = best.kind === 'portable' ? `${best.why}; no native profile fits` : `${best.why}; the most specific profile that fits`;
  return { target: best.target, reason: others.length ? `${lead} (${others.join('; ')})` : lead };
}
