/**
 * Host detection on captured text: /proc/cpuinfo of an Intel VNNI Xeon, a Raspberry Pi 5 and this AMD
 * EPYC box, nvidia-smi and /proc/driver/nvidia output, and the target ranking each host gets.
 */
import { describe, expect, it } from 'vitest';
import { loadAllTargets } from '../../src/targets/profiles.js';
import {
  int8TuningMismatch,
  x86Int8Kernel,
  hostArch,
  mlFeatures,
  parseCpuInfo,
  parseNvidiaDriverVersion,
  parseNvidiaSmiList,
  parseProcNvidiaInformation,
  rankTargets,
  readHostFacts,
  recommendTarget,
  wasmFeatures,
  type HostCapabilities,
  type HostReader,
} from '../../src/runtime/host.js';
import { cpuinfoFixture } from './helpers.js';

const targets = loadAllTargets();
const capabilities = (text: string, extra: Partial<HostCapabilities> = {}): HostCapabilities => {
  const cpu = parseCpuInfo(text);
  return { arch: cpu.arch ?? 'other', features: cpu.features, wasm: ['simd128'], gpus: [], ...extra };
};

describe('parseCpuInfo', () => {
  it('Intel Xeon (Cascade Lake, AVX-512 VNNI), 2 hyperthreads of one core', () => {
    const cpu = parseCpuInfo(cpuinfoFixture('intel-xeon-vnni'));
    expect(cpu).toMatchObject({
      model: 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz',
      vendor: 'GenuineIntel',
      logicalCores: 2,
      physicalCores: 1,
      arch: 'x86_64',
    });
    expect(cpu.features).toEqual(expect.arrayContaining(['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni']));
    expect(cpu.features).not.toContain('avx_vnni');
    expect(mlFeatures(cpu.features, 'x86_64')).toEqual(['sse4_1', 'sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni']);
  });

  it('Raspberry Pi 5 (4× Cortex-A76, dot product), board name from the trailer', () => {
    const cpu = parseCpuInfo(cpuinfoFixture('raspberry-pi-5'));
    expect(cpu).toMatchObject({ model: 'Cortex-A76 (Raspberry Pi 5 Model B Rev 1.0)', vendor: 'ARM', logicalCores: 4, arch: 'arm64' });
    expect(cpu.physicalCores).toBeUndefined();
    expect(cpu.features).toEqual(expect.arrayContaining(['asimd', 'asimddp', 'fphp', 'asimdhp']));
    expect(mlFeatures(cpu.features, 'arm64')).toEqual(['asimd', 'asimdhp', 'fphp', 'asimddp']);
  });

  it('AMD EPYC (this box): AVX2 and FMA, no VNNI, no AVX-512', () => {
    const cpu = parseCpuInfo(cpuinfoFixture('amd-epyc'));
    expect(cpu).toMatchObject({ model: 'AMD EPYC', vendor: 'AuthenticAMD', logicalCores: 2, physicalCores: 2, arch: 'x86_64' });
    expect(cpu.features).toEqual(expect.arrayContaining(['avx2', 'fma', 'f16c']));
    expect(cpu.features.filter((f) => f.startsWith('avx512') || f.includes('vnni'))).toEqual([]);
  });

  it('keeps only features every core has (big.LITTLE), and names mixed cores', () => {
    const text = [
      'processor\t: 0\nFeatures\t: fp asimd asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd05\n',
      'processor\t: 1\nFeatures\t: fp asimd asimddp i8mm\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd0b\n',
    ].join('\n');
    const cpu = parseCpuInfo(text);
    expect(cpu.features).toEqual(['asimd', 'asimddp', 'fp']);
    expect(cpu.model).toBe('Cortex-A55 + Cortex-A76');
  });

  it('survives empty or foreign text', () => {
    expect(parseCpuInfo('')).toEqual({ model: 'unknown', logicalCores: 0, features: [] });
    expect(parseCpuInfo('not\x00cpuinfo at all\n:::\n').features).toEqual([]);
  });

  it('maps process.arch to target arch names', () => {
    expect(['x64', 'arm64', 'arm', 'ia32', 'riscv64'].map(hostArch)).toEqual(['x86_64', 'arm64', 'arm', 'x86', 'other']);
  });
});

