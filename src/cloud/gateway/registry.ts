/**
 * The device registry and telemetry store (SQLite). The only gateway module that imports
 * better-sqlite3: devices with their credentials (a hash of the secret, never the secret), group,
 * tags, last seen, presence, reported state and desired state; telemetry records de-duplicated on
 * (device, record id) so counts are exact; small counters (drops, refusals).
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { DesiredState, ReportedState, TelemetryRecord } from '../../protocol/sync.js';
import { openSharedDatabase, type SqliteDatabase, type SqliteStatement } from '../../sqlite.js';

export interface DeviceRecord {
  id: string;
  name: string;
  group: string;
  tags: string[];
  createdAt: string;
  lastSeen: string | null;
  online: boolean;
  reported: ReportedState | null;
  reportedAt: string | null;
  desired: DesiredState | null;
}

/** One minute of one version's traffic, summed over the devices that reported it (`metricsSeries`). */
export interface MetricsSeriesPoint {
  /** ISO minute, e.g. 2025-01-01T12:34:00.000Z */
  minute: string;
  version: string;
  /** Served and failed requests. */
  requests: number;
  errors: number;
  /** errors ÷ requests; null without requests. */
  errorRate: number | null;
  /** The largest per-device p95 latency bucket bound of the minute, ms. */
  p95LeMs: number | null;
  /** Mean model latency of the served requests, ms. */
  meanMs: number | null;
  /** Devices that reported this version this minute. */
  devices: number;
}

export interface NewDevice {
  id: string;
  /** Shown once: the registry keeps only its hash. */
  secret: string;
}

