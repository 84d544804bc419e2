/**
 * The model registry's contract: what every storage backend (SQLite + directory, PostgreSQL) must do,
 * as one suite each backend's test file runs (the pattern of MQTT.js's abstract_store tests). Real
 * signed artifacts (x86_64, wasm, and a second x86_64 build with other weights), real databases.
 *
 * Covers: push with metadata and the stored bytes, idempotent re-push, a conflicting push refused,
 * bad artifacts and options refused with nothing stored, missingTargets / requireTargets /
 * desiredEntryFor, two registry instances on one location seeing each other's pushes and serving each
 * other's bytes over HTTP, racing pushes with exactly one winner (through the registry, and straight
 * at the store so the database's own constraint is what decides), and bad calls.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openModelRegistry, startArtifactServer, type ModelRegistry, type ModelRegistryOptions, type RegistryStore } from '../../src/cloud/registry/index.js';
import type { ArtifactRecord } from '../../src/cloud/registry/types.js';
import { KilnError } from '../../src/errors.js';
import { sha256Hex } from '../../src/protocol/artifact.js';
import { DesiredModelSchema } from '../../src/protocol/sync.js';
import type { Built } from './registry-helpers.js';

export interface RegistryBackend {
  /** Where a fresh, empty registry goes (a new SQLite file, a new PostgreSQL schema); `label` only names it. */
  fresh(label: string): ModelRegistryOptions;
  /** A bare store on a location from fresh(), for the races aimed at the store itself. */
  openStore(at: ModelRegistryOptions): Promise<RegistryStore>;
  /** Remove whatever fresh() made. */
  cleanup(): Promise<void>;
}

/** The artifacts the calling file built in its beforeAll (read only once the tests run). */
export interface ContractArtifacts {
  root: string;
  x86: Built;
  wasm: Built;
  /** Same model, version and target as x86, other weights. */
  other: Built;
}

export async function caught(fn: () => unknown): Promise<KilnError> {
  try {
    await fn();
  } catch (err) {
    return err as KilnError;
  }
  throw new Error('expected a throw');
}

