/**
 * Real signed artifacts for the registry's tests: a small CNN compiled by kiln for x86_64 and wasm,
 * with KILN_HOME (so the signing key) and the compile cache in temp dirs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileModel } from '../../src/compiler/compile.js';
import { buildCnn } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/model.js';

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix));

export const kilnHome = (() => {
  const dir = process.env.KILN_TEST_AGENT_HOME ?? tempDir('kiln-reg-home-');
  process.env.KILN_HOME = dir;
  return dir;
})();

export interface Built {
  dir: string;
  tgz: string;
  keyId: string;
  publicKey: string;
}

/** Compile buildCnn({inputShape: [1,3,32,32]}) as `name` `version` for `target` (seed changes the weights). */
export async function build(root: string, name: string, version: string, target: 'x86_64' | 'wasm', seed = 1): Promise<Built> {
  const src = join(root, `${name}-${version}-${target}-${seed}.onnx`);
  saveModel(buildCnn({ inputShape: [1, 3, 32, 32], seed }), src);
  const res = await compileModel(src, {
    target,
    quantize: 'none',
    outDir: join(root, `${name}-${version}-${target}-${seed}`),
    cacheDir: join(root, 'cache'),
    modelName: name,
    modelVersion: version,
  });
  rmSync(src);
  const sig = JSON.parse(readFileSync(join(res.artifact.dir, 'signature.json'), 'utf8')) as { keyId: string; publicKey: string };
  return { dir: res.artifact.dir, tgz: res.artifact.archive, keyId: sig.keyId, publicKey: sig.publicKey };
}
