/**
 * `kiln doctor [--json]` through runMain with captured io: the real host's report recommends the target
 * its /proc/cpuinfo implies; `hostReport()` on a fake Raspberry Pi with fake backends gives a stable report.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { formatHostReport } from '../../src/cli/commands/doctor.js';
import type { Availability, BackendLoadOptions, InferenceBackend } from '../../src/runtime/backend.js';
import { hostReport, type HostReport } from '../../src/runtime/host-report.js';
import type { HostReader } from '../../src/runtime/host.js';
import { createBackendRegistry } from '../../src/runtime/registry.js';
import { cpuinfoFixture } from './helpers.js';

async function kiln(...argv: string[]) {
  const io = captureIo();
  const code = await runMain(argv, io);
  return { code, out: io.out, err: io.err };
}

/** What this host's own /proc/cpuinfo says the target should be, by the profiles' documented rules. */
function expectedTarget(): string {
  if (process.arch === 'arm64') return 'arm64';
  const flags = existsSync('/proc/cpuinfo')
    ? new Set((/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/))
    : new Set<string>();
  if (flags.has('avx2') && flags.has('fma') && (flags.has('avx512_vnni') || flags.has('avx_vnni'))) return 'x86_64-vnni';
  if (flags.has('avx2') && flags.has('fma')) return 'x86_64';
  return 'wasm';
}

describe('kiln doctor on this host', () => {
  it('--json: a host report whose recommended target is the one /proc/cpuinfo implies', async () => {
    const { code, out, err } = await kiln('doctor', '--json');
    expect(err).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(out) as HostReport;
    expect(report.schema).toBe('kiln.host-report/1');
    expect(report.recommended?.target).toBe(expectedTarget());
    expect(report.host.nodeArch).toBe(process.arch);
    expect(report.host.cpu.logicalCores).toBeGreaterThan(0);
    expect(report.host.memory.totalBytes).toBeGreaterThan(0);
    expect(report.runtimes.map((r) => r.backend)).toEqual(['ort-node', 'ort-web', 'tfjs']);
    const ortNode = report.runtimes[0];
    expect(ortNode).toMatchObject({ ok: true, modelKind: 'onnx', priority: 100 });
    expect(ortNode.providers.find((p) => p.name === 'cpu')).toEqual({ name: 'cpu', ok: true });
    expect(report.runtimes.find((r) => r.backend === 'ort-web')?.ok).toBe(true);
    expect(report.runtimes.find((r) => r.backend === 'tfjs')?.providers.find((p) => p.name === 'wasm')).toEqual({ name: 'wasm', ok: true });
    // Every target is judged; the vnni one (where it does not fit) says what it lacks.
    expect(report.targets.map((t) => t.target).sort()).toEqual(['arm64', 'gpu-cuda', 'wasm', 'x86_64', 'x86_64-vnni']);
    if (expectedTarget() === 'x86_64') {
      expect(report.targets.find((t) => t.target === 'x86_64-vnni')?.why).toBe('needs avx512_vnni|avx_vnni');
    }
  });

  it('text: aligned sections and the recommendation with its reason', async () => {
    const { code, out } = await kiln('doctor');
    expect(code).toBe(0);
    for (const section of ['Host\n', '\nRuntimes\n', '\nTargets (best fit first)\n']) expect(out).toContain(section);
    expect(out).toContain(`Recommended target: ${expectedTarget()}\n`);
    expect(out).toMatch(/^ {2}cpu {7}\S/m);
    expect(out).toMatch(/^ {2}ort-node +ok +onnxruntime-node \d/m);
    if (!existsSync('/proc/driver/nvidia'))
      expect(out).toMatch(/cuda +no CUDA provider installed \(install with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install\)/);
  });

  it('--help describes it', async () => {
    const { code, out } = await kiln('doctor', '--help');
    expect(code).toBe(0);
    expect(out).toContain('kiln doctor — check this host');
  });
});

describe('hostReport with a fake host and fake backends', () => {
  const pi: HostReader = {
    readFile: (p) => (p === '/proc/cpuinfo' ? cpuinfoFixture('raspberry-pi-5') : undefined),
    listDir: () => [],
    exec: () => undefined,
    arch: 'arm64',
    platform: 'linux',
    osRelease: '6.6.31+rpt-rpi-2712',
    node: '20.11.0',
    cores: 4,
    memory: { totalBytes: 8_000_000_000, freeBytes: 6_500_000_000 },
  };
  const fake = (name: string, providers: string[], answer: (o: BackendLoadOptions) => Availability): InferenceBackend => ({
    name,
    providers,
    describe: () => `${name} 1.0`,
    available: async (o = {}) => answer(o),
    load: () => Promise.reject(new Error('no')),
  });

  async function report(): Promise<HostReport> {
    const registry = createBackendRegistry();
    registry.register(
      fake('ort-node', ['cpu', 'cuda'], (o) => (o.executionProviders?.includes('cuda') ? { ok: false, reason: 'no CUDA provider installed' } : { ok: true })),
      100,
    );
    registry.register(
      fake('ort-web', ['wasm'], () => ({ ok: true })),
      50,
    );
    return hostReport({ registry, reader: pi, now: () => new Date('2025-01-02T03:04:05Z') });
  }

  it('is plain, stable data', async () => {
    const r = await report();
    expect(r.generatedAt).toBe('2025-01-02T03:04:05.000Z');
    expect(r.host).toMatchObject({
      arch: 'arm64',
      cpu: { model: 'Cortex-A76 (Raspberry Pi 5 Model B Rev 1.0)', logicalCores: 4, mlFeatures: ['asimd', 'asimdhp', 'fphp', 'asimddp'] },
      gpus: [],
      gpuSource: 'none',
    });
    expect(r.runtimes).toEqual([
      {
        backend: 'ort-node',
        description: 'ort-node 1.0',
        modelKind: 'onnx',
        priority: 100,
        ok: true,
        providers: [
          { name: 'cpu', ok: true },
          { name: 'cuda', ok: false, reason: 'no CUDA provider installed' },
        ],
      },
      { backend: 'ort-web', description: 'ort-web 1.0', modelKind: 'onnx', priority: 50, ok: true, providers: [{ name: 'wasm', ok: true }] },
    ]);
    expect(r.recommended?.target).toBe('arm64');
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('prints aligned text', async () => {
    const text = formatHostReport(await report());
    expect(text).toContain('  cpu       Cortex-A76 (Raspberry Pi 5 Model B Rev 1.0) (ARM)\n');
    expect(text).toContain('  cores     4 logical, 4 usable by kiln\n');
    expect(text).toContain('  memory    8.0 GB total, 6.5 GB free\n');
    expect(text).toMatch(/ {2}✓ {2}arm64 +arch arm64 matches; has asimd\n/);
    expect(text).toMatch(/ {2}✗ {2}x86_64 +needs arch x86_64 \(this host is arm64\)/);
    expect(text).toMatch(/cuda {7}no CUDA provider installed/);
    expect(text.endsWith('Recommended target: arm64\n  arch arm64 matches; has asimd; the most specific profile that fits')).toBe(true);
  });
});
