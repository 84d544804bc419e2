/**
 * The one module that loads better-sqlite3 (a native addon), typed with the part of its API kiln
 * uses (the package ships no types). The agent's state, the cloud's device and model registries and
 * its deployments each open their own database through this.
 */
import { createRequire } from 'node:module';

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
