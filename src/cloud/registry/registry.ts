/**
 * The model registry: models, versions and per-target artifacts. `pushArtifact` checks an artifact
 * (schema, signature, every file's hash), stores its .tgz by sha256 and records it with its manifest's
 * metadata; the same artifact pushed twice changes nothing, a different one for the same
 * (model, version, target) is refused. Deployments ask it which artifact a device of a target gets
 * (`desiredEntryFor`) and which devices it could not serve (`missingTargets`).
 *
 * Where it keeps all that is a RegistryStore (store.ts): SQLite plus a directory by default, or
 * PostgreSQL by URL for several cloud instances sharing one registry. `openModelRegistry` picks one.
 */
import { dirname, join, resolve } from 'node:path';
import { KilnError } from '../../errors.js';
import { checkArtifact, MANIFEST_FILE, MODEL_FILE, SIGNATURE_FILE, sha256Hex } from '../../protocol/artifact.js';
import { packEntries } from '../../protocol/archive.js';
import type { SignatureFile } from '../../protocol/signing.js';
import { DesiredModelSchema, type DesiredModel } from '../../protocol/sync.js';
import { SqliteRegistryStore } from './sqlite-store.js';
import type { RegistryStore, StoredBlob } from './store.js';
import type {
  ArtifactRecord,
  DeviceTarget,
  ModelRecord,
  ModelRegistryOptions,
  PushOptions,
  PushResult,
  SqliteRegistryOptions,
  VersionRecord,
} from './types.js';

const freeze = <T>(v: T): T => Object.freeze(v);
const SHA = /^[0-9a-f]{64}$/;

/**
 * Open the registry `options` name: `{ dbPath }` (SQLite, artifacts in `artifacts/` beside it unless
 * `artifactDir`) or `{ databaseUrl }` (PostgreSQL; its tables are created when missing). TypeError for
 * options that name neither or both; KilnError('BAD_DATABASE_URL') for a malformed URL, 'DATABASE' when the
 * server cannot be reached or refuses the login.
 */
export async function openModelRegistry(options: ModelRegistryOptions): Promise<ModelRegistry> {
  if (!options || typeof options !== 'object') throw new TypeError('openModelRegistry: options must be { dbPath } or { databaseUrl }');
  const hasPath = options.dbPath !== undefined;
  const hasUrl = options.databaseUrl !== undefined;
  if (hasPath === hasUrl)
    throw new TypeError(
      `openModelRegistry: give exactly one of options.dbPath (SQLite) and options.databaseUrl (PostgreSQL); got ${hasPath ? 'both' : 'neither'}`,
    );
  if (options.databaseUrl !== undefined) {
    const { openPostgresStore } = await import('./postgres-store.js');
    return new ModelRegistry(await openPostgresStore({ url: options.databaseUrl, schema: options.schema, connectTimeoutMs: options.connectTimeoutMs }));
  }
  const o = options as SqliteRegistryOptions;
  if (typeof o.dbPath !== 'string' || !o.dbPath) throw new TypeError('openModelRegistry: options.dbPath must be a non-empty string');
  const dbPath = o.dbPath === ':memory:' ? ':memory:' : resolve(o.dbPath);
  const artifactDir = o.artifactDir ?? (dbPath === ':memory:' ? undefined : join(dirname(dbPath), 'artifacts'));
  if (!artifactDir) throw new TypeError('openModelRegistry: an in-memory database needs options.artifactDir');
  return new ModelRegistry(new SqliteRegistryStore(dbPath, resolve(artifactDir)));
}

export class ModelRegistry {
  /** Use openModelRegistry, or pass a store of your own (it must pass tests/cloud/registry-contract.ts). */
  constructor(private readonly store: RegistryStore) {
    if (!store || typeof store.insertArtifact !== 'function') throw new TypeError('ModelRegistry: expected a RegistryStore (use openModelRegistry)');
  }

  /** Where the registry keeps its data: a SQLite file, or a PostgreSQL URL without its password. */
  get location(): string {
    return this.store.location;
  }

