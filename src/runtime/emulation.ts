/**
 * arm64 under qemu user-mode emulation (docs: shared/notes/arm64-emulation.md; one-time setup:
 * scripts/setup-arm64-emulation.sh). Finds the pieces and says exactly which one is missing. Shared
 * by `kiln bench` (timings, labelled emulated) and `kiln compile` (verification on the arm64 kernels).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { ChildLauncher } from './launcher.js';
import { ortNodeBindingDir } from './package-info.js';

export const DEFAULT_ARM64_SYSROOT = '/var/cache/kiln-arm64/root';
export const SETUP_SCRIPT = 'scripts/setup-arm64-emulation.sh';
/**
 * The CPU qemu emulates: a Cortex-A76 (Raspberry Pi 5 class, NEON + dot product), matching the
 * cpuinfo the setup script writes. onnxruntime picks kernels from that cpuinfo, so the two must agree.
 */
export const DEFAULT_QEMU_CPU = 'cortex-a76';
/** qemu CPU models without the dot-product instructions (sdot/udot). */
const NO_DOTPROD_CPUS = ['cortex-a35', 'cortex-a53', 'cortex-a57', 'cortex-a72'];

export type Arm64Emulation =
  | {
      ok: true;
      qemu: string;
      sysroot: string;
      node: string;
      /** The CPU model qemu emulates (QEMU_CPU), e.g. 'cortex-a76'. */
      cpu: string;
      launcher: ChildLauncher;
    }
  | { ok: false; missing: string; reason: string };

function which(name: string, env: Readonly<Record<string, string | undefined>>): string | undefined {
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * The emulator, the arm64 sysroot with its node, the ARM cpuinfo onnxruntime needs, and
 * onnxruntime-node's arm64 binding. `env.KILN_ARM64_SYSROOT` overrides the sysroot folder.
 */
export function findArm64Emulation(env: Readonly<Record<string, string | undefined>> = process.env): Arm64Emulation {
  const setup = `run ${SETUP_SCRIPT} once`;
  const sysroot = env.KILN_ARM64_SYSROOT || DEFAULT_ARM64_SYSROOT;
  const qemu = which('qemu-aarch64-static', env);
  if (!qemu)
    return { ok: false, missing: 'qemu-aarch64-static', reason: `qemu-aarch64-static not found on PATH (apt-get install qemu-user-static, or ${setup})` };
  if (!existsSync(sysroot)) return { ok: false, missing: 'arm64 sysroot', reason: `no arm64 sysroot at ${sysroot} (set KILN_ARM64_SYSROOT, or ${setup})` };
  const node = join(sysroot, 'usr', 'bin', 'node');
  if (!existsSync(node)) return { ok: false, missing: 'arm64 node', reason: `no arm64 node at ${node} (${setup})` };
  const cpuinfo = join(sysroot, 'proc', 'cpuinfo');
  if (!existsSync(cpuinfo) || !/CPU implementer/.test(readFileSync(cpuinfo, 'utf8'))) {
    return { ok: false, missing: 'ARM /proc/cpuinfo', reason: `no ARM cpuinfo at ${cpuinfo}: onnxruntime would read the host's x86 one and crash (${setup})` };
  }
  const qemuCpu = env.QEMU_CPU || DEFAULT_QEMU_CPU;
  if (/\basimddp\b/.test(readFileSync(cpuinfo, 'utf8')) && NO_DOTPROD_CPUS.includes(qemuCpu)) {
    return {
      ok: false,
      missing: 'a CPU model matching the cpuinfo',
      reason: `${cpuinfo} claims dot product (asimddp) but QEMU_CPU=${qemuCpu} has none: int8 kernels would die with SIGILL (unset QEMU_CPU to use ${DEFAULT_QEMU_CPU})`,
    };
  }
  const binding = ortNodeBindingDir('arm64');
  if (!binding || !existsSync(join(binding, 'onnxruntime_binding.node'))) {
    return {
      ok: false,
      missing: 'onnxruntime-node arm64 binding',
      reason: `onnxruntime-node's linux/arm64 binding is missing (${binding ?? 'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64'}); reinstall onnxruntime-node`,
    };
  }
  const nodeModules = join(binding, '..', '..', '..', '..', '..'); // <node_modules>/onnxruntime-node/bin/napi-v6/linux/arm64
  return {
    ok: true,
    qemu,
    sysroot,
    node,
    cpu: qemuCpu,
    launcher: {
      command: qemu,
      args: ['-L', sysroot, node],
      // A named CPU: qemu's default 'max' is ~10× slower. NODE_PATH lets the CommonJS child find onnxruntime.
      env: { QEMU_CPU: qemuCpu, NODE_PATH: nodeModules },
      timeoutMs: 900_000,
    },
  };
}
