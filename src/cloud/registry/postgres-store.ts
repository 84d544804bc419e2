/**
 * The registry store on PostgreSQL, for several cloud instances sharing one registry. The only module
 * that imports `pg` (loaded only when a database URL is given).
 *
 * The artifacts' bytes live in the database too (model_blobs, bytea keyed by sha256): whichever
 * instance received a push, every instance can serve the artifact, with no shared filesystem or
 * object store to run beside it. Artifacts are small (a model of a few MB, well under bytea's 1 GB)
 * and written once; `data` is stored EXTERNAL (uncompressed — a .tgz does not compress) so a range
 * request reads only its slice, and downloads stream in CHUNK-sized slices rather than whole blobs.
 *
 * The tables mirror SQLite's (db.ts) plus model_blobs, in one schema (default `public`). They are
 * created on open inside an advisory lock, so two instances starting together cannot trip over each
 * other's CREATE TABLE. The invariant "one artifact per (model, version, target)" is the primary key:
 * a push inserts with ON CONFLICT DO NOTHING, so of two instances racing, the second waits for the
 * first's transaction and then sees its row.
 */
import { Readable } from 'node:stream';
import pg from 'pg';
import { KilnError } from '../../errors.js';
import { checkDatabaseUrl, redactUrl } from './database-url.js';
import type { InsertOutcome, RegistryStore, StoredBlob } from './store.js';
import type { ArtifactRecord, ModelRecord, VersionRecord } from './types.js';

/** Bytes per query when streaming a blob: enough to keep a download busy, small enough to hold many at once. */
const CHUNK = 1 << 20;
const TABLES = ['models', 'model_versions', 'model_blobs', 'model_artifacts'] as const;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface PostgresStoreOptions {
  /**
   * postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (libpq's URL form; PG* variables fill in what it
   * leaves out), optionally with `?schema=NAME` (taken off before connecting, as Prisma does).
   */
  url: string;
  /** The schema holding the registry's tables (created when missing). @default the URL's `schema`, else 'public' */
  schema?: string;
  /** How long to wait for a connection before failing. @default 10000 */
  connectTimeoutMs?: number;
}

/** A pg failure as a KilnError saying what was tried, where, and what to check. */
export function databaseError(err: unknown, where: string, doing: string): KilnError {
  if (err instanceof KilnError) return err;
  const e = err as { code?: string; message?: string };
  // Node reports a host with several addresses (localhost: ::1 and 127.0.0.1) refusing as an AggregateError with no message of its own.
  const msg = e.message || (err instanceof AggregateError ? err.errors.map((x: Error) => x.message).join('; ') : String(err));
  const head = `cannot ${doing}: PostgreSQL at ${where}`;
  const net = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET'];
  if ((e.code && net.includes(e.code)) || /timeout|terminated unexpectedly/i.test(msg)) {
    return new KilnError('DATABASE', `${head} cannot be reached (${msg})`, {
      cause: err,
      hint: 'check the host and port in the URL, and that PostgreSQL is running and accepts TCP connections there',
    });
  }
  if (e.code === '28P01' || e.code === '28000' || /password|SASL|authentication/i.test(msg)) {
    return new KilnError('DATABASE', `${head} refused the login (${msg})`, {
      cause: err,
      hint: 'check the user and password in the URL (or PGPASSWORD), and pg_hba.conf on the server',
    });
  }
  if (e.code === '3D000')
    return new KilnError('DATABASE', `${head}: ${msg}`, { cause: err, hint: 'create it (createdb NAME) or name an existing database in the URL' });
  if (e.code === '42501')
    return new KilnError('DATABASE', `${head}: ${msg}`, {
      cause: err,
      hint: "grant the URL's user CREATE on the database (or schema), or create the registry's tables once as a user that may",
    });
  return new KilnError('DATABASE', `${head} failed: ${msg}${e.code ? ` (SQLSTATE ${e.code})` : ''}`, { cause: err });
}

