/**
 * The model store: installed artifact versions on disk under `<dataDir>/models/<model>/<version>-<sha>`
 * and their records in the state DB.
 *
 * Install, step by step (each step is a hook point, so tests can stop the process there):
 *   check    — checkArtifact: manifest schema, ed25519 signature against the trusted keys, sha256 of every file
 *   unpack   — write the files into `<dataDir>/models/.staging/<random>` (fsync each file)
 *   synced   — fsync the staging folder
 *   renamed  — atomic rename to the final folder, fsync the parent
 *   recorded — a 'staged' row in the state DB
 * then the agent loads it and runs a warm-up inference (probation), and `promote` makes it good
 * and current in one transaction; `prune` removes versions beyond the kept ones.
 *
 * `recover` (run on open) undoes whatever a crash left half-done: staging folders are deleted,
 * 'staged' rows become 'failed', folders no row owns are deleted, and a current version whose
 * folder is gone falls back to the newest good one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fsyncDir, writeFileSynced } from '../../durable-fs.js';
import { KilnError } from '../../errors.js';
import type { ArtifactCheck } from '../../protocol/artifact.js';
import type { ArtifactManifest } from '../../protocol/manifest.js';
import type { InstallRecord, StateDb } from './state-db.js';
import { DEFAULTS } from '../../defaults.js';

export type InstallStep = 'check' | 'unpack' | 'synced' | 'renamed' | 'recorded' | 'loaded' | 'warmed' | 'promoted' | 'pruned';

export interface StoreHooks {
  /** Called (and awaited) after each install step. Tests stop the process here. */
  onStep?(step: InstallStep, info: { model?: string; version?: string }): void | Promise<void>;
}

export interface ModelStoreOptions {
  /** Trusted ed25519 public keys (raw, base64). An artifact signed by any other key is refused. */
  trustedKeys: readonly string[];
  /** Good versions kept besides the current one, for instant rollback. @default 3 */
  keepVersions?: number;
  hooks?: StoreHooks;
}

/** What `stage` did: a new version waiting for probation, or the same content already installed. */
export type Staged =
  { state: 'staged'; record: InstallRecord; manifest: ArtifactManifest } | { state: 'present'; record: InstallRecord; manifest: ArtifactManifest };

export interface RecoveryReport {
  /** Staging folders deleted. */
  staging: number;
  /** Installs interrupted before promotion, now marked failed. */
  interrupted: InstallRecord[];
  /** Folders no install owns, deleted. */
  orphans: string[];
  /** Models whose current folder was missing: model → the install now current (or null). */
  fellBack: Record<string, number | null>;
}

const STAGING = '.staging';
// The artifact's file names (as src/protocol/artifact.ts names them). The protocol module itself is
// imported only when an artifact is checked: it brings zod, and a restart must be fast.
const MODEL_FILE = 'model.onnx';
const MANIFEST_FILE = 'manifest.json';
const SIGNATURE_FILE = 'signature.json';
const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A folder name for a model name or version: safe characters kept, the rest escaped. */
export function safeName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/g, (c) => `_${c.codePointAt(0)!.toString(16)}_`);
  return s.startsWith('.') ? `_${s}` : s;
}

export class ModelStore {
  readonly modelsDir: string;
  private readonly keep: number;

  constructor(
    readonly dataDir: string,
    readonly db: StateDb,
    private readonly options: ModelStoreOptions,
  ) {
    this.modelsDir = join(dataDir, 'models');
    this.keep = options.keepVersions ?? DEFAULTS.keepVersions;
    if (!Number.isInteger(this.keep) || this.keep < 0) throw new RangeError(`keepVersions must be an integer ≥ 0 (got ${options.keepVersions})`);
    mkdirSync(join(this.modelsDir, STAGING), { recursive: true });
  }

  private async step(step: InstallStep, info: { model?: string; version?: string }): Promise<void> {
    await this.options.hooks?.onStep?.(step, info);
  }

  /** Absolute folder of an install. */
  dirOf(record: InstallRecord): string {
    return join(this.dataDir, record.dir);
  }

  /**
   * The manifest of an installed version, read from its folder. It was schema-checked and its
   * signature verified at install; its sha256 (recorded then) proves it is still those bytes.
   */
  manifestOf(record: InstallRecord): ArtifactManifest {
    const bytes = readFileSync(join(this.dirOf(record), MANIFEST_FILE));
    if (sha256Hex(bytes) !== record.manifestSha256) {
      throw new KilnError('AGENT_STATE', `${record.model} ${record.version}: installed ${MANIFEST_FILE} does not match its recorded sha256 (corrupt on disk)`);
    }
    return JSON.parse(bytes.toString('utf8')) as ArtifactManifest;
  }

