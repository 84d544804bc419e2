import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBench } from '../../src/bench/bench.js';
import { concreteInputs } from '../../src/bench/inputs.js';
import { compileModel } from '../../src/compiler/compile.js';
import { KilnError } from '../../src/errors.js';
import { buildCnn } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/model.js';
import { tempDir, tinyModel } from './helpers.js';

const caught = async (p: Promise<unknown>): Promise<KilnError> => {
  try {
    await p;
  } catch (err) {
    if (err instanceof KilnError) return err;
    throw err;
  }
  throw new Error('expected a KilnError');
};

describe('kiln bench bad input', () => {
  it('BAD CALL: a model with dynamic dims and no --shape says which --shape NAME=… to pass', async () => {
    const dir = tempDir();
    const path = join(dir, 'dyn.onnx');
    saveModel(buildCnn({ inputShape: ['N', 3, 32, 32] }), path);
    // The batch dim alone is filled in (batch 1), so this one runs; H and W symbolic do not.
    const g = buildCnn({ inputShape: ['N', 3, 32, 32] });
    g.graph!.input[0].type!.tensorType!.shape!.dim[2] = { dimParam: 'H', denotation: '' };
    g.graph!.input[0].type!.tensorType!.shape!.dim[3] = { dimParam: 'W', denotation: '' };
    const hw = join(dir, 'hw.onnx');
    saveModel(g, hw);
    const err = await caught(runBench({ subject: hw, iterations: 1 }));
    expect(err.code).toBe('BAD_SHAPE');
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/^input 'input' has dynamic dimensions \[N, 3, H, W\] and kiln bench needs their sizes \(dimensions 2 \(H\), 3 \(W\)\)/);
    expect(err.message).toContain('pass --shape input=DIMS with every dimension, e.g. --shape input=1x3x224x224');
  });

  it('BAD CALL: --shape that contradicts a fixed dim, and --batch on a fixed batch dim, are refused by name', () => {
    const spec = { name: 'x', dtype: 'float32', shape: [1, 3, 'H', 'W'] };
    expect(() => concreteInputs([spec], { x: [1, 4, 8, 8] })).toThrow(/dimension 1 is fixed to 3/);
    expect(() => concreteInputs([spec], { x: [1, 3, 8, 8] }, 8)).toThrow(/--batch 8: input 'x' has a fixed batch dimension of 1/);
    expect(concreteInputs([{ ...spec, shape: ['N', 3, 'H', 'W'] }], { x: [1, 3, 8, 8] }, 8)).toEqual([{ name: 'x', dtype: 'float32', dims: [8, 3, 8, 8] }]);
    expect(concreteInputs([{ ...spec, shape: ['N', 3, 4, 4] }], {})).toEqual([{ name: 'x', dtype: 'float32', dims: [1, 3, 4, 4] }]);
  });

  it('BAD CALL: an artifact for a target this host cannot run names the target and what is missing', async () => {
    const { dir, path } = tinyModel();
    process.env.KILN_HOME = join(dir, 'home');
    const out = join(dir, 'artifact');
    await compileModel(path, { target: 'x86_64', quantize: 'none', outDir: out, cacheDir: join(dir, 'cache') });
    // Re-label it as a gpu-cuda artifact (bench reads the manifest's target).
    const manifestPath = join(out, 'manifest.json');
    const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
    m.target = { ...m.target, name: 'gpu-cuda', executionProviders: ['tensorrt', 'cuda', 'cpu'] };
    writeFileSync(manifestPath, JSON.stringify(m));
    const err = await caught(runBench({ subject: out, iterations: 1, support: { cudaReason: () => 'no CUDA provider installed' } }));
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/this host cannot run the artifact's target — gpu-cuda: no CUDA provider installed/);
  });

  it('BAD CALL: a missing file and a folder that is not an artifact', async () => {
    const dir = tempDir();
    expect((await caught(runBench({ subject: join(dir, 'nope.onnx') }))).code).toBe('FILE_NOT_FOUND');
    const err = await caught(runBench({ subject: dir }));
    expect(err.code).toBe('BAD_ARTIFACT');
    expect(err.message).toMatch(/a folder, but not an artifact/);
    expect((await caught(runBench({ subject: 'zoo:no-such-model' }))).code).toBe('ZOO');
  });
});
