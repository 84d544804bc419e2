/**
 * The seam between the model registry and where it keeps things: metadata (models, versions,
 * artifact records) and the artifacts' bytes (.tgz by sha256). Two implementations, each in its own
 * module: SQLite plus a directory (sqlite-store.ts, the default, one host) and PostgreSQL with the
 * bytes in the database too (postgres-store.ts, so every cloud instance sharing it can serve every
 * artifact). Both must pass tests/cloud/registry-contract.ts.
 *
 * The store enforces the registry's one invariant itself, atomically: a (model, version, target)
 * holds one artifact forever. ModelRegistry checks first to fail fast, but only the store's answer
 * counts when two pushes race (two processes, or two cloud instances).
 */
import type { Readable } from 'node:stream';
import type { ArtifactRecord, ModelRecord, VersionRecord } from './types.js';

/** What insertArtifact did: stored it, found the same one, or found a different one in its place. */
export type InsertOutcome =
  { kind: 'created'; record: ArtifactRecord } | { kind: 'same'; record: ArtifactRecord } | { kind: 'conflict'; existing: ArtifactRecord };

/** A stored artifact's bytes: its size, and a stream of any byte range of it. */
export interface StoredBlob {
  sizeBytes: number;
  /** Bytes `start` to `end`, both inclusive (0 ≤ start ≤ end < sizeBytes). */
  stream(start: number, end: number): Readable;
}

export interface RegistryStore {
  /** Where it is, for messages: a file path, or a URL without its password. */
  readonly location: string;
  artifact(model: string, version: string, target: string): Promise<ArtifactRecord | undefined>;
  /** Every artifact of a version, sorted by target (byte order, as SQLite sorts). */
  artifactsOf(model: string, version: string): Promise<ArtifactRecord[]>;
  /** The versions of `model`, oldest push first. */
  versions(model: string): Promise<VersionRecord[]>;
  /** Every model, sorted by name (byte order). */
  models(): Promise<ModelRecord[]>;
  /**
   * Record `record` with its bytes `tgz` (whose sha256 is record.sha256), creating its model and
   * version when new — all or nothing — unless its (model, version, target) holds an artifact already:
   * then nothing changes and the outcome says whether that one is the same (same manifest) or not.
   */
  insertArtifact(record: ArtifactRecord, tgz: Uint8Array): Promise<InsertOutcome>;
  /** The stored bytes of `sha256` (lower-case hex, checked by the caller), or undefined. */
  blob(sha256: string): Promise<StoredBlob | undefined>;
  close(): Promise<void>;
}
