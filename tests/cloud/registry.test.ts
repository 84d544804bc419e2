/**
 * The model registry against real SQLite and real signed artifacts (x86_64 and wasm): push with
 * metadata, idempotent re-push, a conflicting push refused, tampered and untrusted artifacts refused
 * with nothing stored, artifactFor / missingTargets / desiredEntryFor, and `kiln push` /
 * `kiln cloud models list` through the CLI.
 */
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { ModelRegistry } from '../../src/cloud/registry/index.js';
import { KilnError } from '../../src/errors.js';
import { sha256Hex } from '../../src/protocol/artifact.js';
import { DesiredModelSchema } from '../../src/protocol/sync.js';
import { build, tempDir, type Built } from './registry-helpers.js';

let root: string;
let x86: Built;
let wasm: Built;
let other: Built; // same name, version and target as x86, other weights

beforeAll(async () => {
  root = tempDir('kiln-registry-');
  x86 = await build(root, 'cnn', '1.0.0', 'x86_64', 1);
  wasm = await build(root, 'cnn', '1.0.0', 'wasm', 1);
  other = await build(root, 'cnn', '1.0.0', 'x86_64', 2);
}, 180_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const open = (name: string) => new ModelRegistry({ dbPath: join(root, name, 'cloud.db') });
const caught = (fn: () => unknown): KilnError => {
  try {
    fn();
  } catch (err) {
    return err as KilnError;
  }
  throw new Error('expected a throw');
};

describe('ModelRegistry.pushArtifact', () => {
  it('stores the artifact content-addressed and records its manifest metadata', () => {
    const reg = open('push');
    try {
      const r = reg.pushArtifact(x86.dir);
      expect(r.created).toBe(true);
      const a = r.artifact;
      expect(a).toMatchObject({ model: 'cnn', version: '1.0.0', target: 'x86_64', quantization: 'none', keyId: x86.keyId, publicKey: x86.publicKey });
      // The stored .tgz is the compiler's own archive, byte for byte.
      const tgz = readFileSync(x86.tgz);
      expect(a.sha256).toBe(sha256Hex(tgz));
      expect(a.sizeBytes).toBe(tgz.length);
      const file = join(reg.artifactDir, `${a.sha256}.tgz`);
      expect(readFileSync(file).equals(tgz)).toBe(true);
      expect(reg.artifactFile(a.sha256)).toEqual({ path: file, sizeBytes: tgz.length });
      expect(a.sizes.sourceBytes).toBeGreaterThan(0);
      expect(a.verification.outputs.length).toBeGreaterThan(0);
      expect(a.verification.outputs[0].cosine).toBeGreaterThan(0.99);
      expect(a.manifestSha256).toBe(sha256Hex(readFileSync(join(x86.dir, 'manifest.json'))));

      const w = reg.pushArtifact(wasm.tgz, { model: 'cnn', version: '1.0.0' });
      expect(w.created).toBe(true);
      expect(w.artifact.target).toBe('wasm');
      expect(reg.listModels()).toEqual([expect.objectContaining({ name: 'cnn', versions: ['1.0.0'], latest: '1.0.0' })]);
      expect(reg.listVersions('cnn')).toEqual([expect.objectContaining({ model: 'cnn', version: '1.0.0', targets: ['wasm', 'x86_64'] })]);
      expect(reg.listVersions('nope')).toEqual([]);
      expect(reg.artifactFor('cnn', '1.0.0', 'wasm')?.sha256).toBe(w.artifact.sha256);
      expect(reg.artifactFor('cnn', '1.0.0', 'arm64')).toBeUndefined();
      expect(reg.artifactFor('cnn', '2.0.0', 'x86_64')).toBeUndefined();
    } finally {
      reg.close();
    }
  });

  it('pushing the same artifact again (directory or .tgz) changes nothing, also after a reopen', () => {
    const reg = open('idem');
    const first = reg.pushArtifact(x86.dir).artifact;
    const again = reg.pushArtifact(x86.tgz);
    expect(again.created).toBe(false);
    expect(again.artifact).toEqual(first);
    reg.close();
    const reg2 = open('idem');
    try {
      expect(reg2.pushArtifact(x86.dir)).toEqual({ artifact: first, created: false });
      expect(reg2.listVersions('cnn')).toHaveLength(1);
      expect(readdirSync(reg2.artifactDir)).toEqual([`${first.sha256}.tgz`]);
    } finally {
      reg2.close();
    }
  });

  it('BAD CALL: a different artifact for the same model, version and target is refused, the first kept', () => {
    const reg = open('conflict');
    try {
      const first = reg.pushArtifact(x86.dir).artifact;
      const err = caught(() => reg.pushArtifact(other.tgz));
      expect(err).toBeInstanceOf(KilnError);
      expect(err.code).toBe('ARTIFACT_CONFLICT');
      expect(err.message).toMatch(/cnn 1\.0\.0 already has a different artifact for target 'x86_64'/);
      expect(err.message).toMatch(/new version/);
      expect(reg.artifactFor('cnn', '1.0.0', 'x86_64')).toEqual(first);
      expect(readdirSync(reg.artifactDir)).toEqual([`${first.sha256}.tgz`]);
    } finally {
      reg.close();
    }
  });

  it('BAD CALL: a tampered artifact is refused listing its problems, and nothing is stored', () => {
    const bad = join(root, 'tampered');
    cpSync(x86.dir, bad, { recursive: true });
    const model = readFileSync(join(bad, 'model.onnx'));
    model[model.length - 10] ^= 0xff;
    writeFileSync(join(bad, 'model.onnx'), model);
    const unsigned = join(root, 'unsigned');
    cpSync(x86.dir, unsigned, { recursive: true });
    rmSync(join(unsigned, 'signature.json'));
    const reg = open('tampered');
    try {
      const err = caught(() => reg.pushArtifact(bad));
      expect(err).toBeInstanceOf(KilnError);
      expect(err.code).toBe('BAD_ARTIFACT');
      expect(err.message).toMatch(/model\.onnx does not match its sha256 in the manifest/);
      const err2 = caught(() => reg.pushArtifact(unsigned));
      expect(err2.code).toBe('BAD_ARTIFACT');
      expect(err2.message).toMatch(/unsigned artifact/);
      expect(reg.listModels()).toEqual([]);
      expect(existsSync(reg.artifactDir) ? readdirSync(reg.artifactDir) : []).toEqual([]);
    } finally {
      reg.close();
    }
  });

  it('BAD CALL: with trusted keys, an artifact signed by another key is refused; its own key passes', () => {
    const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
    const reg = open('trust');
    try {
      const err = caught(() => reg.pushArtifact(x86.dir, { trustedKeys: [raw] }));
      expect(err.code).toBe('BAD_ARTIFACT');
      expect(err.message).toContain(`signed by key ${x86.keyId}, which is not among the trusted keys`);
      expect(reg.listModels()).toEqual([]);
      expect(reg.pushArtifact(x86.dir, { trustedKeys: [raw, x86.publicKey] }).created).toBe(true);
    } finally {
      reg.close();
    }
  });

  it('BAD CALL: --model / --version other than the signed manifest\'s are refused', () => {
    const reg = open('names');
    try {
      const err = caught(() => reg.pushArtifact(x86.dir, { model: 'resnet', version: '9' }));
      expect(err.code).toBe('BAD_OPTION');
      expect(err.message).toMatch(/--model 'resnet': the artifact is model 'cnn'; --version '9': the artifact is version '1\.0\.0'/);
      expect(reg.listModels()).toEqual([]);
      expect(() => reg.pushArtifact(join(root, 'nothing-here'))).toThrow(/no such artifact/);
    } finally {
      reg.close();
    }
  });
});

describe('targets and desired state', () => {
  it('missingTargets lists the devices without an artifact; requireTargets refuses listing them', () => {
    const reg = open('targets');
    try {
      reg.pushArtifact(x86.dir);
      reg.pushArtifact(wasm.dir);
      const fleet = [
        { deviceId: 'cam-1', target: 'x86_64' },
        { deviceId: 'pi-1', target: 'arm64' },
        { deviceId: 'pi-2', target: 'arm64' },
        { deviceId: 'web-1', target: 'wasm' },
        { deviceId: 'gpu-1', target: 'gpu-cuda' },
      ];
      expect(reg.missingTargets('cnn', '1.0.0', fleet)).toEqual([fleet[1], fleet[2], fleet[4]]);
      expect(reg.missingTargets('cnn', '1.0.0', ['x86_64', 'wasm'])).toEqual([]);
      expect(reg.missingTargets('cnn', '7.0.0', ['x86_64'])).toEqual([{ target: 'x86_64' }]);
      expect(() => reg.requireTargets('cnn', '1.0.0', [fleet[0], fleet[3]])).not.toThrow();
      const err = caught(() => reg.requireTargets('cnn', '1.0.0', fleet));
      expect(err.code).toBe('NO_ARTIFACT');
      expect(err.message).toContain("target 'arm64': pi-1, pi-2");
      expect(err.message).toContain("target 'gpu-cuda': gpu-1");
      expect(err.message).toContain('(it has: wasm, x86_64)');
    } finally {
      reg.close();
    }
  });

  it('desiredEntryFor gives the URL, sha256, size and signer of the target\'s artifact', () => {
    const reg = open('desired');
    try {
      const a = reg.pushArtifact(wasm.tgz).artifact;
      const entry = reg.desiredEntryFor('cnn', '1.0.0', 'wasm', 'http://cloud.example:8080/');
      expect(DesiredModelSchema.parse(entry)).toEqual(entry);
      expect(entry).toEqual({
        version: '1.0.0',
        artifact: { url: `http://cloud.example:8080/artifacts/${a.sha256}.tgz`, sha256: a.sha256, sizeBytes: a.sizeBytes, signature: { algorithm: 'ed25519', keyId: wasm.keyId } },
      });
      expect(caught(() => reg.desiredEntryFor('cnn', '1.0.0', 'x86_64', 'http://x')).code).toBe('NO_ARTIFACT');
    } finally {
      reg.close();
    }
  });
});

describe('kiln push / kiln cloud models list', () => {
  async function kiln(...argv: string[]) {
    const io = captureIo({ cwd: root });
    const code = await runMain(argv, io);
    return { code, out: io.out, err: io.err };
  }

  it('pushes, re-pushes, refuses a conflict with exit 2, and lists', async () => {
    const db = join(root, 'cli', 'cloud.db');
    const p = await kiln('push', x86.dir, '--model', 'cnn', '--version', '1.0.0', '--db', db);
    expect(p.err).toBe('');
    expect(p.code).toBe(0);
    expect(p.out).toMatch(/^pushed: cnn 1\.0\.0 for x86_64 \(none, [\d.]+ MiB, signed by [0-9a-f]{16}\)\n  sha256 [0-9a-f]{64}\n$/);
    const j = await kiln('--json', 'push', wasm.tgz, '--db', db);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.out)).toMatchObject({ created: true, artifact: { target: 'wasm', model: 'cnn' } });
    expect((await kiln('push', x86.tgz, '--db', db)).out).toMatch(/^already there: cnn 1\.0\.0 for x86_64/);
    const c = await kiln('push', other.dir, '--db', db);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/already has a different artifact for target 'x86_64'/);
    const key = join(root, 'trusted.pub');
    writeFileSync(key, `${generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64')}\n`);
    const t = await kiln('push', wasm.dir, '--db', db, '--trust', key);
    expect(t.code).toBe(2);
    expect(t.err).toMatch(/not among the trusted keys/);

    const list = await kiln('cloud', 'models', 'list', '--db', db);
    expect(list.code).toBe(0);
    expect(list.out.split('\n')[0]).toMatch(/^MODEL\s+VERSION\s+TARGETS\s+PUSHED$/);
    expect(list.out).toMatch(/cnn\s+1\.0\.0\s+wasm \(none\), x86_64 \(none\)/);
    const lj = JSON.parse((await kiln('--json', 'cloud', 'models', 'list', '--db', db)).out) as { name: string; versions: { version: string; artifacts: { target: string }[] }[] }[];
    expect(lj.map((m) => m.name)).toEqual(['cnn']);
    expect(lj[0].versions[0].artifacts.map((a) => a.target)).toEqual(['wasm', 'x86_64']);
    expect((await kiln('cloud', 'models', 'list', '--db', join(root, 'none', 'cloud.db'))).out).toMatch(/^no models/);
  });
});