  /**
   * Check and register an artifact (a directory or its .tgz). Refuses a bad artifact with
   * KilnError('BAD_ARTIFACT') listing every problem (nothing is stored), a name or version other than
   * the manifest's with 'ARTIFACT_MISMATCH', and a different artifact already registered for the same
   * (model, version, target) with 'ARTIFACT_CONFLICT'.
   */
  async pushArtifact(path: string, options: PushOptions = {}): Promise<PushResult> {
    if (typeof path !== 'string' || !path) throw new TypeError('pushArtifact: path must be an artifact directory or .tgz');
    const check = checkArtifact(path, options.trustedKeys, options.maxUnpackedBytes !== undefined ? { maxBytes: options.maxUnpackedBytes } : {});
    if (!check.ok || !check.manifest) {
      throw new ArtifactRefusedError(path, check.problems);
    }
    const m = check.manifest;
    const mismatch: string[] = [];
    if (options.model !== undefined && options.model !== m.model.name) mismatch.push(`--model '${options.model}': the artifact is model '${m.model.name}'`);
    if (options.version !== undefined && options.version !== m.model.version)
      mismatch.push(`--version '${options.version}': the artifact is version '${m.model.version}'`);
    if (mismatch.length) {
      throw new KilnError('ARTIFACT_MISMATCH', `${path}: ${mismatch.join('; ')} (the name and version are part of the signed manifest)`, {
        hint: 'recompile with `kiln compile --name NAME --model-version V`, or leave --model/--version out',
      });
    }
    // The stored form: only the checked files, packed deterministically (the same bytes `kiln compile` writes).
    const entries = [...check.files]
      .filter(([name]) => name === MANIFEST_FILE || name === SIGNATURE_FILE || name in m.files)
      .map(([p, data]) => ({ path: p, data }));
    const tgz = packEntries(entries);
    const sha256 = sha256Hex(tgz);
    const sig = JSON.parse(Buffer.from(check.files.get(SIGNATURE_FILE)!).toString('utf8')) as SignatureFile;
    const v = m.verification;
    const record: ArtifactRecord = {
      model: m.model.name,
      version: m.model.version,
      target: m.target.name,
      arch: m.target.arch,
      backend: m.target.backend,
      sha256,
      sizeBytes: tgz.byteLength,
      manifestSha256: sha256Hex(check.files.get(MANIFEST_FILE)!),
      keyId: check.signer!,
      publicKey: sig.publicKey,
      quantization: m.quantization.mode,
      sizes: { sourceBytes: m.sizes.sourceBytes, artifactBytes: m.sizes.artifactBytes },
      verification: {
        runtime: v.runtime,
        passed: v.passed,
        samples: v.samples,
        outputs: v.outputs.map((o) => ({ ...o })),
        ...(v.skippedReason ? { skippedReason: v.skippedReason } : {}),
      },
      ...(m.performance
        ? {
            performance: {
              runtime: m.performance.runtime,
              floatMs: m.performance.floatMs,
              compiledMs: m.performance.compiledMs,
              speedup: m.performance.speedup,
            },
          }
        : {}),
      kilnVersion: m.build.kilnVersion,
      builtAt: m.build.createdAt,
      pushedAt: new Date().toISOString(),
    };
    // Checked first so a repeated or conflicting push sends no bytes; the store decides again, atomically, if another push got in between.
    const before = await this.store.artifact(record.model, record.version, record.target);
    if (before && before.manifestSha256 !== record.manifestSha256) throw conflict(record, before);
    if (before) return freeze({ artifact: freeze(before), created: false });
    const out = await this.store.insertArtifact(record, tgz);
    if (out.kind === 'conflict') throw conflict(record, out.existing);
    return freeze({ artifact: freeze(out.record), created: out.kind === 'created' });
  }

  /** The artifact of `model` `version` for `target`, or undefined. */
  async artifactFor(model: string, version: string, target: string): Promise<ArtifactRecord | undefined> {
    const r = await this.store.artifact(model, version, target);
    return r && freeze(r);
  }

  /** Every artifact of a version, by target. */
  async artifactsOf(model: string, version: string): Promise<ArtifactRecord[]> {
    return (await this.store.artifactsOf(model, version)).map(freeze);
  }

  /** Every model, by name. */
  async listModels(): Promise<ModelRecord[]> {
    return (await this.store.models()).map(freeze);
  }

  /** The versions of `model`, oldest push first (empty for an unknown model). */
  async listVersions(model: string): Promise<VersionRecord[]> {
    return (await this.store.versions(model)).map(freeze);
  }