  /**
   * An artifact folder whose manifest.json is byte for byte that of a good installed version is
   * that version (its model's sha256 is in the manifest): no need to read and hash the model again.
   */
  private installedCopyOf(path: string): { record: InstallRecord; manifest: ArtifactManifest } | undefined {
    try {
      if (!statSync(path).isDirectory()) return undefined;
      const sha = sha256Hex(readFileSync(join(path, MANIFEST_FILE)));
      for (const r of this.db.installs({ states: ['good'] })) {
        if (r.manifestSha256 === sha && existsSync(join(this.dirOf(r), MODEL_FILE))) return { record: r, manifest: this.manifestOf(r) };
      }
    } catch {
      /* not an installed copy: the full check reports why */
    }
    return undefined;
  }

  /**
   * Read the installed model bytes, checking them against the sha256 in the installed manifest
   * (a bit flip on disk must not be served).
   */
  readModel(record: InstallRecord): Uint8Array {
    const manifest = this.manifestOf(record);
    const bytes = readFileSync(join(this.dirOf(record), MODEL_FILE));
    if (sha256Hex(bytes) !== manifest.files[MODEL_FILE]?.sha256) {
      throw new KilnError('AGENT_STATE', `${record.model} ${record.version}: installed ${MODEL_FILE} does not match its sha256 (corrupt on disk)`);
    }
    return bytes;
  }

  /** Check an artifact and place it in the store as a 'staged' version (not current yet). */
  async stage(path: string): Promise<Staged> {
    const known = this.installedCopyOf(path);
    if (known) return { state: 'present', ...known };
    let check: ArtifactCheck;
    try {
      const { checkArtifact } = await import('../../protocol/artifact.js');
      check = checkArtifact(path, this.options.trustedKeys);
    } catch (err) {
      throw new KilnError(
        'AGENT_INSTALL',
        `${path}: refused: ${err instanceof KilnError && err.hint ? err.message.slice(0, -(err.hint.length + 3)) : (err as Error).message}`,
        {
          hint: 'pass an artifact folder or its .tgz, as kiln compile writes them',
          cause: err,
        },
      );
    }
    if (!check.ok || !check.manifest) {
      throw new KilnError('AGENT_INSTALL', `${path}: refused: ${check.problems.join('; ')}`, {
        hint: 'the artifact is corrupt, tampered with or signed by a key the agent does not trust (see trustedKeys)',
      });
    }
    const manifest = check.manifest;
    const { name: model, version } = manifest.model;
    await this.step('check', { model, version });
    const manifestBytes = check.files.get(MANIFEST_FILE)!;
    const manifestSha = sha256Hex(manifestBytes);
    const present = this.db.goodInstallBySha(model, manifestSha);
    if (present && existsSync(join(this.dirOf(present), MANIFEST_FILE))) return { state: 'present', record: present, manifest };

    const staging = join(this.modelsDir, STAGING, `${Date.now()}-${randomBytes(6).toString('hex')}`);
    const rel = join('models', safeName(model), `${safeName(version)}-${manifestSha.slice(0, 12)}`);
    const final = join(this.dataDir, rel);
    try {
      mkdirSync(staging, { recursive: true });
      const names = [...Object.keys(manifest.files), MANIFEST_FILE, SIGNATURE_FILE];
      for (const name of names) {
        const file = join(staging, name);
        if (isAbsolute(name) || relative(staging, file).startsWith('..')) {
          throw new KilnError('AGENT_INSTALL', `${path}: refused: manifest lists a file outside the artifact ('${name}')`);
        }
        if (dirname(file) !== staging) mkdirSync(dirname(file), { recursive: true });
        writeFileSynced(file, check.files.get(name)!, 'wx');
      }
      await this.step('unpack', { model, version });
      fsyncDir(staging);
      await this.step('synced', { model, version });
      mkdirSync(dirname(final), { recursive: true });
      // Same content installed before and since failed or removed: its folder may linger.
      if (existsSync(final)) rmSync(final, { recursive: true, force: true });
      renameSync(staging, final);
      fsyncDir(dirname(final));
      await this.step('renamed', { model, version });
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      if (err instanceof KilnError) throw err;
      throw new KilnError('AGENT_INSTALL', `${path}: could not write it into ${this.modelsDir}: ${(err as Error).message}`, {
        hint: 'check free disk space and permissions of the data dir',
        cause: err,
      });
    }
    const record = this.db.addInstall({
      model,
      version,
      manifestSha256: manifestSha,
      dir: rel,
      sizeBytes: manifest.files[MODEL_FILE].sizeBytes,
      source: path,
    });
    await this.step('recorded', { model, version });
    return { state: 'staged', record, manifest };
  }

