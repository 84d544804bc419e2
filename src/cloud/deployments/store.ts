/**
 * Deployment persistence (SQLite): each deployment's spec and state as JSON, rewritten after every
 * step, and its event log (what `decide` recorded, with the alarm metrics). May share the gateway's
 * database file: the tables do not overlap.
 */
import type { AlarmResult, DeploymentSpec, DeploymentState } from '../rollout/index.js';
import { openSharedDatabase, type SqliteDatabase } from '../../sqlite.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS deployments (
  id TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  phase TEXT NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deployment_events (
  deployment_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  detail TEXT,
  metrics TEXT,
  PRIMARY KEY (deployment_id, seq)
) WITHOUT ROWID;
`;

export interface StoredDeployment {
  spec: DeploymentSpec;
  state: DeploymentState;
  createdAt: number;
  updatedAt: number;
}

export interface DeploymentEventRecord {
  seq: number;
  /** ms since the epoch (the manager's clock). */
  at: number;
  /** A RolloutEvent, or 'created' / 'desired-failed' from the manager itself. */
  event: string;
  detail?: Record<string, unknown>;
  metrics?: AlarmResult[];
}

export class DeploymentStore {
  private readonly db: SqliteDatabase;

  constructor(path: string) {
    this.db = openSharedDatabase(path, 'deployments database', SCHEMA);
  }

  has(id: string): boolean {
    return this.db.prepare(`SELECT 1 FROM deployments WHERE id = ?`).get(id) !== undefined;
  }

  /** Save a step: the new state and its events, in one transaction. */
  save(spec: DeploymentSpec, state: DeploymentState, events: Omit<DeploymentEventRecord, 'seq'>[], at: number, create = false): void {
    this.db.transaction(() => {
      if (create)
        this.db
          .prepare(`INSERT INTO deployments (id, model, phase, spec, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
          .run(spec.id, spec.model, state.status.phase, JSON.stringify(spec), JSON.stringify(state), at, at);
      else
        this.db.prepare(`UPDATE deployments SET phase = ?, state = ?, updated_at = ? WHERE id = ?`).run(state.status.phase, JSON.stringify(state), at, spec.id);
      if (events.length) {
        const last = (this.db.prepare(`SELECT COALESCE(MAX(seq), 0) AS n FROM deployment_events WHERE deployment_id = ?`).get(spec.id) as { n: number }).n;
        const ins = this.db.prepare(`INSERT INTO deployment_events (deployment_id, seq, at, event, detail, metrics) VALUES (?, ?, ?, ?, ?, ?)`);
        events.forEach((e, i) =>
          ins.run(spec.id, last + i + 1, e.at, e.event, e.detail ? JSON.stringify(e.detail) : null, e.metrics ? JSON.stringify(e.metrics) : null),
        );
      }
    })();
  }

  get(id: string): StoredDeployment | undefined {
    const r = this.db.prepare(`SELECT spec, state, created_at, updated_at FROM deployments WHERE id = ?`).get(id) as Row | undefined;
    return r && toStored(r);
  }

  /** Every deployment, newest first. */
  list(): StoredDeployment[] {
    return (this.db.prepare(`SELECT spec, state, created_at, updated_at FROM deployments ORDER BY created_at DESC, id`).all() as Row[]).map(toStored);
  }

  events(id: string): DeploymentEventRecord[] {
    const rows = this.db.prepare(`SELECT seq, at, event, detail, metrics FROM deployment_events WHERE deployment_id = ? ORDER BY seq`).all(id) as {
      seq: number;
      at: number;
      event: string;
      detail: string | null;
      metrics: string | null;
    }[];
    return rows.map((r) => ({
      seq: r.seq,
      at: r.at,
      event: r.event,
      ...(r.detail ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
      ...(r.metrics ? { metrics: JSON.parse(r.metrics) as AlarmResult[] } : {}),
    }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

interface Row {
  spec: string;
  state: string;
  created_at: number;
  updated_at: number;
}
const toStored = (r: Row): StoredDeployment => ({
  spec: JSON.parse(r.spec) as DeploymentSpec,
  state: JSON.parse(r.state) as DeploymentState,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});
