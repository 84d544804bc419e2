/**
 * The model registry on SQLite + a directory (the default): the shared contract
 * (registry-contract.ts), the on-disk layout kiln has always written (the database file, .tgz files
 * named by sha256 in artifacts/ beside it), and `kiln push` / `kiln cloud models list` through the CLI.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { openModelRegistry, type SqliteRegistryOptions } from '../../src/cloud/registry/index.js';
import { SqliteRegistryStore } from '../../src/cloud/registry/sqlite-store.js';
import { sha256Hex } from '../../src/protocol/artifact.js';
import { caught, registryContract } from './registry-contract.js';
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

let n = 0;
registryContract(
  'SQLite',
  {
    fresh: (label) => ({ dbPath: join(root, `${label}-${++n}`, 'cloud.db') }),
    openStore: async (at) => {
      const { dbPath } = at as SqliteRegistryOptions;
      return new SqliteRegistryStore(dbPath, join(dbPath, '..', 'artifacts'));
    },
    cleanup: async () => {}, // root goes in afterAll
  },
  () => ({ root, x86, wasm, other }),
);

describe('SQLite: on disk', () => {
  it('keeps each .tgz as artifacts/SHA256.tgz beside the database, and nothing for a refused push', async () => {
    const dbPath = join(root, 'disk', 'cloud.db');
    const dir = join(root, 'disk', 'artifacts');
    const reg = await openModelRegistry({ dbPath });
    try {
      expect(reg.location).toBe(dbPath);
      const first = (await reg.pushArtifact(x86.dir)).artifact;
      expect(readdirSync(dir)).toEqual([`${first.sha256}.tgz`]);
      expect(readFileSync(join(dir, `${first.sha256}.tgz`)).equals(readFileSync(x86.tgz))).toBe(true);
      expect((await caught(() => reg.pushArtifact(other.tgz))).code).toBe('ARTIFACT_CONFLICT');
      await reg.pushArtifact(x86.tgz);
      expect(readdirSync(dir)).toEqual([`${first.sha256}.tgz`]);
      expect(existsSync(dbPath)).toBe(true);
    } finally {
      await reg.close();
    }
    // A separate artifact directory, when asked for.
    const elsewhere = join(root, 'disk-elsewhere');
    const reg2 = await openModelRegistry({ dbPath: join(root, 'disk2', 'cloud.db'), artifactDir: elsewhere });
    try {
      const a = (await reg2.pushArtifact(wasm.dir)).artifact;
      expect(readdirSync(elsewhere)).toEqual([`${a.sha256}.tgz`]);
      expect(sha256Hex(readFileSync(join(elsewhere, `${a.sha256}.tgz`)))).toBe(a.sha256);
    } finally {
      await reg2.close();
    }
  });

  it('BAD CALL: openModelRegistry needs exactly one of dbPath and databaseUrl', async () => {
    await expect(openModelRegistry({} as SqliteRegistryOptions)).rejects.toThrow(/exactly one of options\.dbPath .* and options\.databaseUrl .*; got neither/);
    await expect(openModelRegistry({ dbPath: 'x.db', databaseUrl: 'postgres://h/db' } as unknown as SqliteRegistryOptions)).rejects.toThrow(/got both/);
    await expect(openModelRegistry({ dbPath: '' })).rejects.toThrow(TypeError);
    await expect(openModelRegistry({ dbPath: ':memory:' })).rejects.toThrow(/in-memory database needs options\.artifactDir/);
    await expect(openModelRegistry(undefined as unknown as SqliteRegistryOptions)).rejects.toThrow(TypeError);
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
    const lj = JSON.parse((await kiln('--json', 'cloud', 'models', 'list', '--db', db)).out) as {
      name: string;
      versions: { version: string; artifacts: { target: string }[] }[];
    }[];
    expect(lj.map((m) => m.name)).toEqual(['cnn']);
    expect(lj[0].versions[0].artifacts.map((a) => a.target)).toEqual(['wasm', 'x86_64']);
    expect((await kiln('cloud', 'models', 'list', '--db', join(root, 'none', 'cloud.db'))).out).toMatch(/^no models/);
    expect(existsSync(join(root, 'none'))).toBe(false);
  });

  it('BAD CALL: --db and --database-url together are refused with exit 2', async () => {
    const r = await kiln('push', x86.dir, '--db', join(root, 'both', 'cloud.db'), '--database-url', 'postgres://127.0.0.1/kiln');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--db and --database-url: give one/);
  });
});
