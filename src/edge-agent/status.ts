/** What `kiln agent status` shows: read from the data dir without taking it over. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import { OUTBOX_KINDS } from './outbox.js';
import { StateDb } from './store/state-db.js';
import { LOCK_FILE, lockHolder } from './store/lock.js';

export interface AgentStatus {
  dataDir: string;
  running: boolean;
  pid?: number;
  models: { name: string; current: string; since: string; kept: string[] }[];
  failed: { model: string; version: string; at: string; reason: string }[];
  outbox: { rows: Record<string, number>; dropped: Record<string, number> };
  jobs: Record<string, number>;
}

export function agentStatus(dataDir: string): AgentStatus {
  const dir = resolve(dataDir);
  const dbPath = join(dir, 'state.db');
  if (!existsSync(dbPath)) {
    throw new KilnError('AGENT_STATE', `${dir} is not an agent data dir (no state.db)`, { hint: 'pass --data-dir, or start an agent there first' });
  }
  const pid = lockHolder(join(dir, LOCK_FILE));
  const running = pid !== undefined;
  const db = new StateDb(dbPath, { readonly: true });
  try {
    const models = db.currentAll().map((cur) => ({
      name: cur.model,
      current: cur.version,
      since: cur.updatedAt,
      kept: db
        .installs({ model: cur.model, states: ['good'] })
        .filter((r) => r.id !== cur.id)
        .map((r) => r.version),
    }));
    const failed = db
      .installs({ states: ['failed'] })
      .slice(0, 10)
      .map((r) => ({ model: r.model, version: r.version, at: r.updatedAt, reason: r.reason ?? '' }));
    const rows: Record<string, number> = {};
    for (const kind of Object.values(OUTBOX_KINDS)) rows[kind] = db.outboxCount(kind);
    const dropped = Object.fromEntries(Object.entries(db.counters('outbox.dropped.')).map(([k, v]) => [k.slice('outbox.dropped.'.length), v]));
    return { dataDir: dir, running, pid, models, failed, outbox: { rows, dropped }, jobs: db.jobCounts() };
  } finally {
    db.close();
  }
}
