/**
 * The model registry on PostgreSQL: the shared contract (registry-contract.ts) against a real server,
 * each test in a fresh schema of this run (dropped after, so parallel files and earlier runs never
 * meet), plus what only PostgreSQL has: instances starting together on an empty database, two clouds
 * (`startCloud`) sharing one registry, and the CLI with --database-url / KILN_DATABASE_URL.
 *
 * Needs KILN_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test; .ci/run sets it) and
 * skips, naming it, without. The refusals that need no server (a bad URL, nothing listening, and
 * --database-url on the CLI) run always.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { startCloud, type RunningCloud } from '../../src/cloud/admin.js';
import { openModelRegistry, type PostgresRegistryOptions } from '../../src/cloud/registry/index.js';
import { openPostgresStore } from '../../src/cloud/registry/postgres-store.js';
import { KilnError } from '../../src/errors.js';
import { caught, registryContract } from './registry-contract.js';
import { build, tempDir, type Built } from './registry-helpers.js';

const URL_ = process.env.KILN_TEST_DATABASE_URL;
/** Every schema this run made starts with this; afterAll drops them. */
const RUN = `kiln_test_${process.pid}_${randomBytes(3).toString('hex')}`;
const schemas = new Set<string>();
let n = 0;
const freshSchema = (label: string) => {
  const s = `${RUN}_${++n}_${label.replace(/[^a-z0-9]/g, '_')}`.slice(0, 63);
  schemas.add(s);
  return s;
};