  /** The version failed probation: mark it and delete its folder. */
  fail(record: InstallRecord, reason: string): void {
    this.db.setInstallState(record.id, 'failed', reason);
    rmSync(this.dirOf(record), { recursive: true, force: true });
  }

  /** Make a version good and current (one transaction). Returns the version it replaced. */
  async promote(record: InstallRecord): Promise<InstallRecord | undefined> {
    const before = this.db.promote(record.id);
    await this.step('promoted', { model: record.model, version: record.version });
    return before;
  }

  /** Make a version good without making it current (kept beside the serving one). */
  keepBeside(record: InstallRecord): void {
    this.db.setInstallState(record.id, 'good');
  }

  /** Remove good versions beyond the current one and `keepVersions` previous ones. Returns those removed. */
  async prune(model: string, options: { hook?: boolean } = {}): Promise<InstallRecord[]> {
    const current = this.db.current(model);
    const good = this.db.installs({ model, states: ['good'] }).filter((r) => r.id !== current?.id);
    const removed = good.slice(this.keep);
    for (const r of removed) {
      // DB first: a crash before the folder goes leaves an orphan folder, which recover deletes.
      this.db.setInstallState(r.id, 'removed', `pruned: more than ${this.keep} previous versions kept`);
      rmSync(this.dirOf(r), { recursive: true, force: true });
    }
    if (options.hook !== false) await this.step('pruned', { model });
    return removed;
  }

  /** Make an earlier good version current again. Returns it. */
  rollback(model: string, version?: string): InstallRecord {
    const current = this.db.current(model);
    const candidates = this.db.installs({ model, states: ['good'] }).filter((r) => r.id !== current?.id);
    const target = version === undefined ? candidates[0] : candidates.find((r) => r.version === version);
    if (!target) {
      throw new KilnError('AGENT_INSTALL', `${model}: no earlier good version${version ? ` '${version}'` : ''} to roll back to`, {
        hint: `kept versions: ${candidates.map((r) => r.version).join(', ') || 'none'}`,
      });
    }
    this.db.promote(target.id);
    return target;
  }

  /** Undo what a crash left half-done. Safe to run at any time no install is in progress. */
  recover(): RecoveryReport {
    const report: RecoveryReport = { staging: 0, interrupted: [], orphans: [], fellBack: {} };
    const stagingDir = join(this.modelsDir, STAGING);
    for (const name of existsSync(stagingDir) ? readdirSync(stagingDir) : []) {
      rmSync(join(stagingDir, name), { recursive: true, force: true });
      report.staging++;
    }
    for (const r of this.db.installs({ states: ['staged'] })) {
      this.db.setInstallState(r.id, 'failed', 'interrupted: the agent stopped before the version passed probation');
      report.interrupted.push(r);
    }
    // A current version whose files are gone (disk trouble, a hand-deleted folder) falls back.
    for (const cur of this.db.currentAll()) {
      if (existsSync(join(this.dirOf(cur), MANIFEST_FILE)) && existsSync(join(this.dirOf(cur), MODEL_FILE))) continue;
      this.db.setInstallState(cur.id, 'failed', 'its files are missing from the data dir');
      const next = this.db.installs({ model: cur.model, states: ['good'] }).find((r) => existsSync(join(this.dirOf(r), MANIFEST_FILE)));
      this.db.setCurrent(cur.model, next?.id);
      report.fellBack[cur.model] = next?.id ?? null;
    }
    const owned = new Set(this.db.installs({ states: ['good'] }).map((r) => join(this.dataDir, r.dir)));
    for (const modelDir of readdirSync(this.modelsDir)) {
      if (modelDir === STAGING) continue;
      const full = join(this.modelsDir, modelDir);
      for (const v of readdirSync(full)) {
        const dir = join(full, v);
        if (!owned.has(dir)) {
          rmSync(dir, { recursive: true, force: true });
          report.orphans.push(dir);
        }
      }
    }
    return report;
  }
}