  /**
   * The devices (or targets) among `devices` that `model` `version` has no artifact for: a deployment
   * to a group is refused when this is not empty. Strings are target names.
   */
  async missingTargets(model: string, version: string, devices: readonly (DeviceTarget | string)[]): Promise<DeviceTarget[]> {
    const have = new Set((await this.store.artifactsOf(model, version)).map((a) => a.target));
    return devices.map((d) => (typeof d === 'string' ? { target: d } : { ...d })).filter((d) => !have.has(d.target));
  }

  /** Throw KilnError('NO_ARTIFACT') listing every device/target `model` `version` cannot serve. */
  async requireTargets(model: string, version: string, devices: readonly (DeviceTarget | string)[]): Promise<void> {
    const missing = await this.missingTargets(model, version, devices);
    if (!missing.length) return;
    const byTarget = new Map<string, string[]>();
    for (const d of missing) byTarget.set(d.target, [...(byTarget.get(d.target) ?? []), ...(d.deviceId ? [d.deviceId] : [])]);
    const lines = [...byTarget].map(([t, ids]) => `  - target '${t}'${ids.length ? `: ${ids.join(', ')}` : ''}`);
    const has = (await this.store.artifactsOf(model, version)).map((a) => a.target);
    throw new KilnError(
      'NO_ARTIFACT',
      `${model} ${version} has no artifact for ${byTarget.size === 1 ? 'a target' : 'targets'} that ${missing.length} device(s) need:\n${lines.join('\n')}\n  (it has: ${has.join(', ') || 'none'})`,
      {
        hint: `compile it for ${[...byTarget.keys()].join(', ')} and push the artifacts, or leave those devices out`,
      },
    );
  }

  /**
   * The stored .tgz with this sha256 (its size, and a stream of any byte range), when this registry
   * holds it — whichever instance sharing the registry received the push. RangeError for a malformed sha256.
   */
  async artifactBlob(sha256: string): Promise<StoredBlob | undefined> {
    if (typeof sha256 !== 'string' || !SHA.test(sha256)) throw new RangeError(`artifactBlob: '${sha256}' is not a lower-case hex sha256`);
    return this.store.blob(sha256);
  }

  /**
   * The desired-state entry for a device of `target` to run `model` `version`, its URL under `baseUrl`
   * (the artifact server, e.g. http://cloud:8080). Throws KilnError('NO_ARTIFACT') when there is none.
   */
  async desiredEntryFor(model: string, version: string, target: string, baseUrl: string): Promise<DesiredModel> {
    const a = await this.store.artifact(model, version, target);
    if (!a) await this.requireTargets(model, version, [target]);
    return DesiredModelSchema.parse({
      version,
      artifact: { url: artifactUrl(baseUrl, a!.sha256), sha256: a!.sha256, sizeBytes: a!.sizeBytes, signature: { algorithm: 'ed25519', keyId: a!.keyId } },
    });
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

/** `${baseUrl}/artifacts/${sha256}.tgz`, with one slash whatever baseUrl ends with. */
export const artifactUrl = (baseUrl: string, sha256: string): string => `${baseUrl.replace(/\/+$/, '')}/artifacts/${sha256}.tgz`;

/** KilnError('BAD_ARTIFACT') for an artifact that failed its checks; `problems` lists every one (nothing was stored). */
export class ArtifactRefusedError extends KilnError {
  override name = 'ArtifactRefusedError';
  readonly problems: readonly string[];
  constructor(path: string, problems: readonly string[]) {
    super('BAD_ARTIFACT', `${path}: refused, the artifact did not pass its checks:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      hint: 'push an artifact exactly as `kiln compile` wrote it, signed by a trusted key',
    });
    this.problems = Object.freeze([...problems]);
  }
}

function conflict(pushed: ArtifactRecord, existing: ArtifactRecord): KilnError {
  return new KilnError(
    'ARTIFACT_CONFLICT',
    `${pushed.model} ${pushed.version} already has a different artifact for target '${pushed.target}' (pushed ${existing.pushedAt}, sha256 ${existing.sha256.slice(0, 12)}…, built ${existing.builtAt}); this one (sha256 ${pushed.sha256.slice(0, 12)}…, built ${pushed.builtAt}) was not stored`,
    { hint: 'a pushed version is immutable: compile the change as a new version (kiln compile --model-version V)' },
  );
}
