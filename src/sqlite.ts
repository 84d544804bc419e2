/**
 * The one module that loads better-sqlite3 (a native addon), typed with the part of its API kiln
 * uses (the package ships no types). The agent's state, the cloud's device and model registries and
 * its deployments each open their own database through this.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { KilnError } from './errors.js';

export interface SqliteStatement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface SqliteDatabase {
  readonly open: boolean;
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
  close(): void;
}

export type SqliteDatabaseConstructor = new (path: string, options?: { readonly?: boolean; fileMustExist?: boolean }) => SqliteDatabase;

/** better-sqlite3's Database class (12.x: 13.x crashes on Node 20). */
export const Database = createRequire(import.meta.url)('better-sqlite3') as SqliteDatabaseConstructor;

/**
 * Open (creating its folder) a database that several processes and connections may share — the
 * cloud's device registry, model registry and deployments live in one file, and `kiln push` writes
 * while a cloud runs: WAL, a busy timeout instead of instant SQLITE_BUSY, foreign keys on. `schema`
 * runs once (CREATE … IF NOT EXISTS). A failure names `what` and the path.
 */
export function openSharedDatabase(path: string, what: string, schema: string): SqliteDatabase {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    db.exec(schema);
    return db;
  } catch (err) {
    throw new KilnError('INTERNAL', `cannot open the ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}
