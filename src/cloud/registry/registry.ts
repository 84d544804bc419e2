/**
 * The model registry: models, versions and per-target artifacts. `pushArtifact` checks an artifact
 * (schema, signature, every file's hash), stores its .tgz by sha256 and records it with its manifest's
 * metadata; the same artifact pushed twice changes nothing, a different one for the same
 * (model, version, target) is refused. Deployments ask it which artifact a device of a target gets
 * (`desiredEntryFor`) and which devices it could not serve (`missingTargets`).
 */
import { dirname, join, resolve } from 'node:path';
import { KilnError } from '../../errors.js';
import { checkArtifact, MANIFEST_FILE, MODEL_FILE, SIGNATURE_FILE, sha256Hex } from '../../protocol/artifact.js';
import { packEntries } from '../../protocol/archive.js';
import type { SignatureFile } from '../../protocol/signing.js';
import { DesiredModelSchema, type DesiredModel } from '../../protocol/sync.js';
import { BlobStore } from './blobs.js';
import { RegistryDb } from './db.js';
import type { ArtifactRecord, DeviceTarget, ModelRecord, ModelRegistryOptions, PushOptions, PushResult, VersionRecord } from './types.js';

const freeze = <T>(v: T): T => Object.freeze(v);

export class ModelRegistry {
  private readonly db: RegistryDb;
  private readonly blobs: BlobStore;

  constructor(options: ModelRegistryOptions) {
    if (!options || typeof options.dbPath !== 'string' || !options.dbPath) throw new TypeError('ModelRegistry: options.dbPath must be a non-empty string');
    const dbPath = options.dbPath === ':memory:' ? ':memory:' : resolve(options.dbPath);
    const artifactDir = options.artifactDir ?? (dbPath === ':memory:' ? undefined : join(dirname(dbPath), 'artifacts'));
    if (!artifactDir) throw new TypeError("ModelRegistry: an in-memory database needs options.artifactDir");
    this.db = new RegistryDb(dbPath);
    this.blobs = new BlobStore(resolve(artifactDir));
  }

  /** The folder holding the .tgz files. */
  get artifactDir(): string {
    return this.blobs.dir;
  }

