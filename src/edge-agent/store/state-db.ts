/**
 * The agent's state database: one SQLite file (WAL, synchronous=FULL) in the data dir holding the
 * installed versions, which one is current per model, the outbox, and small counters. The only
 * module that opens it (through src/sqlite.ts, the one module that loads better-sqlite3).
 *
 * Durability rule: a version becomes current in one transaction (`promote`), after its files are
 * fsync'd in their final place and it has passed probation. Everything before that commit is
 * undone by `recover` after a crash.
 */
import { KilnError } from '../../errors.js';
import { Database, type SqliteDatabase } from '../../sqlite.js';

export type InstallState = 'staged' | 'good' | 'failed' | 'removed';

export interface InstallRecord {
  id: number;
  model: string;
  version: string;
  /** sha256 of manifest.json's bytes: the identity of the artifact's content. */
  manifestSha256: string;
  /** Folder relative to the data dir. */
  dir: string;
  /** model.onnx bytes (the memory estimate for the loader). */
  sizeBytes: number;
  source: string;
  state: InstallState;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface OutboxRow {
  /** Local sequence number (order). */
  seq: number;
  /** Globally unique id the cloud de-duplicates on. */
  id: string;
  kind: string;
  createdAt: string;
  payload: unknown;
}

export type JobFormat = 'json' | 'binary' | 'ndjson';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface JobRecord {
  id: string;
  model: string;
  /** Asked-for version (null: the current one at run time), then the one that ran. */
  version: string | null;
  format: JobFormat;
  headerLength: number | null;
  inputBytes: number;
  status: JobStatus;
  /** Requests answered (ndjson: lines). */
  items: number;
  itemErrors: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

interface JobRow {
  id: string;
  model: string;
  version: string | null;
  format: JobFormat;
  header_length: number | null;
  input_bytes: number;
  status: JobStatus;
  items: number;
  item_errors: number;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const toJob = (r: JobRow): JobRecord => ({
  id: r.id,
  model: r.model,
  version: r.version,
  format: r.format,
  headerLength: r.header_length,
  inputBytes: r.input_bytes,
  status: r.status,
  items: r.items,
  itemErrors: r.item_errors,
  error: r.error,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

const SCHEMA_VERSION = 2;

const MIGRATIONS = [
  `CREATE TABLE installs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     version TEXT NOT NULL,
     manifest_sha256 TEXT NOT NULL,
     dir TEXT NOT NULL,
     size_bytes INTEGER NOT NULL,
     source TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('staged', 'good', 'failed', 'removed')),
     reason TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX installs_model ON installs (model, state);
   CREATE TABLE current (
     model TEXT PRIMARY KEY,
     install_id INTEGER NOT NULL REFERENCES installs (id),
     since TEXT NOT NULL
   );
   CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     created_at TEXT NOT NULL,
     payload TEXT NOT NULL
   );
   CREATE INDEX outbox_kind ON outbox (kind, seq);
   CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
  `CREATE TABLE jobs (
     id TEXT PRIMARY KEY,
     seq INTEGER NOT NULL UNIQUE,
     model TEXT NOT NULL,
     version TEXT,
     format TEXT NOT NULL CHECK (format IN ('json', 'binary', 'ndjson')),
     header_length INTEGER,
     input_bytes INTEGER NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
     items INTEGER NOT NULL DEFAULT 0,
     item_errors INTEGER NOT NULL DEFAULT 0,
     error TEXT,
     created_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT
   );
   CREATE INDEX jobs_status ON jobs (status, seq);`,
];

interface Row {
  id: number;
  model: string;
  version: string;
  manifest_sha256: string;
  dir: string;
  size_bytes: number;
  source: string;
  state: InstallState;
  reason: string | null;
  created_at: string;
  updated_at: string;
}

const toRecord = (r: Row): InstallRecord => ({
  id: r.id,
  model: r.model,
  version: r.version,
  manifestSha256: r.manifest_sha256,
  dir: r.dir,
  sizeBytes: r.size_bytes,
  source: r.source,
  state: r.state,
  reason: r.reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface StateDbOptions {
  /** Open without creating or migrating (for `kiln agent status`). @default false */
  readonly?: boolean;
  /** Clock, for tests. @default () => new Date() */
  now?: () => Date;
}

export class StateDb {
  private readonly db: SqliteDatabase;
  private readonly now: () => string;

  constructor(
    readonly path: string,
    options: StateDbOptions = {},
  ) {
    const clock = options.now ?? (() => new Date());
    this.now = () => clock().toISOString();
    try {
      this.db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
      if (!options.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = FULL');
        this.db.pragma('foreign_keys = ON');
        this.migrate();
      }
      this.db.pragma('busy_timeout = 5000');
    } catch (err) {
      throw new KilnError('AGENT_STATE', `cannot open the agent's state database ${path}: ${(err as Error).message}`, {
        hint: 'check the data dir is writable; if the file is corrupt, move it away and reinstall the models',
        cause: err,
      });
    }
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new KilnError('AGENT_STATE', `its schema version ${version} is newer than this kiln reads (${SCHEMA_VERSION})`);
    }
    for (let v = version; v < SCHEMA_VERSION; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Run `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ───────────── installs ─────────────

  addInstall(r: Omit<InstallRecord, 'id' | 'state' | 'reason' | 'createdAt' | 'updatedAt'>): InstallRecord {
    const now = this.now();
    const info = this.db
      .prepare(
        `INSERT INTO installs (model, version, manifest_sha256, dir, size_bytes, source, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'staged', ?, ?)`,
      )
      .run(r.model, r.version, r.manifestSha256, r.dir, r.sizeBytes, r.source, now, now);
    return this.install(Number(info.lastInsertRowid))!;
  }

  install(id: number): InstallRecord | undefined {
    const row = this.db.prepare(`SELECT * FROM installs WHERE id = ?`).get(id) as Row | undefined;
    return row && toRecord(row);
  }

  setInstallState(id: number, state: InstallState, reason: string | null = null): void {
    this.db.prepare(`UPDATE installs SET state = ?, reason = ?, updated_at = ? WHERE id = ?`).run(state, reason, this.now(), id);
  }

  /** Installs of a model (or all), newest first; by default only the ones still on disk (staged, good). */
  installs(filter: { model?: string; states?: readonly InstallState[] } = {}): InstallRecord[] {
    const states = filter.states ?? ['staged', 'good'];
    const params: unknown[] = [...states];
    let sql = `SELECT * FROM installs WHERE state IN (${states.map(() => '?').join(', ')})`;
    if (filter.model !== undefined) {
      sql += ' AND model = ?';
      params.push(filter.model);
    }
    sql += ' ORDER BY id DESC';
    return (this.db.prepare(sql).all(...params) as Row[]).map(toRecord);
  }

  /** A good install of this content, if any. */
  goodInstallBySha(model: string, manifestSha256: string): InstallRecord | undefined {
    const row = this.db
      .prepare(`SELECT * FROM installs WHERE model = ? AND manifest_sha256 = ? AND state = 'good' ORDER BY id DESC LIMIT 1`)
      .get(model, manifestSha256) as Row | undefined;
    return row && toRecord(row);
  }

  // ───────────── current ─────────────

  /** Make an install good and current, in one transaction. Returns the install it replaced. */
  promote(id: number): InstallRecord | undefined {
    return this.transaction(() => {
      const rec = this.install(id);
      if (!rec) throw new KilnError('INTERNAL', `promote: no install ${id}`);
      const before = this.current(rec.model);
      this.setInstallState(id, 'good');
      this.db
        .prepare(
          `INSERT INTO current (model, install_id, since) VALUES (?, ?, ?) ON CONFLICT (model) DO UPDATE SET install_id = excluded.install_id, since = excluded.since`,
        )
        .run(rec.model, id, this.now());
      return before?.id === id ? undefined : before;
    });
  }

  current(model: string): InstallRecord | undefined {
    const row = this.db.prepare(`SELECT i.* FROM current c JOIN installs i ON i.id = c.install_id WHERE c.model = ?`).get(model) as Row | undefined;
    return row && toRecord(row);
  }

  /** Every model's current install, by model name. */
  currentAll(): InstallRecord[] {
    return (this.db.prepare(`SELECT i.* FROM current c JOIN installs i ON i.id = c.install_id ORDER BY c.model`).all() as Row[]).map(toRecord);
  }

  setCurrent(model: string, id: number | undefined): void {
    if (id === undefined) this.db.prepare(`DELETE FROM current WHERE model = ?`).run(model);
    else {
      this.db
        .prepare(
          `INSERT INTO current (model, install_id, since) VALUES (?, ?, ?) ON CONFLICT (model) DO UPDATE SET install_id = excluded.install_id, since = excluded.since`,
        )
        .run(model, id, this.now());
    }
  }

  // ───────────── outbox ─────────────

  outboxAdd(id: string, kind: string, payload: unknown, createdAt = this.now()): number {
    return Number(
      this.db.prepare(`INSERT INTO outbox (id, kind, created_at, payload) VALUES (?, ?, ?, ?)`).run(id, kind, createdAt, JSON.stringify(payload))
        .lastInsertRowid,
    );
  }

  outboxCount(kind?: string): number {
    const row = (
      kind === undefined
        ? this.db.prepare(`SELECT count(*) AS n FROM outbox`).get()
        : this.db.prepare(`SELECT count(*) AS n FROM outbox WHERE kind = ?`).get(kind)
    ) as { n: number };
    return row.n;
  }

  /** Oldest first. */
  outboxPeek(limit: number, kind?: string): OutboxRow[] {
    const rows = (
      kind === undefined
        ? this.db.prepare(`SELECT * FROM outbox ORDER BY seq LIMIT ?`).all(limit)
        : this.db.prepare(`SELECT * FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?`).all(kind, limit)
    ) as { seq: number; id: string; kind: string; created_at: string; payload: string }[];
    return rows.map((r) => ({ seq: r.seq, id: r.id, kind: r.kind, createdAt: r.created_at, payload: JSON.parse(r.payload) }));
  }

  outboxDelete(ids: readonly string[]): number {
    const del = this.db.prepare(`DELETE FROM outbox WHERE id = ?`);
    return this.transaction(() => ids.reduce((n, id) => n + del.run(id).changes, 0));
  }

  /** Delete the `count` oldest rows of `kind` (or of any kind); returns how many went, by kind. */
  outboxDropOldest(count: number, kind?: string): Record<string, number> {
    if (count <= 0) return {};
    const rows = (
      kind === undefined
        ? this.db.prepare(`SELECT seq, kind FROM outbox ORDER BY seq LIMIT ?`).all(count)
        : this.db.prepare(`SELECT seq, kind FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?`).all(kind, count)
    ) as { seq: number; kind: string }[];
    const del = this.db.prepare(`DELETE FROM outbox WHERE seq = ?`);
    const dropped: Record<string, number> = {};
    for (const r of rows) {
      del.run(r.seq);
      dropped[r.kind] = (dropped[r.kind] ?? 0) + 1;
    }
    return dropped;
  }

  // ───────────── async jobs ─────────────

  addJob(j: { id: string; model: string; version: string | null; format: JobFormat; headerLength: number | null; inputBytes: number }): JobRecord {
    const seq = (this.db.prepare(`SELECT coalesce(max(seq), 0) + 1 AS n FROM jobs`).get() as { n: number }).n;
    this.db
      .prepare(`INSERT INTO jobs (id, seq, model, version, format, header_length, input_bytes, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)`)
      .run(j.id, seq, j.model, j.version, j.format, j.headerLength, j.inputBytes, this.now());
    return this.job(j.id)!;
  }

  job(id: string): JobRecord | undefined {
    const r = this.db.prepare(`SELECT * FROM jobs WHERE id = ?`).get(id) as JobRow | undefined;
    return r && toJob(r);
  }

  /** Oldest queued job, if any. */
  nextJob(): JobRecord | undefined {
    const r = this.db.prepare(`SELECT * FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1`).get() as JobRow | undefined;
    return r && toJob(r);
  }

  jobs(limit = 100): JobRecord[] {
    return (this.db.prepare(`SELECT * FROM jobs ORDER BY seq DESC LIMIT ?`).all(limit) as JobRow[]).map(toJob);
  }

  startJob(id: string, version: string): void {
    this.db
      .prepare(`UPDATE jobs SET status = 'running', version = ?, started_at = ?, items = 0, item_errors = 0, error = NULL WHERE id = ?`)
      .run(version, this.now(), id);
  }

  jobProgress(id: string, items: number, itemErrors: number): void {
    this.db.prepare(`UPDATE jobs SET items = ?, item_errors = ? WHERE id = ?`).run(items, itemErrors, id);
  }

  finishJob(id: string, status: 'succeeded' | 'failed', error: string | null = null): void {
    this.db.prepare(`UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?`).run(status, error, this.now(), id);
  }

  /** Jobs left running by a stopped agent go back to the queue. Returns how many. */
  requeueRunningJobs(): number {
    return this.db.prepare(`UPDATE jobs SET status = 'queued', started_at = NULL WHERE status = 'running'`).run().changes;
  }

  /** Jobs by status. */
  jobCounts(): Record<JobStatus, number> {
    const counts: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 };
    for (const r of this.db.prepare(`SELECT status, count(*) AS n FROM jobs GROUP BY status`).all() as { status: JobStatus; n: number }[])
      counts[r.status] = r.n;
    return counts;
  }

  deleteJob(id: string): boolean {
    return this.db.prepare(`DELETE FROM jobs WHERE id = ?`).run(id).changes > 0;
  }

  // ───────────── counters ─────────────

  addCounter(name: string, delta: number): void {
    this.db.prepare(`INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`).run(name, delta);
  }

  counter(name: string): number {
    return (this.db.prepare(`SELECT value FROM counters WHERE name = ?`).get(name) as { value: number } | undefined)?.value ?? 0;
  }

  counters(prefix = ''): Record<string, number> {
    const rows = this.db.prepare(`SELECT name, value FROM counters WHERE name LIKE ? ORDER BY name`).all(`${prefix}%`) as { name: string; value: number }[];
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  }

  /** SQLite's own integrity check ('ok' when sound). */
  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }
}