async function dropSchemas(): Promise<void> {
  if (!URL_ || !schemas.size) return;
  const client = new pg.Client({ connectionString: URL_ });
  await client.connect();
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(s)} CASCADE`);
  } finally {
    await client.end();
  }
}

let root: string;
let x86: Built;
let wasm: Built;
let other: Built;

async function kiln(argv: string[], env: Record<string, string> = {}) {
  const io = captureIo({ cwd: root, env });
  const code = await runMain(argv, io);
  return { code, out: io.out, err: io.err };
}

beforeAll(async () => {
  root = tempDir('kiln-registry-pg-');
  if (!URL_) return;
  x86 = await build(root, 'cnn', '1.0.0', 'x86_64', 1);
  wasm = await build(root, 'cnn', '1.0.0', 'wasm', 1);
  other = await build(root, 'cnn', '1.0.0', 'x86_64', 2);
}, 180_000);
afterAll(async () => {
  await dropSchemas();
  rmSync(root, { recursive: true, force: true });
});

describe('PostgreSQL: refusals that need no server', () => {
  it('BAD CALL: a URL that is not postgres:// is BAD_DATABASE_URL, and the password never shows', async () => {
    for (const [url, message] of [
      ['mysql://kiln:s3cret@db/kiln', /database URL 'mysql:\/\/kiln:\*\*\*@db\/kiln': scheme 'mysql' is not supported: expected postgres:\/\/USER/],
      ['not a url :s3cret@', /is not a URL: expected postgres:\/\//],
      ['', /database URL: expected postgres:\/\/.*got an empty string/],
    ] as const) {
      const err = await caught(() => openModelRegistry({ databaseUrl: url }));
      expect(err).toBeInstanceOf(KilnError);
      expect(err.code).toBe('BAD_DATABASE_URL');
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('s3cret');
    }
    await expect(openModelRegistry({ databaseUrl: 'postgres://127.0.0.1/x', schema: 'Bad-Name' })).rejects.toThrow(
      /registry schema 'Bad-Name': expected a lower-case SQL name/,
    );
  });

  it('BAD CALL: nothing listening is DATABASE "cannot be reached", saying where (without the password) and what to check', async () => {
    const err = await caught(() => openModelRegistry({ databaseUrl: 'postgres://kiln:s3cret@127.0.0.1:1/kiln', connectTimeoutMs: 3000 }));
    expect(err).toBeInstanceOf(KilnError);
    expect(err.code).toBe('DATABASE');
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(
      /^cannot open the model registry: PostgreSQL at postgres:\/\/kiln:\*\*\*@127\.0\.0\.1:1\/kiln cannot be reached \(.*ECONNREFUSED.*\) — check the host and port/,
    );
    expect(err.message).not.toContain('s3cret');
  });

  it('the CLI: a bad or unreachable --database-url / KILN_DATABASE_URL is one line on stderr, no stack', async () => {
    const bad = await kiln(['push', join(root, 'whatever'), '--database-url', 'mysql://h/db']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/scheme 'mysql' is not supported/);
    expect(bad.err).not.toMatch(/\n\s+at /);
    // An artifact that fails its checks is refused before any connection; a good one needs the server.
    const down = await kiln(['cloud', 'models', 'list'], { KILN_DATABASE_URL: 'postgres://127.0.0.1:1/kiln' });
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/PostgreSQL at postgres:\/\/127\.0\.0\.1:1\/kiln cannot be reached/);
    expect(down.err).not.toMatch(/\n\s+at /);
  });
});

describe.skipIf(!URL_)('PostgreSQL (set KILN_TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB to run)', () => {
  registryContract(
    'PostgreSQL',
    {
      fresh: (label) => ({ databaseUrl: URL_!, schema: freshSchema(label) }),
      openStore: (at) => openPostgresStore({ url: (at as PostgresRegistryOptions).databaseUrl, schema: (at as PostgresRegistryOptions).schema }),
      cleanup: async () => {}, // afterAll drops every schema of the run
    },
    () => ({ root, x86, wasm, other }),
  );

  it('instances starting at once on an empty database all come up on one set of tables', async () => {
    const at = { databaseUrl: URL_!, schema: freshSchema('start') };
    const regs = await Promise.all(Array.from({ length: 5 }, () => openModelRegistry(at)));
    try {
      await regs[3].pushArtifact(x86.dir);
      for (const r of regs) expect((await r.listModels()).map((m) => m.name)).toEqual(['cnn']);
    } finally {
      for (const r of regs) await r.close();
    }
  });

  it('the loser of a conflicting push stores no bytes; ?schema= in the URL picks the schema', async () => {
    const schema = freshSchema('url');
    const u = new URL(URL_!);
    u.searchParams.set('schema', schema);
    const reg = await openModelRegistry({ databaseUrl: u.toString() });
    try {
      expect(reg.location).toContain(`schema=${schema}`);
      await reg.pushArtifact(x86.dir);
      await expect(reg.pushArtifact(other.dir)).rejects.toMatchObject({ code: 'ARTIFACT_CONFLICT' });
      const client = new pg.Client({ connectionString: URL_ });
      await client.connect();
      try {
        const rows = (await client.query(`SELECT count(*) :: int AS n FROM ${pg.escapeIdentifier(schema)}.model_blobs`)).rows;
        expect(rows[0].n).toBe(1);
      } finally {
        await client.end();
      }
    } finally {
      await reg.close();
    }
  });

  it('BAD CALL: an unknown role or database is DATABASE with what to do', async () => {
    const u = new URL(URL_!);
    u.username = 'kiln_no_such_role';
    const role = await caught(() => openModelRegistry({ databaseUrl: u.toString(), schema: freshSchema('role') }));
    expect(role.code).toBe('DATABASE');
    expect(role.message).toMatch(/refused the login \(.*kiln_no_such_role.*\) — check the user and password/);
    const d = new URL(URL_!);
    d.pathname = '/kiln_no_such_database';
    const db = await caught(() => openModelRegistry({ databaseUrl: d.toString() }));
    expect(db.code).toBe('DATABASE');
    expect(db.message).toMatch(/database "kiln_no_such_database" does not exist — create it/);
  });

  it('two clouds on one registry: a push through one is listed and downloaded through the other', async () => {
    const schema = freshSchema('clouds');
    const u = new URL(URL_!);
    u.searchParams.set('schema', schema);
    const clouds: RunningCloud[] = [];
    try {
      for (const i of [1, 2]) {
        clouds.push(
          await startCloud({
            dbPath: join(root, `cloud-${i}`, 'cloud.db'),
            port: 0,
            http: { port: 0, token: 'a-test-token-0123456789', databaseUrl: u.toString() },
          }),
        );
      }
      const [one, two] = clouds.map((c) => c.http!);
      const pushed = (await one.registry.pushArtifact(wasm.dir)).artifact;
      const auth = { authorization: 'Bearer a-test-token-0123456789' };
      const models = (await (await fetch(`${two.url}/api/models`, { headers: auth })).json()) as { models: { name: string; versions: string[] }[] };
      expect(models.models).toEqual([expect.objectContaining({ name: 'cnn', versions: ['1.0.0'] })]);
      const dl = await fetch(`${two.url}/artifacts/${pushed.sha256}.tgz`);
      expect(dl.status).toBe(200);
      expect(Buffer.from(await dl.arrayBuffer()).length).toBe(pushed.sizeBytes);
    } finally {
      for (const c of clouds) await c.close();
    }
  });

  it('the CLI: kiln push and kiln cloud models list with --database-url and KILN_DATABASE_URL', async () => {
    const u = new URL(URL_!);
    u.searchParams.set('schema', freshSchema('cli'));
    const p = await kiln(['push', x86.dir, '--database-url', u.toString()]);
    expect(p.err).toBe('');
    expect(p.code).toBe(0);
    expect(p.out).toMatch(/^pushed: cnn 1\.0\.0 for x86_64/);
    expect((await kiln(['push', wasm.tgz], { KILN_DATABASE_URL: u.toString() })).out).toMatch(/^pushed: cnn 1\.0\.0 for wasm/);
    const c = await kiln(['push', other.dir], { KILN_DATABASE_URL: u.toString() });
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/already has a different artifact for target 'x86_64'/);
    const list = await kiln(['cloud', 'models', 'list'], { KILN_DATABASE_URL: u.toString() });
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/cnn\s+1\.0\.0\s+wasm \(none\), x86_64 \(none\)/);
  });
});
