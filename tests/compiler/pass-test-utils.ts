/**
 * Helpers for the tests of graph passes: run a model in onnxruntime-node, compare outputs, and check
 * models with python3-onnx's checker (an independent implementation of the spec) when it is installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serializeModel } from '../../src/onnx/model.js';
import type { ModelProto } from '../../src/onnx/proto-types.js';
import { Rng } from '../../src/onnx/random.js';
import { createOrtNodeSession, ort, type OrtTensor } from '../../src/runtime/ort-node.js';

export { ort };

/** Run a model once; optimization 'disabled' by default so that both sides compute the same way. */
export async function runModel(
  model: ModelProto | Uint8Array,
  feeds: Record<string, OrtTensor>,
  optimization: 'disabled' | 'all' = 'disabled',
): Promise<Record<string, OrtTensor>> {
  const bytes = model instanceof Uint8Array ? model : serializeModel(model);
  const session = await createOrtNodeSession(bytes, { optimization, threads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

export function randomFloats(count: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count }, () => rng.normal(0, scale));
}

export const floatTensor = (data: Float32Array, dims: readonly number[]): OrtTensor => new ort.Tensor('float32', data, dims);

/** Largest |a - b| over two float arrays of the same length; Infinity when lengths or ±∞/NaN positions differ. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    if (Object.is(x, y) || x === y) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y)) return Infinity;
    worst = Math.max(worst, Math.abs(x - y));
  }
  return worst;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

const PYTHON = '/usr/bin/python3';

/** Whether Debian's python3-onnx can be imported (the checker tests are skipped otherwise). */
export const hasPythonOnnx: boolean = (() => {
  const r = spawnSync(PYTHON, ['-c', 'import onnx'], { encoding: 'utf8' });
  return r.status === 0;
})();

const CHECK_SCRIPT = `
import sys, onnx
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        print('OK ' + path)
    except Exception as e:
        print('FAIL ' + path + ' ' + str(e).replace('\\n', ' ')[:400])
`;

/**
 * Check models with onnx.checker.check_model(full_check=True) in one python process. Returns the
 * failures as "name: message" (empty when every model passes).
 */
export function onnxCheckFailures(models: ReadonlyArray<{ name: string; model: ModelProto | Uint8Array }>): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-onnx-check-'));
  try {
    const paths = models.map(({ name, model }, i) => {
      const path = join(dir, `${i}-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.onnx`);
      writeFileSync(path, model instanceof Uint8Array ? model : serializeModel(model));
      return path;
    });
    const r = spawnSync(PYTHON, ['-c', CHECK_SCRIPT, ...paths], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    if (r.status !== 0) return [`python failed: ${r.stderr}`];
    const failures: string[] = [];
    for (const line of r.stdout.split('\n')) {
      if (!line.startsWith('FAIL ')) continue;
      const rest = line.slice(5);
      const i = paths.findIndex((p) => rest.startsWith(p));
      failures.push(`${i >= 0 ? models[i].name : '?'}: ${rest.slice(i >= 0 ? paths[i].length + 1 : 0)}`);
    }
    const oks = r.stdout.split('\n').filter((l) => l.startsWith('OK ')).length;
    if (oks + failures.length !== models.length)
      failures.push(`checker answered for ${oks + failures.length} of ${models.length} models: ${r.stdout} ${r.stderr}`);
    return failures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
