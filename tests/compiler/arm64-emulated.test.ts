import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCnn } from '../../src/onnx/builder.js';
import { saveModel, serializeModel } from '../../src/onnx/model.js';
import { compileModel } from '../../src/compiler/compile.js';
import { emulatedArm64Runner, ortNodeRunner, runnerForTarget } from '../../src/compiler/verify.js';
import { loadTarget } from '../../src/targets/profiles.js';
import { findArm64Emulation } from '../../src/runtime/emulation.js';
import { randomData, randomSamples, tempDir } from './helpers.js';

const emulation = findArm64Emulation();
const skip = emulation.ok ? '' : ` (skipped: ${emulation.reason})`;
const isX64 = process.arch === 'x64';

const children = (): string[] => {
  try {
    return execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/\bps -o\b/.test(l));
  } catch {
    return [];
  }
};

function setup() {
  const dir = tempDir('kiln-arm64-');
  const path = join(dir, 'cnn.onnx');
  saveModel(buildCnn({ inputShape: [1, 3, 16, 16], residual: true }), path);
  process.env.KILN_HOME = join(dir, 'home');
  return { dir, path };
}

describe('arm64 verification under qemu emulation', () => {
  it.skipIf(!emulation.ok || !isX64)(
    `an int8 CNN for arm64 is verified on the arm64 kernels under qemu, figures close to the x86 stand-in's${skip}`,
    async () => {
      const { dir, path } = setup();
      const base = { target: 'arm64', quantize: 'int8' as const, calibrationData: randomData('input', [1, 3, 16, 16], 12), cacheDir: join(dir, 'cache') };
      const emulated = await compileModel(path, { ...base, outDir: join(dir, 'emulated') });
      const v = emulated.manifest.verification;
      expect(v.runtime).toMatch(/^onnxruntime-node \d+\.\d+\.\d+ \(cpu, arm64 under qemu cortex-a76\)$/);
      expect(v.note).toMatch(/^emulated: onnxruntime-node's linux\/arm64 kernels .* under qemu user-mode emulation \(cortex-a76\)/);
      expect(v.samples).toBe(2);
      expect(v.passed).toBe(true);
      expect(emulated.manifest.quantization.mode).toBe('int8');
      expect(emulated.manifest.performance).toBeUndefined(); // emulated timings are not the target's
      const host = await compileModel(path, { ...base, verifyOn: 'host', outDir: join(dir, 'host') });
      expect(host.state).toBe('compiled'); // not the emulated compile from the cache
      expect(host.manifest.verification.runtime).toMatch(/stand-in: arm64 runtime not used \(verify on host was asked\)/);
      expect(host.manifest.verification.note).toBeUndefined();
      const [e, h] = [v.outputs[0], host.manifest.verification.outputs[0]];
      expect(e.cosine).toBeGreaterThan(0.98);
      expect(Math.abs(e.cosine - h.cosine)).toBeLessThan(0.01);
      expect(children()).toEqual([]);
    },
    120_000,
  ); // qemu starts slowly on a loaded 2-core machine: a generous limit, not a speed check

  it.skipIf(!emulation.ok || !isX64)(
    `the emulated runner's float outputs equal onnxruntime-node's on x86${skip}`,
    async () => {
      if (!emulation.ok) return;
      const bytes = serializeModel(buildCnn({ inputShape: [1, 3, 16, 16], residual: true }));
      const arm = emulatedArm64Runner(emulation, { threads: 1 });
      const x86 = ortNodeRunner({ threads: 1 });
      const [a, b] = [await arm.load(bytes), await x86.load(bytes)];
      try {
        for (const sample of randomSamples('input', [1, 3, 16, 16], 3, 7)) {
          const [ra, rb] = [await a.run(sample), await b.run(sample)];
          expect(ra.output.dims).toEqual(rb.output.dims);
          const [xa, xb] = [ra.output.data as Float32Array, rb.output.data as Float32Array];
          for (let i = 0; i < xb.length; i++) expect(Math.abs(xa[i] - xb[i])).toBeLessThan(1e-4 * (1 + Math.abs(xb[i])));
        }
      } finally {
        await a.release();
        await b.release();
        await arm.close!();
      }
      expect(children()).toEqual([]);
    },
    60_000,
  );

  it.skipIf(!emulation.ok || !isX64)(
    `under emulation at most maxEmulatedSamples samples are verified, and the manifest says so${skip}`,
    async () => {
      const { dir, path } = setup();
      const res = await compileModel(path, {
        target: 'arm64',
        quantize: 'none',
        evaluationData: randomData('input', [1, 3, 16, 16], 5),
        maxEmulatedSamples: 2,
        cacheDir: join(dir, 'cache'),
        outDir: join(dir, 'out'),
      });
      const v = res.manifest.verification;
      expect(v.samples).toBe(2);
      expect(v.inputs).toBe('random test samples, first 2 of 5');
      expect(v.note).toMatch(/; 2 of 5 evaluation samples verified \(emulation is slow/);
      expect(v.outputs[0].cosine).toBeGreaterThan(0.9999);
      expect(children()).toEqual([]);
    },
    60_000,
  );

  it('without the emulation, arm64 is verified on the x86 stand-in with a note naming what is missing', () => {
    const empty = tempDir();
    const runner = runnerForTarget(loadTarget('arm64'), { env: { PATH: empty } });
    expect(runner.native).toBe(false);
    expect(runner.emulated).toBeUndefined();
    if (isX64)
      expect(runner.note).toMatch(
        /^arm64 runtime not on this x64 host, and its emulation is not set up \(qemu-aarch64-static missing: qemu-aarch64-static not found on PATH .*\): verified on onnxruntime's x86-64 CPU kernels$/,
      );
    const host = runnerForTarget(loadTarget('arm64'), {
      verifyOn: 'host',
      findEmulation: () => {
        throw new Error('not asked');
      },
    });
    if (isX64) expect(host.note).toMatch(/verify on host was asked/);
    // x86_64 targets on an x86_64 host: their own runtime, whatever verifyOn says.
    if (isX64) expect(runnerForTarget(loadTarget('x86_64'), { verifyOn: 'host' }).native).toBe(true);
  });
});
