/**
 * The default registry store: metadata in SQLite (db.ts), artifacts as .tgz files named by sha256 in
 * a directory (blobs.ts) — one host, the layout kiln has always written. Async only to fit the
 * RegistryStore interface; every call is synchronous underneath.
 */
import { createReadStream } from 'node:fs';
import { BlobStore } from './blobs.js';
import { RegistryDb } from './db.js';
import type { InsertOutcome, RegistryStore, StoredBlob } from './store.js';
import type { ArtifactRecord, ModelRecord, VersionRecord } from './types.js';

export class SqliteRegistryStore implements RegistryStore {
  private readonly db: RegistryDb;
  private readonly blobs: BlobStore;

  /** @param dbPath an absolute path, or ':memory:' @param artifactDir an absolute path */
  constructor(dbPath: string, artifactDir: string) {
    this.db = new RegistryDb(dbPath);
    this.blobs = new BlobStore(artifactDir);
  }

  get location(): string {
    return this.db.path;
  }

  /** The folder holding the .tgz files. */
  get artifactDir(): string {
    return this.blobs.dir;
  }

  async artifact(model: string, version: string, target: string): Promise<ArtifactRecord | undefined> {
    return this.db.artifact(model, version, target);
  }

  async artifactsOf(model: string, version: string): Promise<ArtifactRecord[]> {
    return this.db.artifactsOf(model, version);
  }

  async versions(model: string): Promise<VersionRecord[]> {
    return this.db.versions(model);
  }

  async models(): Promise<ModelRecord[]> {
    return this.db.models();
  }

  async insertArtifact(record: ArtifactRecord, tgz: Uint8Array): Promise<InsertOutcome> {
    // A file cannot join the SQLite transaction: write it first (atomically, named by its content), so
    // a recorded artifact always has its bytes. A push that then loses a race leaves an unreferenced
    // file, never a record without one.
    const taken = this.db.artifact(record.model, record.version, record.target);
    if (taken) return taken.manifestSha256 === record.manifestSha256 ? { kind: 'same', record: taken } : { kind: 'conflict', existing: taken };
    this.blobs.put(record.sha256, tgz);
    return this.db.insertArtifact(record);
  }

  async blob(sha256: string): Promise<StoredBlob | undefined> {
    const sizeBytes = this.blobs.size(sha256);
    if (sizeBytes === undefined) return undefined;
    const path = this.blobs.pathOf(sha256);
    return { sizeBytes, stream: (start, end) => createReadStream(path, { start, end }) };
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
