/**
 * The model registry's SQLite tables (models, model_versions, model_artifacts). The only registry
 * module that imports better-sqlite3; WAL, so a running cloud and `kiln push` can share the file.
 */
import type { InsertOutcome } from './store.js';
import type { ArtifactRecord, ModelRecord, VersionRecord } from './types.js';
import { openSharedDatabase, type SqliteDatabase } from '../../sqlite.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS models (
  name TEXT PRIMARY KEY,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS model_versions (
  model TEXT NOT NULL REFERENCES models(name),
  version TEXT NOT NULL,
  created_at TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (model, version)
);
CREATE TABLE IF NOT EXISTS model_artifacts (
  model TEXT NOT NULL,
  version TEXT NOT NULL,
  target TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  manifest_sha256 TEXT NOT NULL,
  record TEXT NOT NULL,
  pushed_at TEXT NOT NULL,
  PRIMARY KEY (model, version, target),
  FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
);
CREATE INDEX IF NOT EXISTS model_artifacts_sha ON model_artifacts(sha256);
`;

export class RegistryDb {
  private readonly db: SqliteDatabase;

  constructor(readonly path: string) {
    this.db = openSharedDatabase(path, 'model registry', SCHEMA);
  }

  artifact(model: string, version: string, target: string): ArtifactRecord | undefined {
    const row = this.db.prepare('SELECT record FROM model_artifacts WHERE model = ? AND version = ? AND target = ?').get(model, version, target) as
      { record: string } | undefined;
    return row ? (JSON.parse(row.record) as ArtifactRecord) : undefined;
  }

  artifactsOf(model: string, version: string): ArtifactRecord[] {
    return (
      this.db.prepare('SELECT record FROM model_artifacts WHERE model = ? AND version = ? ORDER BY target').all(model, version) as { record: string }[]
    ).map((r) => JSON.parse(r.record) as ArtifactRecord);
  }

  hasSha(sha256: string): boolean {
    return this.db.prepare('SELECT 1 FROM model_artifacts WHERE sha256 = ? LIMIT 1').get(sha256) !== undefined;
  }

  /**
   * Insert the artifact (and its model and version when new) in one transaction, unless (model,
   * version, target) is taken — the primary key decides, not an earlier read. The first statement
   * writes, so the transaction holds SQLite's write lock from its start (waiting out another writer
   * under the busy timeout) rather than failing to upgrade a read snapshot another process outdated.
   */
  insertArtifact(record: ArtifactRecord): InsertOutcome {
    const tx = this.db.transaction((): InsertOutcome => {
      this.db.prepare('INSERT INTO models (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING').run(record.model, record.pushedAt);
      const seq = (this.db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM model_versions').get() as { n: number }).n;
      this.db
        .prepare('INSERT INTO model_versions (model, version, created_at, seq) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
        .run(record.model, record.version, record.pushedAt, seq);
      const inserted = this.db
        .prepare(
          'INSERT INTO model_artifacts (model, version, target, sha256, manifest_sha256, record, pushed_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
        )
        .run(record.model, record.version, record.target, record.sha256, record.manifestSha256, JSON.stringify(record), record.pushedAt);
      if (inserted.changes === 1) return { kind: 'created', record };
      // Taken: the model and version rows existed already (the artifact references them), so nothing changed.
      const existing = this.artifact(record.model, record.version, record.target)!;
      return existing.manifestSha256 === record.manifestSha256 ? { kind: 'same', record: existing } : { kind: 'conflict', existing };
    });
    return tx();
  }

  versions(model: string): VersionRecord[] {
    const rows = this.db.prepare('SELECT version, created_at FROM model_versions WHERE model = ? ORDER BY seq').all(model) as {
      version: string;
      created_at: string;
    }[];
    const targets = this.db.prepare('SELECT target FROM model_artifacts WHERE model = ? AND version = ? ORDER BY target');
    return rows.map((r) => ({
      model,
      version: r.version,
      createdAt: r.created_at,
      targets: (targets.all(model, r.version) as { target: string }[]).map((t) => t.target),
    }));
  }

  models(): ModelRecord[] {
    const rows = this.db.prepare('SELECT name, created_at FROM models ORDER BY name').all() as { name: string; created_at: string }[];
    return rows.map((r) => {
      const versions = this.versions(r.name).map((v) => v.version);
      return { name: r.name, createdAt: r.created_at, versions, latest: versions.at(-1) ?? null };
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