/** Connect, create the schema when missing, and return the store. KilnError('BAD_DATABASE_URL' | 'DATABASE') when that fails. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresRegistryStore> {
  checkDatabaseUrl(options.url);
  const u = new URL(options.url);
  const schema = options.schema ?? u.searchParams.get('schema') ?? 'public';
  u.searchParams.delete('schema');
  if (!SCHEMA_NAME.test(schema))
    throw new KilnError('BAD_DATABASE_URL', `registry schema '${schema}': expected a lower-case SQL name (a-z, 0-9, _; at most 63 characters)`);
  const where = redactUrl(options.url)!;
  const pool = new pg.Pool({
    connectionString: u.toString(),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: 'kiln-cloud registry',
  });
  // An idle pooled connection that dies (server restart) emits 'error' on the pool, which would end the
  // process unhandled; the pool drops it, and the next query opens a new one or reports the failure.
  pool.on('error', () => {});
  try {
    await createSchema(pool, schema);
  } catch (err) {
    await pool.end().catch(() => {});
    throw databaseError(err, where, 'open the model registry');
  }
  return new PostgresRegistryStore(pool, schema, where);
}

async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  const s = pg.escapeIdentifier(schema);
  const ready = async (c: pg.PoolClient) =>
    (await c.query<{ n: number }>(`SELECT count(to_regclass(t)) :: int AS n FROM unnest($1 :: text[]) AS t`, [TABLES.map((t) => `${s}.${t}`)])).rows[0].n ===
    TABLES.length;
  const client = await pool.connect();
  try {
    if (await ready(client)) return; // the usual start: nothing to create, no lock to wait for
    await client.query('BEGIN');
    try {
      // Two instances starting on an empty database: one creates, the other waits here and then finds the tables.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`kiln model registry schema ${schema}`]);
      if (!(await ready(client))) {
        if ((await client.query('SELECT to_regnamespace($1) AS ns', [s])).rows[0].ns === null) await client.query(`CREATE SCHEMA ${s}`);
        await client.query(`
          CREATE TABLE IF NOT EXISTS ${s}.models (
            name TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
          );
          CREATE TABLE IF NOT EXISTS ${s}.model_versions (
            model TEXT NOT NULL REFERENCES ${s}.models(name),
            version TEXT NOT NULL,
            created_at TEXT NOT NULL,
            seq BIGINT GENERATED ALWAYS AS IDENTITY,
            PRIMARY KEY (model, version)
          );
          CREATE TABLE IF NOT EXISTS ${s}.model_blobs (
            sha256 TEXT PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            size_bytes BIGINT NOT NULL,
            data BYTEA NOT NULL,
            CHECK (octet_length(data) = size_bytes)
          );
          ALTER TABLE ${s}.model_blobs ALTER COLUMN data SET STORAGE EXTERNAL;
          CREATE TABLE IF NOT EXISTS ${s}.model_artifacts (
            model TEXT NOT NULL,
            version TEXT NOT NULL,
            target TEXT NOT NULL,
            sha256 TEXT NOT NULL REFERENCES ${s}.model_blobs(sha256) DEFERRABLE INITIALLY DEFERRED,
            manifest_sha256 TEXT NOT NULL,
            record TEXT NOT NULL,
            pushed_at TEXT NOT NULL,
            PRIMARY KEY (model, version, target),
            FOREIGN KEY (model, version) REFERENCES ${s}.model_versions(model, version)
          );
          CREATE INDEX IF NOT EXISTS model_artifacts_sha ON ${s}.model_artifacts(sha256);
        `);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  } finally {
    client.release();
  }
}

export class PostgresRegistryStore implements RegistryStore {
  private readonly s: string;
  private closed = false;

  /** Use openPostgresStore, which creates the schema first. */
  constructor(
    private readonly pool: pg.Pool,
    schema: string,
    readonly location: string,
  ) {
    this.s = pg.escapeIdentifier(schema);
  }

  private async query<R extends pg.QueryResultRow>(doing: string, text: string, values: unknown[]): Promise<R[]> {
    if (this.closed) throw new KilnError('CLOSED', `the model registry at ${this.location} is closed`);
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (err) {
      throw databaseError(err, this.location, doing);
    }
  }

  async artifact(model: string, version: string, target: string): Promise<ArtifactRecord | undefined> {
    const rows = await this.query<{ record: string }>(
      'read the model registry',
      `SELECT record FROM ${this.s}.model_artifacts WHERE model = $1 AND version = $2 AND target = $3`,
      [model, version, target],
    );
    return rows.length ? (JSON.parse(rows[0].record) as ArtifactRecord) : undefined;
  }

  async artifactsOf(model: string, version: string): Promise<ArtifactRecord[]> {
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
    const rows = await this.query<{ record: string }>(
      'read the model registry',
      `SELECT record FROM ${this.s}.model_artifacts WHERE model = $1 AND version = $2 ORDER BY target COLLATE "C"`,
      [model, version],
    );
    return rows.map((r) => JSON.parse(r.record) as ArtifactRecord);
  }

  async versions(model: string): Promise<VersionRecord[]> {
    const rows = await this.query<{ version: string; created_at: string; targets: string[] }>(
      'read the model registry',
      `SELECT v.version, v.created_at, COALESCE(array_agg(a.target ORDER BY a.target COLLATE "C") FILTER (WHERE a.target IS NOT NULL), '{}') AS targets
         FROM ${this.s}.model_versions v LEFT JOIN ${this.s}.model_artifacts a ON a.model = v.model AND a.version = v.version
        WHERE v.model = $1 GROUP BY v.version, v.created_at, v.seq ORDER BY v.seq`,
      [model],
    );
    return rows.map((r) => ({ model, version: r.version, createdAt: r.created_at, targets: r.targets }));
  }

  async models(): Promise<ModelRecord[]> {
    const rows = await this.query<{ name: string; created_at: string; versions: string[] }>(
      'read the model registry',
      `SELECT m.name, m.created_at, COALESCE(array_agg(v.version ORDER BY v.seq) FILTER (WHERE v.version IS NOT NULL), '{}') AS versions
         FROM ${this.s}.models m LEFT JOIN ${this.s}.model_versions v ON v.model = m.name
        GROUP BY m.name, m.created_at ORDER BY m.name COLLATE "C"`,
      [],
    );
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, versions: r.versions, latest: r.versions.at(-1) ?? null }));
  }

  async insertArtifact(record: ArtifactRecord, tgz: Uint8Array): Promise<InsertOutcome> {
    if (this.closed) throw new KilnError('CLOSED', `the model registry at ${this.location} is closed`);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw databaseError(err, this.location, `store ${record.model} ${record.version} for '${record.target}'`);
    }
    const { s } = this;
    try {
      await client.query('BEGIN');
      // Always in this order (model, version, artifact, bytes), so two pushes that wait on each other's rows cannot deadlock.
      await client.query(`INSERT INTO ${s}.models (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [record.model, record.pushedAt]);
      await client.query(`INSERT INTO ${s}.model_versions (model, version, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        record.model,
        record.version,
        record.pushedAt,
      ]);
      // A push racing this one for the same key waits here until this transaction ends, then sees its row.
      const inserted = await client.query(
        `INSERT INTO ${s}.model_artifacts (model, version, target, sha256, manifest_sha256, record, pushed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [record.model, record.version, record.target, record.sha256, record.manifestSha256, JSON.stringify(record), record.pushedAt],
      );
      if (inserted.rowCount !== 1) {
        const existing = JSON.parse(
          (
            await client.query<{ record: string }>(`SELECT record FROM ${s}.model_artifacts WHERE model = $1 AND version = $2 AND target = $3`, [
              record.model,
              record.version,
              record.target,
            ])
          ).rows[0].record,
        ) as ArtifactRecord;
        await client.query('ROLLBACK');
        return existing.manifestSha256 === record.manifestSha256 ? { kind: 'same', record: existing } : { kind: 'conflict', existing };
      }
      // The bytes go last: a push that loses the race above never sends them.
      await client.query(`INSERT INTO ${s}.model_blobs (sha256, size_bytes, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        record.sha256,
        tgz.byteLength,
        Buffer.from(tgz.buffer, tgz.byteOffset, tgz.byteLength),
      ]);
      await client.query('COMMIT');
      return { kind: 'created', record };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw databaseError(err, this.location, `store ${record.model} ${record.version} for '${record.target}'`);
    } finally {
      client.release();
    }
  }

  async blob(sha256: string): Promise<StoredBlob | undefined> {
    const rows = await this.query<{ size_bytes: string }>('read an artifact', `SELECT size_bytes FROM ${this.s}.model_blobs WHERE sha256 = $1`, [sha256]);
    if (!rows.length) return undefined;
    const sizeBytes = Number(rows[0].size_bytes);
    return { sizeBytes, stream: (start, end) => Readable.from(this.chunks(sha256, start, end)) };
  }

  /** Bytes start..end (inclusive) of a blob, CHUNK at a time. */
  private async *chunks(sha256: string, start: number, end: number): AsyncGenerator<Buffer> {
    for (let at = start; at <= end;) {
      const length = Math.min(CHUNK, end - at + 1);
      // substring counts from 1.
      const rows = await this.query<{ chunk: Buffer | null }>(
        'read an artifact',
        `SELECT substring(data FROM $2 FOR $3) AS chunk FROM ${this.s}.model_blobs WHERE sha256 = $1`,
        [sha256, at + 1, length],
      );
      const chunk = rows[0]?.chunk;
      if (!chunk || chunk.length !== length)
        throw new KilnError('DATABASE', `artifact ${sha256} in ${this.location} ended at byte ${at + (chunk?.length ?? 0)}, expected ${end + 1}`);
      yield chunk;
      at += length;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
