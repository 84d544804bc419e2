/**
 * This host, and which targets' artifacts it can run: natively, under emulation, or not at all
 * (with the reason, naming the target and what is missing).
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { missingFeatures, type TargetProfile } from '../targets/profiles.js';
import { cudaUnavailableReason, runtimeVersions } from './backends.js';
import { findArm64Emulation, type Arm64Emulation } from '../runtime/emulation.js';
import type { HostInfo, RuntimeKind } from './types.js';

export function hostInfo(): HostInfo {
  return {
    cpu: cpus()[0]?.model?.trim() ?? 'unknown',
    cores: cpus().length,
    arch: process.arch,
    platform: process.platform,
    memoryBytes: totalmem(),
    node: process.versions.node,
    runtimes: runtimeVersions(),
  };
}

/** CPU feature flags from /proc/cpuinfo (empty where there is none). */
export function hostCpuFeatures(): Set<string> {
  if (!existsSync('/proc/cpuinfo')) return new Set();
  const text = readFileSync('/proc/cpuinfo', 'utf8');
  const line = text.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  return new Set(line ? line.split(':')[1].trim().split(/\s+/) : []);
}

const HOST_ARCH = process.arch === 'x64' ? 'x86_64' : process.arch;

/** Where a target's artifacts run on this host. */
export type TargetSupport =
  | { ok: true; runtime: RuntimeKind; executionProviders: string[]; emulation?: Extract<Arm64Emulation, { ok: true }> }
  | { ok: false; runtime: RuntimeKind | 'cuda'; reason: string };

export interface SupportContext {
  /** Force this runtime for every target (--backend). */
  backend?: 'ort-node' | 'ort-web';
  env?: Readonly<Record<string, string | undefined>>;
  /** Why CUDA cannot run here (undefined: it can). @default the registry's ort-node backend, asked for ['cuda'] */
  cudaReason?: () => string | undefined | Promise<string | undefined>;
  emulation?: () => Arm64Emulation;
  features?: () => ReadonlySet<string>;
}

/** Can this host run `profile`'s artifacts, and on what? The reason names the target and what is missing. */
export async function targetSupport(profile: TargetProfile, ctx: SupportContext = {}): Promise<TargetSupport> {
  const eps = profile.runtime.executionProviders;
  if (ctx.backend === 'ort-web' || (!ctx.backend && profile.runtime.backend === 'ort-web'))
    return { ok: true, runtime: 'ort-web', executionProviders: ['wasm'] };
  if (profile.runtime.backend === 'tfjs' && !ctx.backend)
    return {
      ok: false,
      runtime: 'ort-node',
      reason: `${profile.name}: the tfjs backend is not benchmarked by kiln bench yet (pass --backend ort-node or ort-web)`,
    };
  if (eps.includes('cuda') || eps.includes('tensorrt')) {
    const reason = await (ctx.cudaReason ?? cudaUnavailableReason)();
    return reason
      ? { ok: false, runtime: 'cuda', reason: `${profile.name}: ${reason}` }
      : { ok: true, runtime: 'ort-node', executionProviders: ['cuda', 'cpu'] };
  }
  if (profile.arch === 'wasm32') return { ok: true, runtime: 'ort-node', executionProviders: ['cpu'] };
  if (profile.arch !== HOST_ARCH) {
    if (profile.arch === 'arm64' && HOST_ARCH === 'x86_64' && process.platform === 'linux') {
      const emulation = (ctx.emulation ?? (() => findArm64Emulation(ctx.env)))();
      if (emulation.ok) return { ok: true, runtime: 'arm64-emulated', executionProviders: ['cpu'], emulation };
      return {
        ok: false,
        runtime: 'arm64-emulated',
        reason: `${profile.name}: this ${HOST_ARCH} host runs arm64 artifacts only under emulation, and ${emulation.missing} is missing: ${emulation.reason}`,
      };
    }
    return { ok: false, runtime: 'ort-node', reason: `${profile.name}: ${profile.arch} artifacts do not run on this ${HOST_ARCH} host` };
  }
  const missing = missingFeatures(profile, (ctx.features ?? hostCpuFeatures)());
  if (missing.length && process.platform === 'linux') {
    return { ok: false, runtime: 'ort-node', reason: `${profile.name}: this host's CPU lacks ${missing.join(', ')} (from /proc/cpuinfo)` };
  }
  return { ok: true, runtime: 'ort-node', executionProviders: ['cpu'] };
}
