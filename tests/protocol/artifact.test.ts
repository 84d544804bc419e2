import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { checkArtifact, writeArtifact, canonicalJson, MANIFEST_FILE } from '../../src/protocol/artifact.js';
import { packEntries, unpackEntries } from '../../src/protocol/archive.js';
import { defaultSigningKey } from '../../src/protocol/signing.js';
import type { ArtifactManifest } from '../../src/protocol/manifest.js';
import { KilnError } from '../../src/errors.js';
import { tempDir } from '../compiler/helpers.js';

const sha = 'a'.repeat(64);
const manifest: Omit<ArtifactManifest, 'files'> = {
  schemaVersion: 1,
  kind: 'kiln-artifact',
  model: { name: 'm', version: '1' },
  source: { file: 'm.onnx', sha256: sha, sizeBytes: 10, irVersion: 8, opsets: { 'ai.onnx': 17 } },
  target: { name: 'x86_64', arch: 'x86_64', backend: 'ort-node', executionProviders: ['cpu'], profileSha256: sha },
  inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 3] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: ['N', 2] }],
  quantization: { mode: 'none', reason: 'test', quantizedNodes: 0, excludedNodes: [] },
  optimization: { passes: [], runtimeLevel: 'all' },
  verification: {
    runtime: null,
    skippedReason: 'test',
    samples: 0,
    inputs: 'none',
    outputs: [],
    budget: { minCosine: 0.98, maxTop1Drop: 0.005 },
    passed: true,
  },
  sizes: { sourceBytes: 10, artifactBytes: 4 },
  build: { kilnVersion: '0.1.0', onnxruntimeVersion: '1.30.0', compileSeconds: 1, createdAt: '2026-11-25T00:00:00Z', cacheKey: sha },
};

function make() {
  const home = tempDir();
  const key = defaultSigningKey(join(home, 'config'));
  const out = join(home, 'art');
  const written = writeArtifact(out, manifest, { 'model.onnx': new Uint8Array([1, 2, 3, 4]) }, key);
  return { home, key, out, written };
}

describe('artifacts', () => {
  it('are signed, hashed, archived, and check out — from the folder and from the .tgz', () => {
    const { out, key, written } = make();
    expect(readdirSync(out).sort()).toEqual(['manifest.json', 'model.onnx', 'signature.json']);
    expect(existsSync(`${out}.tgz`)).toBe(true);
    expect(written.manifest.files['model.onnx'].sizeBytes).toBe(4);
    for (const p of [out, `${out}.tgz`]) {
      const res = checkArtifact(p, [key.publicKeyBase64]);
      expect(res.problems).toEqual([]);
      expect(res.signer).toBe(key.keyId);
    }
  });

  it('BAD CALL: a changed model byte, a changed manifest, or an untrusted key is caught', () => {
    const { out, key } = make();
    const other = defaultSigningKey(join(tempDir(), 'config'));
    expect(checkArtifact(out, [other.publicKeyBase64]).problems.join()).toMatch(/not among the trusted keys/);
    writeFileSync(join(out, 'model.onnx'), new Uint8Array([1, 2, 3, 5]));
    expect(checkArtifact(out, [key.publicKeyBase64]).problems).toEqual(['model.onnx does not match its sha256 in the manifest (tampered or corrupt)']);
    const m = JSON.parse(readFileSync(join(out, MANIFEST_FILE), 'utf8'));
    m.model.version = '2';
    writeFileSync(join(out, MANIFEST_FILE), canonicalJson(m));
    expect(checkArtifact(out).problems.join()).toMatch(/signature does not match the manifest/);
  });

  it('BAD CALL: archives with unsafe paths, links, or truncated data are refused', () => {
    const evil = packEntries([{ path: '../escape.txt', data: new Uint8Array([1]) }]);
    expect(() => unpackEntries(evil, 'evil.tgz')).toThrowError(/unsafe path '..\/escape.txt'/);
    const good = packEntries([{ path: 'model.onnx', data: new Uint8Array(2000) }]);
    const tar = Buffer.from(gunzipSync(good));
    expect(() => unpackEntries(gzipSync(tar.subarray(0, 1024)), 'cut.tgz')).toThrowError(/truncated/);
    const link = Buffer.from(tar);
    link[156] = '2'.charCodeAt(0); // symlink type; fix the checksum so only the type is wrong
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : link[i];
    link.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
    let err: unknown;
    try {
      unpackEntries(link, 'link.tar');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('BAD_ARTIFACT');
    expect((err as Error).message).toMatch(/not a regular file/);
    expect(unpackEntries(good).map((e) => e.path)).toEqual(['model.onnx']);
  });

  it('rewriting an artifact replaces it whole, leaving no temporary folders', () => {
    const { home, out, key } = make();
    writeArtifact(out, { ...manifest, model: { name: 'm', version: '2' } }, { 'model.onnx': new Uint8Array([9]) }, key);
    expect(checkArtifact(out).manifest?.model.version).toBe('2');
    expect(readdirSync(home).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
