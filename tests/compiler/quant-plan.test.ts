import { describe, expect, it } from 'vitest';
import { loadTarget } from '../../src/targets/profiles.js';
import { resolveQuantPlan } from '../../src/compiler/quant-plan.js';

const cnn = { ops: { Conv: 20, Relu: 20, Gemm: 1 }, hasCalibrationData: true };
const transformer = { ops: { MatMul: 24, Add: 30, Softmax: 4 }, hasCalibrationData: false };

describe('resolveQuantPlan (pure)', () => {
  it('auto: static int8 for a CNN with data on CPUs, with the profile int8 settings', () => {
    const plan = resolveQuantPlan(loadTarget('x86_64'), {}, cnn);
    expect(plan.mode).toBe('int8');
    if (plan.mode !== 'int8') throw new Error('unreachable');
    expect(plan.activations).toBe('uint8');
    expect(plan.reduceRange).toBe(true);
    expect(resolveQuantPlan(loadTarget('x86_64-vnni'), {}, cnn)).toMatchObject({ mode: 'int8', reduceRange: false });
    expect(resolveQuantPlan(loadTarget('wasm'), {}, cnn)).toMatchObject({ mode: 'int8', measurePerNode: true });
  });

  it('x86_64 tunes its weights to the compiling CPU: VNNI → full range, AVX2 only or unknown → 7-bit, and says so', () => {
    const x86 = loadTarget('x86_64');
    expect(x86.numerics.int8.reduceRange).toBe('auto');
    const vnni = resolveQuantPlan(x86, {}, { ...cnn, cpu: { model: 'AMD EPYC', int8Kernel: 'vnni' } });
    expect(vnni).toMatchObject({ mode: 'int8', reduceRange: false, tuning: { cpu: 'AMD EPYC', int8Kernel: 'vnni', reduceRange: false } });
    const avx2 = resolveQuantPlan(x86, {}, { ...cnn, cpu: { model: 'Xeon E5-2680 v4', int8Kernel: 'avx2' } });
    expect(avx2).toMatchObject({
      mode: 'int8',
      reduceRange: true,
      tuning: { int8Kernel: 'avx2', reduceRange: true, note: expect.stringMatching(/AVX2 without VNNI.*7-bit weights/) },
    });
    expect(resolveQuantPlan(x86, { quantize: 'int8-dynamic' }, { ...transformer, cpu: { model: 'x', int8Kernel: 'vnni' } })).toMatchObject({
      mode: 'int8-dynamic',
      reduceRange: false,
    });
    // A pinned profile is not tuned: no tuning recorded, whatever the CPU.
    expect(resolveQuantPlan(loadTarget('x86_64-vnni'), {}, { ...cnn, cpu: { model: 'x', int8Kernel: 'avx2' } })).not.toHaveProperty('tuning');
  });

  it('auto: dynamic int8 for MatMul-heavy models, fp16 on the GPU, none without data', () => {
    expect(resolveQuantPlan(loadTarget('arm64'), {}, transformer).mode).toBe('int8-dynamic');
    expect(resolveQuantPlan(loadTarget('gpu-cuda'), {}, cnn).mode).toBe('fp16');
    const warnings: string[] = [];
    const plan = resolveQuantPlan(loadTarget('x86_64'), {}, { ...cnn, hasCalibrationData: false }, (w) => warnings.push(w));
    expect(plan.mode).toBe('none');
    expect(warnings.join()).toMatch(/calibration/);
  });

  it('the user overrides the profile, and gets a warning when the choice cannot help', () => {
    const warnings: string[] = [];
    expect(resolveQuantPlan(loadTarget('x86_64'), { quantize: 'fp16' }, cnn, (w) => warnings.push(w)).mode).toBe('fp16');
    expect(warnings[0]).toMatch(/not faster/);
    const p = resolveQuantPlan(loadTarget('x86_64'), { quantize: 'int8', calibration: 'entropy', excludeNodes: ['fc'] }, cnn);
    expect(p).toMatchObject({ mode: 'int8', calibration: 'entropy', excludeNodes: ['fc'] });
    expect(resolveQuantPlan(loadTarget('x86_64'), { quantize: 'int8' }, { ...cnn, hasCalibrationData: false }).mode).toBe('int8-dynamic');
  });

  it('never changes the profile or the options it is given', () => {
    const profile = loadTarget('x86_64');
    const user = { quantize: 'auto' as const, excludeOps: ['Add'] };
    const copy = JSON.stringify(user);
    resolveQuantPlan(profile, user, cnn);
    expect(JSON.stringify(user)).toBe(copy);
  });
});