  /**
   * Check and register an artifact (a directory or its .tgz). Refuses a bad artifact with
   * KilnError('BAD_ARTIFACT') listing every problem (nothing is stored), a name or version other than
   * the manifest's with 'BAD_OPTION', and a different artifact already registered for the same
   * (model, version, target) with 'ARTIFACT_CONFLICT'.
   */
  pushArtifact(path: string, options: PushOptions = {}): PushResult {
    if (typeof path !== 'string' || !path) throw new TypeError('pushArtifact: path must be an artifact directory or .tgz');
    const check = checkArtifact(path, options.trustedKeys);
    if (!check.ok || !check.manifest) {
      throw new KilnError('BAD_ARTIFACT', `${path}: refused, the artifact did not pass its checks:\n${check.problems.map((p) => `  - ${p}`).join('\n')}`, {
        hint: 'push an artifact exactly as `kiln compile` wrote it, signed by a trusted key',
      });
    }
    const m = check.manifest;
    const mismatch: string[] = [];
    if (options.model !== undefined && options.model !== m.model.name) mismatch.push(`--model '${options.model}': the artifact is model '${m.model.name}'`);
    if (options.version !== undefined && options.version !== m.model.version) mismatch.push(`--version '${options.version}': the artifact is version '${m.model.version}'`);
    if (mismatch.length) {
      throw new KilnError('BAD_OPTION', `${path}: ${mismatch.join('; ')} (the name and version are part of the signed manifest)`, {
        hint: 'recompile with `kiln compile --name NAME --model-version V`, or leave --model/--version out',
      });
    }
    // The stored form: only the checked files, packed deterministically (the same bytes `kiln compile` writes).
    const entries = [...check.files].filter(([name]) => name === MANIFEST_FILE || name === SIGNATURE_FILE || name in m.files).map(([p, data]) => ({ path: p, data }));
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
      verification: { runtime: v.runtime, passed: v.passed, samples: v.samples, outputs: v.outputs.map((o) => ({ ...o })), ...(v.skippedReason ? { skippedReason: v.skippedReason } : {}) },
      ...(m.performance ? { performance: { runtime: m.performance.runtime, floatMs: m.performance.floatMs, compiledMs: m.performance.compiledMs, speedup: m.performance.speedup } } : {}),
      kilnVersion: m.build.kilnVersion,
      builtAt: m.build.createdAt,
      pushedAt: new Date().toISOString(),
    };
    const before = this.db.artifact(record.model, record.version, record.target);
    if (before && before.manifestSha256 !== record.manifestSha256) throw conflict(record, before);
    if (before) return freeze({ artifact: freeze(before), created: false });
    this.blobs.put(sha256, tgz);
    const out = this.db.insertArtifact(record);
    if (out.kind === 'conflict') throw conflict(record, out.existing);
    return freeze({ artifact: freeze(out.record), created: out.kind === 'created' });
  }

  /** The artifact of `model` `version` for `target`, or undefined. */
  artifactFor(model: string, version: string, target: string): ArtifactRecord | undefined {
    const r = this.db.artifact(model, version, target);
    return r && freeze(r);
  }

  /** Every artifact of a version, by target. */
  artifactsOf(model: string, version: string): ArtifactRecord[] {
    return this.db.artifactsOf(model, version).map(freeze);
  }

  listModels(): ModelRecord[] {
    return this.db.models().map(freeze);
  }

  /** The versions of `model`, oldest push first (empty for an unknown model). */
  listVersions(model: string): VersionRecord[] {
    return this.db.versions(model).map(freeze);
  }

  /**
   * The devices (or targets) among `devices` that `model` `version` has no artifact for: a deployment
   * to a group is refused when this is not empty. Strings are target names.
   */
  missingTargets(model: string, version: string, devices: readonly (DeviceTarget | string)[]): DeviceTarget[] {
    const have = new Set(this.db.artifactsOf(model, version).map((a) => a.target));
    return devices.map((d) => (typeof d === 'string' ? { target: d } : { ...d })).filter((d) => !have.has(d.target));
  }

  /** Throw KilnError('NO_ARTIFACT') listing every device/target `model` `version` cannot serve. */
  requireTargets(model: string, version: string, devices: readonly (DeviceTarget | string)[]): void {
    const missing = this.missingTargets(model, version, devices);
    if (!missing.length) return;
    const byTarget = new Map<string, string[]>();
    for (const d of missing) byTarget.set(d.target, [...(byTarget.get(d.target) ?? []), ...(d.deviceId ? [d.deviceId] : [])]);
    const lines = [...byTarget].map(([t, ids]) => `  - target '${t}'${ids.length ? `: ${ids.join(', ')}` : ''}`);
    const has = this.db.artifactsOf(model, version).map((a) => a.target);
    throw new KilnError('NO_ARTIFACT', `${model} ${version} has no artifact for ${byTarget.size === 1 ? 'a target' : 'targets'} that ${missing.length} device(s) need:\n${lines.join('\n')}\n  (it has: ${has.join(', ') || 'none'})`, {
      hint: `compile it for ${[...byTarget.keys()].join(', ')} and push the artifacts, or leave those devices out`,
    });
  }

  /** The file holding the .tgz with this sha256, when this registry stores it. RangeError for a malformed sha256. */
  artifactFile(sha256: string): { path: string; sizeBytes: number } | undefined {
    const size = this.blobs.size(sha256);
    return size === undefined ? undefined : { path: this.blobs.pathOf(sha256), sizeBytes: size };
  }

  /**
   * The desired-state entry for a device of `target` to run `model` `version`, its URL under `baseUrl`
   * (the artifact server, e.g. http://cloud:8080). Throws KilnError('NO_ARTIFACT') when there is none.
   */
  desiredEntryFor(model: string, version: string, target: string, baseUrl: string): DesiredModel {
    const a = this.db.artifact(model, version, target);
    if (!a) this.requireTargets(model, version, [target]);
    return DesiredModelSchema.parse({ version, artifact: { url: artifactUrl(baseUrl, a!.sha256), sha256: a!.sha256, sizeBytes: a!.sizeBytes, signature: { algorithm: 'ed25519', keyId: a!.keyId } } });
  }

  close(): void {
    this.db.close();
  }
}

/** `${baseUrl}/artifacts/${sha256}.tgz`, with one slash whatever baseUrl ends with. */
export const artifactUrl = (baseUrl: string, sha256: string): string => `${baseUrl.replace(/\/+$/, '')}/artifacts/${sha256}.tgz`;

function conflict(pushed: ArtifactRecord, existing: ArtifactRecord): KilnError {
  return new KilnError(
    'ARTIFACT_CONFLICT',
    `${pushed.model} ${pushed.version} already has a different artifact for target '${pushed.target}' (pushed ${existing.pushedAt}, sha256 ${existing.sha256.slice(0, 12)}…, built ${existing.builtAt}); this one (sha256 ${pushed.sha256.slice(0, 12)}…, built ${pushed.builtAt}) was not stored`,
    { hint: 'a pushed version is immutable: compile the change as a new version (kiln compile --model-version V)' },
  );
}