/** The whole stored .tgz of `sha256`, read through the registry (undefined when it holds none). */
export async function storedBytes(reg: ModelRegistry, sha256: string): Promise<Buffer | undefined> {
  const blob = await reg.artifactBlob(sha256);
  if (!blob) return undefined;
  const parts: Buffer[] = [];
  for await (const chunk of blob.stream(0, blob.sizeBytes - 1)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** A made-up artifact record (the store takes it as given) with random bytes, for store-level races. */
function fakeRecord(target: string, manifest: string, model = 'race', version = '1.0.0', size = 3000): { record: ArtifactRecord; tgz: Buffer } {
  const tgz = randomBytes(size);
  const record: ArtifactRecord = {
    model,
    version,
    target,
    arch: 'x86_64',
    backend: 'ort-node',
    sha256: sha256Hex(tgz),
    sizeBytes: tgz.length,
    manifestSha256: sha256Hex(Buffer.from(manifest)),
    keyId: '0123456789abcdef',
    publicKey: 'AAAA',
    quantization: 'none',
    sizes: { sourceBytes: 1, artifactBytes: 1 },
    verification: { runtime: null, passed: true, samples: 0, outputs: [] },
    kilnVersion: '0.0.0',
    builtAt: new Date(0).toISOString(),
    pushedAt: new Date().toISOString(),
  };
  return { record, tgz };
}

export function registryContract(name: string, backend: RegistryBackend, artifacts: () => ContractArtifacts): void {
  const opened: ModelRegistry[] = [];
  const open = async (at: ModelRegistryOptions) => {
    const reg = await openModelRegistry(at);
    opened.push(reg);
    return reg;
  };
  afterAll(async () => {
    for (const r of opened) await r.close();
    await backend.cleanup();
  });

  describe(`${name}: push`, () => {
    it('stores the artifact content-addressed and records its manifest metadata', async () => {
      const { x86, wasm } = artifacts();
      const reg = await open(backend.fresh('push'));
      const r = await reg.pushArtifact(x86.dir);
      expect(r.created).toBe(true);
      const a = r.artifact;
      expect(a).toMatchObject({ model: 'cnn', version: '1.0.0', target: 'x86_64', quantization: 'none', keyId: x86.keyId, publicKey: x86.publicKey });
      // The stored .tgz is the compiler's own archive, byte for byte.
      const tgz = readFileSync(x86.tgz);
      expect(a.sha256).toBe(sha256Hex(tgz));
      expect(a.sizeBytes).toBe(tgz.length);
      expect((await storedBytes(reg, a.sha256))?.equals(tgz)).toBe(true);
      expect((await reg.artifactBlob(a.sha256))?.sizeBytes).toBe(tgz.length);
      expect(a.sizes.sourceBytes).toBeGreaterThan(0);
      expect(a.verification.outputs[0].cosine).toBeGreaterThan(0.99);
      expect(a.manifestSha256).toBe(sha256Hex(readFileSync(join(x86.dir, 'manifest.json'))));

      const w = await reg.pushArtifact(wasm.tgz, { model: 'cnn', version: '1.0.0' });
      expect(w.created).toBe(true);
      expect(w.artifact.target).toBe('wasm');
      expect(await reg.listModels()).toEqual([expect.objectContaining({ name: 'cnn', versions: ['1.0.0'], latest: '1.0.0' })]);
      expect(await reg.listVersions('cnn')).toEqual([expect.objectContaining({ model: 'cnn', version: '1.0.0', targets: ['wasm', 'x86_64'] })]);
      expect(await reg.listVersions('nope')).toEqual([]);
      expect(await reg.artifactsOf('cnn', '1.0.0')).toEqual([w.artifact, a]);
      expect((await reg.artifactFor('cnn', '1.0.0', 'wasm'))?.sha256).toBe(w.artifact.sha256);
      expect(await reg.artifactFor('cnn', '1.0.0', 'arm64')).toBeUndefined();
      expect(await reg.artifactFor('cnn', '2.0.0', 'x86_64')).toBeUndefined();
      expect(await reg.artifactBlob('0'.repeat(64))).toBeUndefined();
    });

    it('pushing the same artifact again (directory or .tgz) changes nothing, also after a reopen', async () => {
      const { x86 } = artifacts();
      const at = backend.fresh('idem');
      const reg = await open(at);
      const first = (await reg.pushArtifact(x86.dir)).artifact;
      const again = await reg.pushArtifact(x86.tgz);
      expect(again).toEqual({ artifact: first, created: false });
      await reg.close();
      const reg2 = await open(at);
      expect(await reg2.pushArtifact(x86.dir)).toEqual({ artifact: first, created: false });
      expect(await reg2.listVersions('cnn')).toHaveLength(1);
      expect((await storedBytes(reg2, first.sha256))?.equals(readFileSync(x86.tgz))).toBe(true);
    });

    it('versions list oldest push first; models and targets sort by bytes, whatever the locale', async () => {
      const store = await backend.openStore(backend.fresh('order'));
      try {
        for (const [model, version, target] of [
          ['b-model', '2.0.0', 'x86_64'],
          ['b-model', '10.0.0', 'wasm'],
          ['B-model', '1.0.0', 'x86_64'],
          ['a-model', '1.0.0', 'x86_64'],
          ['b-model', '1.0.0', 'x86_64'],
          ['b-model', '10.0.0', 'arm64'],
          ['b-model', '10.0.0', 'Zeta'],
        ]) {
          const f = fakeRecord(target, `${model} ${version} ${target}`, model, version);
          expect((await store.insertArtifact(f.record, f.tgz)).kind).toBe('created');
        }
        expect((await store.models()).map((m) => [m.name, m.versions, m.latest])).toEqual([
          ['B-model', ['1.0.0'], '1.0.0'],
          ['a-model', ['1.0.0'], '1.0.0'],
          ['b-model', ['2.0.0', '10.0.0', '1.0.0'], '1.0.0'],
        ]);
        expect((await store.versions('b-model')).map((v) => [v.version, v.targets])).toEqual([
          ['2.0.0', ['x86_64']],
          ['10.0.0', ['Zeta', 'arm64', 'wasm']],
          ['1.0.0', ['x86_64']],
        ]);
        expect((await store.artifactsOf('b-model', '10.0.0')).map((a) => a.target)).toEqual(['Zeta', 'arm64', 'wasm']);
        expect(await store.versions('nope')).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it('BAD CALL: a different artifact for the same model, version and target is refused, the first kept', async () => {
      const { x86, other } = artifacts();
      const reg = await open(backend.fresh('conflict'));
      const first = (await reg.pushArtifact(x86.dir)).artifact;
      const err = await caught(() => reg.pushArtifact(other.tgz));
      expect(err).toBeInstanceOf(KilnError);
      expect(err.code).toBe('ARTIFACT_CONFLICT');
      expect(err.message).toMatch(/cnn 1\.0\.0 already has a different artifact for target 'x86_64'/);
      expect(err.message).toMatch(/new version/);
      expect(await reg.artifactFor('cnn', '1.0.0', 'x86_64')).toEqual(first);
      expect(await reg.artifactBlob(sha256Hex(readFileSync(other.tgz)))).toBeUndefined();
    });

    it('BAD CALL: a tampered or unsigned artifact is refused listing its problems, and nothing is stored', async () => {
      const { root, x86 } = artifacts();
      const bad = join(root, `tampered-${randomBytes(4).toString('hex')}`);
      cpSync(x86.dir, bad, { recursive: true });
      const model = readFileSync(join(bad, 'model.onnx'));
      model[model.length - 10] ^= 0xff;
      writeFileSync(join(bad, 'model.onnx'), model);
      const unsigned = join(root, `unsigned-${randomBytes(4).toString('hex')}`);
      cpSync(x86.dir, unsigned, { recursive: true });
      rmSync(join(unsigned, 'signature.json'));
      const reg = await open(backend.fresh('tampered'));
      const err = await caught(() => reg.pushArtifact(bad));
      expect(err).toBeInstanceOf(KilnError);
      expect(err.code).toBe('BAD_ARTIFACT');
      expect(err.message).toMatch(/model\.onnx does not match its sha256 in the manifest/);
      const err2 = await caught(() => reg.pushArtifact(unsigned));
      expect(err2.code).toBe('BAD_ARTIFACT');
      expect(err2.message).toMatch(/unsigned artifact/);
      expect(await reg.listModels()).toEqual([]);
    });

    it('BAD CALL: with trusted keys, an artifact signed by another key is refused; its own key passes', async () => {
      const { x86 } = artifacts();
      const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
      const reg = await open(backend.fresh('trust'));
      const err = await caught(() => reg.pushArtifact(x86.dir, { trustedKeys: [raw] }));
      expect(err.code).toBe('BAD_ARTIFACT');
      expect(err.message).toContain(`signed by key ${x86.keyId}, which is not among the trusted keys`);
      expect(await reg.listModels()).toEqual([]);
      expect((await reg.pushArtifact(x86.dir, { trustedKeys: [raw, x86.publicKey] })).created).toBe(true);
    });

    it("BAD CALL: --model / --version other than the signed manifest's, a missing path, a malformed sha256", async () => {
      const { root, x86 } = artifacts();
      const reg = await open(backend.fresh('names'));
      const err = await caught(() => reg.pushArtifact(x86.dir, { model: 'resnet', version: '9' }));
      expect(err.code).toBe('ARTIFACT_MISMATCH');
      expect(err.message).toMatch(/--model 'resnet': the artifact is model 'cnn'; --version '9': the artifact is version '1\.0\.0'/);
      expect(await reg.listModels()).toEqual([]);
      await expect(reg.pushArtifact(join(root, 'nothing-here'))).rejects.toThrow(/no such artifact/);
      await expect(reg.pushArtifact('')).rejects.toThrow(TypeError);
      await expect(reg.artifactBlob('../../etc/passwd')).rejects.toThrow(RangeError);
      await expect(reg.artifactBlob('A'.repeat(64))).rejects.toThrow(/not a lower-case hex sha256/);
    });
  });

  describe(`${name}: stored bytes`, () => {
    it('a blob of several MiB streams back whole and by any range, exactly', async () => {
      const store = await backend.openStore(backend.fresh('big'));
      try {
        const f = fakeRecord('x86_64', 'big', 'big', '1.0.0', 2.5 * 2 ** 20 + 7);
        await store.insertArtifact(f.record, f.tgz);
        const blob = (await store.blob(f.record.sha256))!;
        expect(blob.sizeBytes).toBe(f.tgz.length);
        const read = async (start: number, end: number) => {
          const parts: Buffer[] = [];
          for await (const c of blob.stream(start, end)) parts.push(c as Buffer);
          return Buffer.concat(parts);
        };
        expect((await read(0, f.tgz.length - 1)).equals(f.tgz)).toBe(true);
        for (const [a, b] of [
          [0, 0],
          [2 ** 20 - 1, 2 ** 20],
          [123_456, 2_345_678],
          [f.tgz.length - 1, f.tgz.length - 1],
        ])
          expect((await read(a, b)).equals(f.tgz.subarray(a, b + 1))).toBe(true);
      } finally {
        await store.close();
      }
    });
  });

  describe(`${name}: targets and desired state`, () => {
    it('missingTargets lists the devices without an artifact; requireTargets refuses listing them', async () => {
      const { x86, wasm } = artifacts();
      const reg = await open(backend.fresh('targets'));
      await reg.pushArtifact(x86.dir);
      await reg.pushArtifact(wasm.dir);
      const fleet = [
        { deviceId: 'cam-1', target: 'x86_64' },
        { deviceId: 'pi-1', target: 'arm64' },
        { deviceId: 'pi-2', target: 'arm64' },
        { deviceId: 'web-1', target: 'wasm' },
        { deviceId: 'gpu-1', target: 'gpu-cuda' },
      ];
      expect(await reg.missingTargets('cnn', '1.0.0', fleet)).toEqual([fleet[1], fleet[2], fleet[4]]);
      expect(await reg.missingTargets('cnn', '1.0.0', ['x86_64', 'wasm'])).toEqual([]);
      expect(await reg.missingTargets('cnn', '7.0.0', ['x86_64'])).toEqual([{ target: 'x86_64' }]);
      await expect(reg.requireTargets('cnn', '1.0.0', [fleet[0], fleet[3]])).resolves.toBeUndefined();
      const err = await caught(() => reg.requireTargets('cnn', '1.0.0', fleet));
      expect(err.code).toBe('NO_ARTIFACT');
      expect(err.message).toContain("target 'arm64': pi-1, pi-2");
      expect(err.message).toContain("target 'gpu-cuda': gpu-1");
      expect(err.message).toContain('(it has: wasm, x86_64)');
    });

    it("desiredEntryFor gives the URL, sha256, size and signer of the target's artifact", async () => {
      const { wasm } = artifacts();
      const reg = await open(backend.fresh('desired'));
      const a = (await reg.pushArtifact(wasm.tgz)).artifact;
      const entry = await reg.desiredEntryFor('cnn', '1.0.0', 'wasm', 'http://cloud.example:8080/');
      expect(DesiredModelSchema.parse(entry)).toEqual(entry);
      expect(entry).toEqual({
        version: '1.0.0',
        artifact: {
          url: `http://cloud.example:8080/artifacts/${a.sha256}.tgz`,
          sha256: a.sha256,
          sizeBytes: a.sizeBytes,
          signature: { algorithm: 'ed25519', keyId: wasm.keyId },
        },
      });
      expect((await caught(() => reg.desiredEntryFor('cnn', '1.0.0', 'x86_64', 'http://x'))).code).toBe('NO_ARTIFACT');
    });
  });

  describe(`${name}: several instances on one registry`, () => {
    it("each sees the other's pushes, and serves the other's artifact bytes over HTTP (ranges too)", async () => {
      const { x86, wasm } = artifacts();
      const at = backend.fresh('shared');
      const a = await open(at);
      const b = await open(at);
      const pushed = (await a.pushArtifact(x86.dir)).artifact;
      expect(await b.artifactFor('cnn', '1.0.0', 'x86_64')).toEqual(pushed);
      expect(await b.pushArtifact(x86.tgz)).toEqual({ artifact: pushed, created: false });
      const w = (await b.pushArtifact(wasm.dir)).artifact;
      expect((await a.listVersions('cnn'))[0].targets).toEqual(['wasm', 'x86_64']);
      expect((await a.desiredEntryFor('cnn', '1.0.0', 'wasm', 'http://a')).artifact.sha256).toBe(w.sha256);

      const srv = await startArtifactServer(b);
      try {
        const tgz = readFileSync(x86.tgz);
        const url = `${srv.url}/artifacts/${pushed.sha256}.tgz`;
        const all = await fetch(url);
        expect(all.status).toBe(200);
        expect(Buffer.from(await all.arrayBuffer()).equals(tgz)).toBe(true);
        const part = await fetch(url, { headers: { range: 'bytes=100-' } });
        expect(part.status).toBe(206);
        expect(part.headers.get('content-range')).toBe(`bytes 100-${tgz.length - 1}/${tgz.length}`);
        expect(Buffer.from(await part.arrayBuffer()).equals(tgz.subarray(100))).toBe(true);
        expect((await fetch(`${srv.url}/artifacts/${'0'.repeat(64)}.tgz`)).status).toBe(404);
      } finally {
        await srv.close();
      }
    });

    it('racing pushes of two different artifacts for one (model, version, target): exactly one wins', async () => {
      const { x86, other } = artifacts();
      const at = backend.fresh('race');
      const regs = [await open(at), await open(at), await open(at)];
      const tries = regs.flatMap((r) => [r.pushArtifact(x86.dir), r.pushArtifact(other.dir)]);
      const results = await Promise.allSettled(tries);
      const created = results.filter((r) => r.status === 'fulfilled' && r.value.created);
      expect(created).toHaveLength(1);
      const winner = (created[0] as PromiseFulfilledResult<{ artifact: ArtifactRecord }>).value.artifact;
      for (const r of results) {
        if (r.status === 'fulfilled') expect(r.value.artifact).toEqual(winner);
        else expect((r.reason as KilnError).code).toBe('ARTIFACT_CONFLICT');
      }
      // Three pushes of each: the winner's three succeed (one created, two same), the loser's three are refused.
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(3);
      for (const r of regs) expect(await r.artifactFor('cnn', '1.0.0', 'x86_64')).toEqual(winner);
    });

    it("the store itself refuses the loser of a race (the database's constraint, not an earlier read)", async () => {
      const at = backend.fresh('store-race');
      const stores = [await backend.openStore(at), await backend.openStore(at)];
      try {
        const fakes = Array.from({ length: 8 }, (_, i) => fakeRecord('x86_64', `manifest ${i % 4}`));
        const outcomes = await Promise.all(fakes.map((f, i) => stores[i % 2].insertArtifact(f.record, f.tgz)));
        const won = outcomes.filter((o) => o.kind === 'created');
        expect(won).toHaveLength(1);
        const winner = won[0].kind === 'created' ? won[0].record : undefined;
        // Every record with the winner's manifest is 'same', every other one a 'conflict' naming the winner.
        outcomes.forEach((o, i) => {
          if (o.kind === 'created') return;
          expect(o.kind).toBe(fakes[i].record.manifestSha256 === winner!.manifestSha256 ? 'same' : 'conflict');
          expect(o.kind === 'same' ? o.record : o.existing).toEqual(winner);
        });
        for (const s of stores) expect(await s.artifactsOf('race', '1.0.0')).toEqual([winner]);
        expect((await stores[1].blob(winner!.sha256))?.sizeBytes).toBe(3000);
        expect((await stores[0].versions('race')).map((v) => v.targets)).toEqual([['x86_64']]);
      } finally {
        for (const s of stores) await s.close();
      }
    });
  });
}