describe('GPUs', () => {
  it('parses nvidia-smi -L', () => {
    const text = 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5b8d2f1e-1111-2222-3333-444455556666)\nGPU 1: NVIDIA GeForce RTX 4090 (UUID: GPU-0a0b)\n';
    expect(parseNvidiaSmiList(text)).toEqual([
      { vendor: 'nvidia', index: 0, name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-5b8d2f1e-1111-2222-3333-444455556666' },
      { vendor: 'nvidia', index: 1, name: 'NVIDIA GeForce RTX 4090', uuid: 'GPU-0a0b' },
    ]);
    expect(parseNvidiaSmiList('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.')).toEqual([]);
  });

  it('parses /proc/driver/nvidia', () => {
    expect(parseProcNvidiaInformation('Model: \t\t NVIDIA GeForce RTX 3090\nIRQ:   \t\t 145\n')).toBe('NVIDIA GeForce RTX 3090');
    expect(parseNvidiaDriverVersion('NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n')).toBe('535.104.05');
  });

  it('reads nvidia-smi first, /proc/driver/nvidia when it is absent, and none here', () => {
    const base: HostReader = {
      readFile: (p) => (p === '/proc/cpuinfo' ? cpuinfoFixture('intel-xeon-vnni') : undefined),
      listDir: () => [],
      exec: () => undefined,
      arch: 'x64',
      platform: 'linux',
      osRelease: '6.1.0',
      node: '20.0.0',
      cores: 2,
      memory: { totalBytes: 8e9, freeBytes: 4e9 },
    };
    const none = readHostFacts(base);
    expect(none).toMatchObject({ arch: 'x86_64', gpus: [], gpuSource: 'none', cpu: { logicalCores: 2, source: '/proc/cpuinfo' } });
    const smi = readHostFacts({ ...base, exec: (cmd, args) => (cmd === 'nvidia-smi' && args[0] === '-L' ? 'GPU 0: NVIDIA L4 (UUID: GPU-1)\n' : undefined) });
    expect(smi).toMatchObject({ gpus: [{ name: 'NVIDIA L4', index: 0 }], gpuSource: 'nvidia-smi' });
    const proc = readHostFacts({
      ...base,
      listDir: (p) => (p === '/proc/driver/nvidia/gpus' ? ['0000:01:00.0'] : []),
      readFile: (p) =>
        p.endsWith('information')
          ? 'Model: \t NVIDIA A10\n'
          : p.endsWith('version')
            ? 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu\n'
            : base.readFile(p),
    });
    expect(proc).toMatchObject({ gpus: [{ name: 'NVIDIA A10' }], gpuSource: '/proc/driver/nvidia', nvidiaDriver: '550.54.14' });
  });
});