export interface AddDeviceOptions {
  /** @default 'default' */
  group?: string;
  /** @default [] */
  tags?: readonly string[];
  /** A chosen id (else a random one). Must match DEVICE_ID_PATTERN. */
  id?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  grp TEXT NOT NULL,
  tags TEXT NOT NULL,
  secret_salt TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_seen TEXT,
  online INTEGER NOT NULL DEFAULT 0,
  reported TEXT,
  reported_at TEXT,
  desired TEXT
);
CREATE TABLE IF NOT EXISTS telemetry (
  device_id TEXT NOT NULL,
  record_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  created_at TEXT NOT NULL,
  received_at TEXT NOT NULL,
  model TEXT,
  version TEXT,
  minute TEXT,
  payload TEXT NOT NULL,
  PRIMARY KEY (device_id, record_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS telemetry_minute ON telemetry (device_id, model, version, minute);
-- The deployment gates and the dashboard read one model's recent minutes across every device.
CREATE INDEX IF NOT EXISTS telemetry_model_window ON telemetry (model, kind, minute);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
-- 'metrics.minute' summed per model, minute, device and version as records are stored (only records
-- stored for the first time count): the deployment gates read this, not every record in their window.
CREATE TABLE IF NOT EXISTS telemetry_minutes (
  model TEXT NOT NULL,
  minute TEXT NOT NULL,
  device_id TEXT NOT NULL,
  version TEXT NOT NULL,
  invocations REAL NOT NULL,
  errors REAL NOT NULL,
  p99 REAL,
  records INTEGER NOT NULL,
  PRIMARY KEY (model, minute, device_id, version)
) WITHOUT ROWID;
`;

/** Fill telemetry_minutes from the records of a database made before it existed. */
const BACKFILL_MINUTES = `
INSERT INTO telemetry_minutes (model, minute, device_id, version, invocations, errors, p99, records)
SELECT model, minute, device_id, version, COALESCE(SUM(json_extract(payload, '$.invocations')), 0), COALESCE(SUM(json_extract(payload, '$.errors')), 0),
       MAX(COALESCE(json_extract(payload, '$.modelLatency.p99LeMs'), json_extract(payload, '$.modelLatency.p95LeMs'))), COUNT(*)
  FROM telemetry WHERE kind = 'metrics.minute' AND model IS NOT NULL AND version IS NOT NULL AND minute IS NOT NULL
 GROUP BY model, minute, device_id, version`;

/** One device's telemetry batch, as `ingestMany` takes them. */
export interface TelemetryIngest {
  deviceId: string;
  records: readonly TelemetryRecord[];
}

/**
 * Secrets are 32 random bytes, so a salted SHA-256 is enough (no password stretching needed: they
 * cannot be guessed from a dictionary), and authentication stays cheap for 10k reconnecting devices.
 */
const hashSecret = (salt: string, secret: string): Buffer => createHash('sha256').update(salt).update('\0').update(secret).digest();

export class DeviceRegistry {
  private readonly db: SqliteDatabase;
  /** Prepared statements by SQL text (preparing one per call cost a fleet's gateway seconds). */
  private readonly statements = new Map<string, SqliteStatement>();
  /** Device ids known to exist (devices are never removed; a miss asks the database: another process may add one). */
  private readonly known = new Set<string>();
  /** Every device's record, once `getMany` has read them (kept current by this registry's writes). */
  private records?: Map<string, DeviceRecord>;

  /** Parsed JSON documents by device, kept while the stored text is the same (a fleet's passes read 10,000 at a time). */
  private readonly parsed = new Map<
    string,
    { reported: string | null; desired: string | null; record: { reported: ReportedState | null; desired: DesiredState | null } }
  >();

  constructor(path: string) {
    this.db = openSharedDatabase(path, 'device registry', SCHEMA.replace(/CREATE TABLE IF NOT EXISTS telemetry_minutes[\s\S]*?WITHOUT ROWID;/, ''));
    // A fleet rewrites the same device rows all the time: a larger WAL between checkpoints (each one
    // copies pages and syncs) lets those rewrites collapse into one copy (the default, 1000 pages,
    // checkpointed every few commits at 10,000 devices).
    this.db.pragma('wal_autocheckpoint = 16384');
    const hadMinutes = this.stmt(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'telemetry_minutes'`).get() !== undefined;
    if (!hadMinutes) {
      this.tx(() => {
        this.db.exec(/CREATE TABLE IF NOT EXISTS telemetry_minutes[\s\S]*?WITHOUT ROWID;/.exec(SCHEMA)![0]);
        this.db.exec(BACKFILL_MINUTES);
      })();
    }
  }

  /** A transaction whose failure (rolled back) also forgets the kept records (they may have been changed in it). */
  private tx<F extends (...args: never[]) => unknown>(fn: F): F {
    const run = this.db.transaction(fn);
    return ((...args: Parameters<F>) => {
      try {
        return run(...args);
      } catch (err) {
        this.records = undefined;
        throw err;
      }
    }) as F;
  }

  private stmt(sql: string): SqliteStatement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  private toRecord(r: Row): DeviceRecord {
    let p = this.parsed.get(r.id);
    if (!p || p.reported !== r.reported || p.desired !== r.desired) {
      p = {
        reported: r.reported,
        desired: r.desired,
        record: {
          reported: r.reported ? deepFreeze(JSON.parse(r.reported) as ReportedState) : null,
          desired: r.desired ? deepFreeze(JSON.parse(r.desired) as DesiredState) : null,
        },
      };
      this.parsed.set(r.id, p);
    }
    // The documents are shared between calls, hence frozen.
    return {
      id: r.id,
      name: r.name,
      group: r.grp,
      tags: JSON.parse(r.tags) as string[],
      createdAt: r.created_at,
      lastSeen: r.last_seen,
      online: r.online === 1,
      reported: p.record.reported,
      reportedAt: r.reported_at,
      desired: p.record.desired,
    };
  }

  addDevice(name: string, options: AddDeviceOptions = {}): NewDevice {
    if (typeof name !== 'string' || !name.trim()) throw new TypeError('addDevice: name must be a non-empty string');
    const id = options.id ?? `dev-${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id)) throw new RangeError(`addDevice: id '${id}' is invalid: use 1–64 of A-Z a-z 0-9 . _ -`);
    const secret = randomBytes(32).toString('base64url');
    const salt = randomBytes(16).toString('hex');
    try {
      this.db
        .prepare(`INSERT INTO devices (id, name, grp, tags, secret_salt, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
        .run(
          id,
          name,
          options.group ?? 'default',
          JSON.stringify([...(options.tags ?? [])]),
          salt,
          hashSecret(salt, secret).toString('hex'),
          new Date().toISOString(),
        );
    } catch (err) {
      if (String((err as Error).message).includes('UNIQUE')) throw new RangeError(`addDevice: a device with id '${id}' exists already`);
      throw err;
    }
    return { id, secret };
  }

  /** Whether `secret` is this device's secret (constant time). */
  checkSecret(id: string, secret: string): boolean {
    const row = this.stmt(`SELECT secret_salt, secret_hash FROM devices WHERE id = ?`).get(id) as { secret_salt: string; secret_hash: string } | undefined;
    if (!row) return false;
    const want = Buffer.from(row.secret_hash, 'hex');
    const got = hashSecret(row.secret_salt, secret);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  has(id: string): boolean {
    if (this.known.has(id)) return true;
    const found = this.stmt(`SELECT 1 FROM devices WHERE id = ?`).get(id) !== undefined;
    if (found) this.known.add(id);
    return found;
  }

  /**
   * What the gateway received in one turn, stored in one transaction (one commit instead of one per
   * message): telemetry batches (as `ingestMany`), each device's latest reported state and presence.
   */
  writeMany(
    w: { telemetry: readonly TelemetryIngest[]; reported: ReadonlyMap<string, ReportedState>; online: ReadonlyMap<string, boolean> },
    at = new Date().toISOString(),
  ): { inserted: number; duplicates: number }[] {
    return this.tx(() => {
      for (const [id, state] of w.reported) this.setReported(id, state, at);
      for (const [id, online] of w.online) this.setOnline(id, online, at);
      return this.ingestMany(w.telemetry, at);
    })();
  }

  get(id: string): DeviceRecord | undefined {
    const r = this.stmt(`SELECT * FROM devices WHERE id = ?`).get(id) as Row | undefined;
    return r && this.toRecord(r);
  }

  list(filter: { group?: string; tag?: string } = {}): DeviceRecord[] {
    const rows = this.stmt(`SELECT * FROM devices ORDER BY id`).all() as Row[];
    return rows
      .map((r) => this.toRecord(r))
      .filter((d) => (filter.group === undefined || d.group === filter.group) && (filter.tag === undefined || d.tags.includes(filter.tag)));
  }

  /** The records of these devices (one read of the table; ids not in the registry are absent). */
  getMany(ids: readonly string[]): Map<string, DeviceRecord> {
    // Reading and parsing 10,000 rows on every deployment pass took most of the cloud's CPU: the
    // records are kept (frozen) after the first read and changed by this registry's own writes. Only
    // this process changes an existing device (`kiln cloud devices add` elsewhere only adds new ones,
    // read here on a miss).
    if (!this.records) {
      this.records = new Map();
      for (const r of this.stmt(`SELECT * FROM devices`).all() as Row[]) this.records.set(r.id, Object.freeze(this.toRecord(r)));
    }
    const out = new Map<string, DeviceRecord>();
    for (const id of ids) {
      let rec = this.records.get(id);
      if (!rec) {
        const r = this.stmt(`SELECT * FROM devices WHERE id = ?`).get(id) as Row | undefined;
        if (r) this.records.set(id, (rec = Object.freeze(this.toRecord(r))));
      }
      if (rec) out.set(id, rec);
    }
    return out;
  }

  /** Change the kept record of a device (when kept) after a write. */
  private patch(id: string, fields: Partial<DeviceRecord>): void {
    const rec = this.records?.get(id);
    if (rec) this.records!.set(id, Object.freeze({ ...rec, ...fields }));
  }

  seen(id: string, at = new Date().toISOString()): void {
    this.stmt(`UPDATE devices SET last_seen = ? WHERE id = ?`).run(at, id);
    this.patch(id, { lastSeen: at });
  }

  setOnline(id: string, online: boolean, at = new Date().toISOString()): void {
    this.stmt(`UPDATE devices SET online = ?, last_seen = ? WHERE id = ?`).run(online ? 1 : 0, at, id);
    this.patch(id, { online, lastSeen: at });
  }

  setReported(id: string, state: ReportedState, at = new Date().toISOString()): void {
    const text = JSON.stringify(state);
    this.stmt(`UPDATE devices SET reported = ?, reported_at = ?, last_seen = ? WHERE id = ?`).run(text, at, at, id);
    if (this.records?.has(id)) this.patch(id, { reported: deepFreeze(JSON.parse(text) as ReportedState), reportedAt: at, lastSeen: at });
  }

  /** The next desired-state version for a device (one more than the last written). */
  nextDesiredVersion(id: string): number {
    const d = this.get(id)?.desired;
    return d ? d.version + 1 : 1;
  }

  setDesired(id: string, state: DesiredState): void {
    const text = JSON.stringify(state);
    this.stmt(`UPDATE devices SET desired = ? WHERE id = ?`).run(text, id);
    if (this.records?.has(id)) this.patch(id, { desired: deepFreeze(JSON.parse(text) as DesiredState) });
  }

  /**
   * Store new desired documents for many devices in one transaction: each gets the next version of
   * its own (`make(version)` builds it). Devices not in the registry are skipped. Returns what was stored.
   */
  setDesiredMany(writes: readonly { deviceId: string; make(version: number): DesiredState }[]): Map<string, DesiredState> {
    const out = new Map<string, DesiredState>();
    const read = this.stmt(`SELECT desired FROM devices WHERE id = ?`);
    const write = this.stmt(`UPDATE devices SET desired = ? WHERE id = ?`);
    this.tx(() => {
      for (const w of writes) {
        const row = read.get(w.deviceId) as { desired: string | null } | undefined;
        if (!row) continue;
        const version = row.desired ? (JSON.parse(row.desired) as DesiredState).version + 1 : 1;
        const state = w.make(version);
        const text = JSON.stringify(state);
        write.run(text, w.deviceId);
        if (this.records?.has(w.deviceId)) this.patch(w.deviceId, { desired: deepFreeze(JSON.parse(text) as DesiredState) });
        out.set(w.deviceId, state);
      }
    })();
    return out;
  }

  /**
   * Store telemetry records; a record already stored for this device (a re-sent batch, a
   * duplicated QoS 1 delivery) is skipped. Returns how many were new and how many duplicates.
   */
  ingest(deviceId: string, records: readonly TelemetryRecord[], receivedAt = new Date().toISOString()): { inserted: number; duplicates: number } {
    return this.ingestMany([{ deviceId, records }], receivedAt)[0];
  }

  /**
   * `ingest` for many devices' batches in one transaction (the gateway stores what arrived together
   * at once). Per batch, in order: how many records were new and how many duplicates. A
   * 'metrics.minute' record stored for the first time is added to its minute's aggregate.
   */
  ingestMany(batches: readonly TelemetryIngest[], receivedAt = new Date().toISOString()): { inserted: number; duplicates: number }[] {
    const ins = this.stmt(
      `INSERT OR IGNORE INTO telemetry (device_id, record_id, kind, created_at, received_at, model, version, minute, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const agg = this.stmt(
      `INSERT INTO telemetry_minutes (model, minute, device_id, version, invocations, errors, p99, records) VALUES (?, ?, ?, ?, ?, ?, ?, 1)
       ON CONFLICT (model, minute, device_id, version) DO UPDATE SET invocations = invocations + excluded.invocations, errors = errors + excluded.errors,
         p99 = MAX(COALESCE(p99, excluded.p99), COALESCE(excluded.p99, p99)), records = records + 1`,
    );
    const seen = this.stmt(`UPDATE devices SET last_seen = ? WHERE id = ?`);
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
    return this.tx(() =>
      batches.map(({ deviceId, records }) => {
        let inserted = 0;
        for (const r of records) {
          const p = (r.payload && typeof r.payload === 'object' ? r.payload : {}) as Record<string, unknown>;
          const [model, version, minute] = [str(p.model), str(p.version), str(p.minute)];
          const n = ins.run(deviceId, r.id, r.kind, r.createdAt, receivedAt, model, version, minute, JSON.stringify(r.payload ?? null)).changes;
          inserted += n;
          if (n && r.kind === 'metrics.minute' && model !== null && version !== null && minute !== null) {
            const lat = (p.modelLatency && typeof p.modelLatency === 'object' ? p.modelLatency : {}) as Record<string, unknown>;
            agg.run(model, minute, deviceId, version, num(p.invocations) ?? 0, num(p.errors) ?? 0, num(lat.p99LeMs) ?? num(lat.p95LeMs));
          }
        }
        seen.run(receivedAt, deviceId);
        this.patch(deviceId, { lastSeen: receivedAt });
        return { inserted, duplicates: records.length - inserted };
      }),
    )();
  }

  telemetryCount(deviceId?: string, kind?: string): number {
    const where: string[] = [];
    const args: string[] = [];
    if (deviceId !== undefined) (where.push('device_id = ?'), args.push(deviceId));
    if (kind !== undefined) (where.push('kind = ?'), args.push(kind));
    return (this.stmt(`SELECT count(*) AS n FROM telemetry${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`).get(...args) as { n: number }).n;
  }

  /** Telemetry records of a device, in arrival order of their creation time. */
  telemetry(deviceId: string, kind?: string): { id: string; kind: string; createdAt: string; payload: unknown }[] {
    const rows = (
      kind === undefined
        ? this.stmt(`SELECT record_id, kind, created_at, payload FROM telemetry WHERE device_id = ? ORDER BY created_at, record_id`).all(deviceId)
        : this.stmt(`SELECT record_id, kind, created_at, payload FROM telemetry WHERE device_id = ? AND kind = ? ORDER BY created_at, record_id`).all(
            deviceId,
            kind,
          )
    ) as {
      record_id: string;
      kind: string;
      created_at: string;
      payload: string;
    }[];
    return rows.map((r) => ({ id: r.record_id, kind: r.kind, createdAt: r.created_at, payload: JSON.parse(r.payload) as unknown }));
  }

  /**
   * Per-minute metric aggregates ('metrics.minute' records) of `model` from `sinceMinute` (an ISO
   * minute, inclusive) summed per device and version: for deployment gates. `maxP99Ms` is the largest
   * per-minute p99 latency bucket bound (agents before p99LeMs: their p95 bound).
   */
  metricsWindow(
    model: string,
    sinceMinute: string,
  ): { deviceId: string; version: string; invocations: number; errors: number; maxP99Ms: number | null; minutes: number }[] {
    // From the per-minute aggregates (telemetry_minutes), not the records: a fleet's window holds millions.
    const rows = this.db
      .prepare(
        `SELECT device_id, version, SUM(invocations) AS inv, SUM(errors) AS err, MAX(p99) AS p99, COUNT(DISTINCT minute) AS minutes
           FROM telemetry_minutes WHERE model = ? AND minute >= ? GROUP BY device_id, version`,
      )
      .all(model, sinceMinute) as { device_id: string; version: string; inv: number; err: number; p99: number | null; minutes: number }[];
    return rows.map((r) => ({
      deviceId: r.device_id,
      version: r.version,
      invocations: Number(r.inv),
      errors: Number(r.err),
      maxP99Ms: r.p99 === null ? null : Number(r.p99),
      minutes: r.minutes,
    }));
  }

  // --- per-version time series (the dashboard's charts) ---

  /**
   * The 'metrics.minute' records of `model` per minute and version, from `sinceMinute` (inclusive) to
   * `untilMinute` (exclusive; ISO minutes), ordered by minute then version. `requests` counts served
   * and failed requests (agents count `invocations` only for the served ones); `p95LeMs` is the largest
   * per-record p95 bucket bound of the minute among records with served requests (null when there were
   * none, or every p95 was past the top bucket: agents send that Infinity as null); `meanMs` is
   * the mean model latency weighted by invocations (null without served requests); `devices` is how
   * many devices reported the version that minute.
   */
  metricsSeries(model: string, sinceMinute: string, untilMinute?: string): MetricsSeriesPoint[] {
    const rows = this.db
      .prepare(
        `SELECT minute, version, COUNT(DISTINCT device_id) AS devices,
                COALESCE(SUM(json_extract(payload, '$.invocations')), 0) AS inv, COALESCE(SUM(json_extract(payload, '$.errors')), 0) AS err,
                MAX(CASE WHEN json_extract(payload, '$.invocations') > 0 THEN json_extract(payload, '$.modelLatency.p95LeMs') END) AS p95,
                SUM(json_extract(payload, '$.modelLatency.meanMs') * json_extract(payload, '$.invocations')) AS latSum,
                SUM(CASE WHEN json_extract(payload, '$.modelLatency.meanMs') IS NOT NULL THEN json_extract(payload, '$.invocations') END) AS latN
           FROM telemetry WHERE kind = 'metrics.minute' AND model = ? AND version IS NOT NULL AND minute IS NOT NULL AND minute >= ? AND minute < ?
           GROUP BY minute, version ORDER BY minute, version`,
      )
      .all(model, sinceMinute, untilMinute ?? '9999') as {
      minute: string;
      version: string;
      devices: number;
      inv: number;
      err: number;
      p95: number | null;
      latSum: number | null;
      latN: number | null;
    }[];
    return rows.map((r) => {
      const requests = Number(r.inv) + Number(r.err);
      return {
        minute: r.minute,
        version: r.version,
        requests,
        errors: Number(r.err),
        errorRate: requests ? Number(r.err) / requests : null,
        p95LeMs: r.p95 === null ? null : Number(r.p95),
        meanMs: r.latN ? Number(r.latSum) / Number(r.latN) : null,
        devices: r.devices,
      };
    });
  }

  // --- model-aware deployment gates: output histograms and shadow comparisons ---

  /**
   * The output histograms ('metrics.minute' `top1`: rows per top-1 class bucket, OUTPUT_HISTOGRAM_BUCKETS
   * wide) of `model` from `sinceMinute` (inclusive), summed per device and version: for output-shift.
   * Minutes without a histogram (older agents, no successful request) are left out.
   */
  outputHistogramWindow(model: string, sinceMinute: string): { deviceId: string; version: string; histogram: number[] }[] {
    const rows = this.db
      .prepare(
        `SELECT device_id, version, json_extract(payload, '$.top1') AS top1 FROM telemetry
          WHERE kind = 'metrics.minute' AND model = ? AND version IS NOT NULL AND minute >= ? AND json_type(payload, '$.top1') = 'array'`,
      )
      .all(model, sinceMinute) as { device_id: string; version: string; top1: string }[];
    const out = new Map<string, { deviceId: string; version: string; histogram: number[] }>();
    for (const r of rows) {
      const h = JSON.parse(r.top1) as unknown[];
      const key = `${r.device_id}\0${r.version}`;
      const acc = out.get(key) ?? { deviceId: r.device_id, version: r.version, histogram: [] };
      h.forEach((c, i) => (acc.histogram[i] = (acc.histogram[i] ?? 0) + (typeof c === 'number' && Number.isFinite(c) ? c : 0)));
      out.set(key, acc);
    }
    return [...out.values()].map((x) => ({ ...x, histogram: Array.from(x.histogram, (c) => c ?? 0) }));
  }

  /**
   * Shadow comparisons ('shadow.minute') of `model` from `sinceMinute` (inclusive), summed per device,
   * serving version and shadow version: requests compared, shadow runs that failed (`errors`; 0 from
   * agents that do not report them), output rows compared and rows whose top-1 agreed, and the
   * shadow's largest per-minute p99 model latency bucket bound (p95 from older agents; null when not reported).
   */
  shadowWindow(
    model: string,
    sinceMinute: string,
  ): { deviceId: string; version: string; shadow: string; comparisons: number; errors: number; rows: number; agreed: number; maxP99Ms: number | null }[] {
    const rows = this.db
      .prepare(
        `SELECT device_id, version, json_extract(payload, '$.shadow') AS shadow, COALESCE(SUM(json_extract(payload, '$.comparisons')), 0) AS n,
                COALESCE(SUM(json_extract(payload, '$.errors')), 0) AS errors,
                COALESCE(SUM(COALESCE(json_extract(payload, '$.rows'), json_extract(payload, '$.comparisons'))), 0) AS rows_,
                COALESCE(SUM(COALESCE(json_extract(payload, '$.top1Agree'), json_extract(payload, '$.top1Agreement') * json_extract(payload, '$.comparisons'))), 0) AS agreed,
                MAX(COALESCE(json_extract(payload, '$.shadowLatency.p99LeMs'), json_extract(payload, '$.shadowLatency.p95LeMs'))) AS p99
           FROM telemetry WHERE kind = 'shadow.minute' AND model = ? AND version IS NOT NULL AND minute >= ? AND json_type(payload, '$.shadow') = 'text'
          GROUP BY device_id, version, shadow`,
      )
      .all(model, sinceMinute) as {
      device_id: string;
      version: string;
      shadow: string;
      n: number;
      errors: number;
      rows_: number;
      agreed: number;
      p99: number | null;
    }[];
    return rows.map((r) => ({
      deviceId: r.device_id,
      version: r.version,
      shadow: r.shadow,
      comparisons: Number(r.n),
      errors: Number(r.errors),
      rows: Number(r.rows_),
      agreed: Math.round(Number(r.agreed)),
      maxP99Ms: r.p99 === null ? null : Number(r.p99),
    }));
  }

  addCounter(name: string, n = 1): void {
    this.stmt(`INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value`).run(name, n);
  }

  counters(prefix = ''): Record<string, number> {
    const rows = this.stmt(`SELECT name, value FROM counters WHERE name LIKE ? ORDER BY name`).all(`${prefix}%`) as { name: string; value: number }[];
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

interface Row {
  id: string;
  name: string;
  grp: string;
  tags: string;
  created_at: string;
  last_seen: string | null;
  online: number;
  reported: string | null;
  reported_at: string | null;
  desired: string | null;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
