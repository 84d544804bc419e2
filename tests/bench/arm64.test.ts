import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBench } from '../../src/bench/bench.js';
import { DEFAULT_ARM64_SYSROOT, findArm64Emulation } from '../../src/runtime/emulation.js';
import { tempDir, tinyModel } from './helpers.js';

const emulation = findArm64Emulation();
const missing = emulation.ok ? '' : ` (skipped: ${emulation.missing} missing)`;

describe('arm64 under emulation', () => {
  it.skipIf(!emulation.ok)(
    `runs the arm64 variants under qemu with onnxruntime-node's arm64 binding, outputs matching x86${missing}`,
    async () => {
      const { dir, path } = tinyModel();
      process.env.KILN_HOME = join(dir, 'home');
      const report = await runBench({
        subject: path,
        targets: ['arm64'],
        iterations: 2,
        warmup: 0,
        emulatedIterations: 2,
        coldStart: 'shared',
        artifactsDir: join(dir, 'artifacts'),
        compileCacheDir: join(dir, 'cache'),
      });
      const g = report.groups.find((x) => x.id === 'arm64-emulated');
      expect(g?.state).toBe('measured');
      if (g?.state !== 'measured') return;
      expect(g.emulated).toBe(true);
      expect(g.label).toMatch(/linux\/arm64 under qemu/);
      expect(g.notes.join(' ')).toMatch(/EMULATED: onnxruntime-node \S+ linux\/arm64 on Node v\d+/);
      expect(g.variants.length).toBeGreaterThanOrEqual(2);
      for (const v of g.variants) {
        expect(v.state).toBe('measured');
        if (v.state !== 'measured') continue;
        expect(v.latency.n).toBe(2);
        expect(v.latency.min).toBeGreaterThan(0);
        // The same file on the host's x86 CPU: float variants match to rounding, int8 ones closely.
        expect(v.hostCheck).toBeDefined();
        if (v.variant.quantization === 'source' || v.variant.quantization === 'none') expect(v.hostCheck!.maxAbsError).toBeLessThan(1e-4);
        expect(v.hostCheck!.cosine).toBeGreaterThan(0.99);
        if (v.variant.role === 'compiled') expect(v.speedup!.median).toBeGreaterThan(0);
      }
    },
    180_000,
  ); // qemu starts slowly on a loaded 2-core machine: a generous limit, not a speed check

  it('says exactly which piece is missing', () => {
    const empty = tempDir();
    expect(findArm64Emulation({ PATH: empty })).toMatchObject({ ok: false, missing: 'qemu-aarch64-static' });
    const bin = join(empty, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'qemu-aarch64-static'), '');
    const env = { PATH: bin, KILN_ARM64_SYSROOT: join(empty, 'root') };
    expect(findArm64Emulation(env)).toMatchObject({ ok: false, missing: 'arm64 sysroot', reason: expect.stringContaining(join(empty, 'root')) });
    mkdirSync(join(empty, 'root', 'usr', 'bin'), { recursive: true });
    expect(findArm64Emulation(env)).toMatchObject({ ok: false, missing: 'arm64 node' });
    writeFileSync(join(empty, 'root', 'usr', 'bin', 'node'), '');
    expect(findArm64Emulation(env)).toMatchObject({ ok: false, missing: 'ARM /proc/cpuinfo', reason: expect.stringMatching(/x86 one and crash/) });
    mkdirSync(join(empty, 'root', 'proc'));
    writeFileSync(join(empty, 'root', 'proc', 'cpuinfo'), 'processor\t: 0\nFeatures\t: fp asimd asimddp\nCPU implementer\t: 0x41\n');
    // A cpuinfo with dot product and a CPU model without it: int8 kernels would die with SIGILL.
    expect(findArm64Emulation({ ...env, QEMU_CPU: 'cortex-a72' })).toMatchObject({ ok: false, missing: 'a CPU model matching the cpuinfo' });
    expect(findArm64Emulation(env)).toMatchObject({ ok: true, sysroot: join(empty, 'root'), launcher: { env: { QEMU_CPU: 'cortex-a76' } } });
    expect(DEFAULT_ARM64_SYSROOT).toBe('/var/cache/kiln-arm64/root');
  });

  it('an arm64 target without emulation is reported as not available, naming the missing piece', async () => {
    const { dir, path } = tinyModel();
    process.env.KILN_HOME = join(dir, 'home');
    const report = await runBench({
      subject: path,
      targets: ['arm64'],
      iterations: 1,
      env: { PATH: dir },
      artifactsDir: join(dir, 'a'),
      compileCacheDir: join(dir, 'c'),
    });
    expect(report.groups).toEqual([
      expect.objectContaining({
        state: 'unavailable',
        id: 'arm64',
        reason: expect.stringMatching(/^arm64: this x86_64 host runs arm64 artifacts only under emulation, and qemu-aarch64-static is missing/),
      }),
    ]);
  });
});