describe('which target fits', () => {
  it('Intel VNNI Xeon → x86_64-vnni, before x86_64', () => {
    const ranked = rankTargets(targets, capabilities(cpuinfoFixture('intel-xeon-vnni')));
    expect(ranked.filter((f) => f.fits).map((f) => f.target)).toEqual(['x86_64-vnni', 'x86_64', 'wasm']);
    expect(recommendTarget(ranked)?.target).toBe('x86_64-vnni');
  });

  it('AMD EPYC without VNNI → x86_64, and says what x86_64-vnni needs', () => {
    const ranked = rankTargets(targets, capabilities(cpuinfoFixture('amd-epyc')));
    expect(ranked[0]).toMatchObject({ target: 'x86_64', fits: true, kind: 'native', why: 'arch x86_64 matches; has avx2, fma' });
    expect(ranked.find((f) => f.target === 'x86_64-vnni')).toMatchObject({ fits: false, missing: ['avx512_vnni|avx_vnni'], why: 'needs avx512_vnni|avx_vnni' });
    expect(ranked.find((f) => f.target === 'gpu-cuda')).toMatchObject({ fits: false, missing: ['an NVIDIA GPU (none found)'] });
    expect(ranked.find((f) => f.target === 'arm64')).toMatchObject({ fits: false, missing: ['arch arm64 (this host is x86_64)'] });
    const best = recommendTarget(ranked);
    expect(best?.target).toBe('x86_64');
    expect(best?.reason).toContain('x86_64-vnni needs avx512_vnni|avx_vnni');
  });

  it('Raspberry Pi 5 → arm64', () => {
    const ranked = rankTargets(targets, capabilities(cpuinfoFixture('raspberry-pi-5')));
    expect(ranked.filter((f) => f.fits).map((f) => f.target)).toEqual(['arm64', 'wasm']);
    expect(ranked.find((f) => f.target === 'x86_64')?.missing).toEqual(['arch x86_64 (this host is arm64)']);
  });

  it('a GPU with its runtime wins; a GPU without the CUDA provider says so', () => {
    const gpus = [{ vendor: 'nvidia' as const, index: 0, name: 'NVIDIA L4' }];
    const host = capabilities(cpuinfoFixture('amd-epyc'), { gpus });
    expect(recommendTarget(rankTargets(targets, host, () => ({ ok: true })))?.target).toBe('gpu-cuda');
    const noProvider = rankTargets(targets, host, (p) => (p.name === 'gpu-cuda' ? { ok: false, reason: 'no CUDA provider installed' } : { ok: true }));
    expect(noProvider[0].target).toBe('x86_64');
    expect(noProvider.find((f) => f.target === 'gpu-cuda')?.missing).toEqual(['ort-node [tensorrt, cuda, cpu]: no CUDA provider installed']);
  });

  it('no native profile: the portable wasm one, and nothing at all without SIMD', () => {
    const riscv: HostCapabilities = { arch: 'other', features: [], wasm: ['simd128'], gpus: [] };
    expect(recommendTarget(rankTargets(targets, riscv))).toMatchObject({ target: 'wasm', reason: expect.stringContaining('no native profile fits') });
    expect(recommendTarget(rankTargets(targets, { ...riscv, wasm: [] }))).toBeUndefined();
  });

  it('this engine has WebAssembly SIMD', () => {
    expect(wasmFeatures()).toContain('simd128');
  });
});

describe('int8 tuning vs this host (kiln doctor ARTIFACT)', () => {
  it('names the int8 path: VNNI (AVX-512 or AVX), AVX2 only, neither', () => {
    expect(x86Int8Kernel(['avx2', 'fma', 'avx512_vnni'])).toBe('vnni');
    expect(x86Int8Kernel(['avx2', 'avx_vnni'])).toBe('vnni');
    expect(x86Int8Kernel(['avx2', 'fma'])).toBe('avx2');
    expect(x86Int8Kernel(['sse4_2'])).toBe('none');
  });
  it('says nothing on the same kind of CPU, and what it means on another', () => {
    const vnni = { cpu: 'AMD EPYC 9354', int8Kernel: 'vnni' as const, reduceRange: false };
    expect(int8TuningMismatch(vnni, ['avx2', 'avx512_vnni'])).toBeUndefined();
    expect(int8TuningMismatch(vnni, ['avx2', 'fma'])).toMatch(
      /^tuned on AMD EPYC 9354 \(VNNI: full-range int8 weights\); this host has AVX2 without VNNI: it runs, but full-range weights can saturate .*recompile it on this host/,
    );
    const avx2 = { cpu: 'Xeon E5', int8Kernel: 'avx2' as const, reduceRange: true };
    expect(int8TuningMismatch(avx2, ['avx2', 'avx_vnni'])).toMatch(/7-bit weights give up accuracy VNNI does not need/);
  });
});
