/**
 * The model registry's public types: models, versions and per-target artifacts, as the registry
 * stores and returns them. Plain data (frozen by the registry); no I/O here.
 */
import type { OutputVerification } from '../../protocol/manifest.js';

/** One output's verification figures, as the compiler measured them (float vs compiled). */
export type OutputFigures = OutputVerification;

/** A compiled artifact of one model version for one target. */
export interface ArtifactRecord {
  model: string;
  version: string;
  /** The target profile's name (manifest `target.name`), e.g. 'x86_64', 'wasm'. */
  target: string;
  arch: string;
  backend: string;
  /** sha256 of the stored .tgz: its content address and its URL name. */
  sha256: string;
  /** Size of the stored .tgz, bytes. */
  sizeBytes: number;
  /** sha256 of the signed manifest bytes: two pushes are the same artifact exactly when these match. */
  manifestSha256: string;
  /** The ed25519 key that signed the manifest (16 hex chars). */
  keyId: string;
  /** Base64 raw public key of the signer. */
  publicKey: string;
  quantization: 'none' | 'int8' | 'int8-dynamic' | 'fp16';
  sizes: { sourceBytes: number; artifactBytes: number };
  verification: {
    runtime: string | null;
    passed: boolean;
    samples: number;
    outputs: OutputFigures[];
    skippedReason?: string;
  };
  /** Median latency at compile time, when measured. */
  performance?: { runtime: string; floatMs: number; compiledMs: number; speedup: number };
  kilnVersion: string;
  /** When the compiler built it (manifest build.createdAt). */
  builtAt: string;
  /** When it was first pushed here. */
  pushedAt: string;
}

export interface VersionRecord {
  model: string;
  version: string;
  createdAt: string;
  /** Targets with an artifact, sorted. */
  targets: string[];
}

export interface ModelRecord {
  name: string;
  createdAt: string;
  /** Versions, oldest push first. */
  versions: string[];
  /** The most recently pushed version. */
  latest: string | null;
}

export interface PushOptions {
  /** The model name the artifact must carry (its signed manifest's `model.name`). @default the manifest's */
  model?: string;
  /** The version the artifact must carry (its signed manifest's `model.version`). @default the manifest's */
  version?: string;
  /** Raw ed25519 public keys (base64) the signer must be one of. @default any valid signature is accepted */
  trustedKeys?: readonly string[];
  /** Largest unpacked size of a .tgz accepted, bytes (an upload is small; what it unpacks to must be too). @default 4 GiB */
  maxUnpackedBytes?: number;
}

export interface PushResult {
  artifact: ArtifactRecord;
  /** False when exactly this artifact was already registered (the push changed nothing). */
  created: boolean;
}

/** A device (or just a target) a deployment would reach. */
export interface DeviceTarget {
  deviceId?: string;
  target: string;
}

/** The registry in SQLite, with its artifacts in a directory: one host (the default). */
export interface SqliteRegistryOptions {
  /** SQLite database file (may be shared with the device registry: the tables do not overlap). */
  dbPath: string;
  /** Where the .tgz files are kept, by sha256. @default `artifacts/` beside the database */
  artifactDir?: string;
  databaseUrl?: never;
}

/** The registry in PostgreSQL, artifacts' bytes included: several cloud instances can share it. */
export interface PostgresRegistryOptions {
  /** postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, optionally `?schema=NAME` */
  databaseUrl: string;
  /** The schema holding the registry's tables (created when missing). @default the URL's `schema`, else 'public' */
  schema?: string;
  /** How long to wait for a connection before failing. @default 10000 */
  connectTimeoutMs?: number;
  dbPath?: never;
}

/** Where the registry keeps its data: `dbPath` for SQLite, or `databaseUrl` for PostgreSQL. */
export type ModelRegistryOptions = SqliteRegistryOptions | PostgresRegistryOptions;
