/**
 * Artifact packaging: a directory with model.onnx, manifest.json and signature.json, plus a
 * single-file .tgz of the same. Written atomically: a failed compile leaves nothing half-written.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import { checkManifest, type ArtifactManifest } from './manifest.js';
import { packDir, unpackEntries, type ArchiveEntry, type UnpackLimits } from './archive.js';
import { signBytes, verifySignature, type SignatureFile, type SigningKey } from './signing.js';

export const MODEL_FILE = 'model.onnx';
export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'signature.json';

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Canonical JSON (sorted keys, 2-space indent) so the signed bytes are reproducible. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

export interface WrittenArtifact {
  dir: string;
  archive: string;
  manifest: ArtifactManifest;
}

/**
 * Write an artifact directory at `outDir` (replacing an existing one only once the new one is
 * complete) and its archive `${outDir}.tgz`. `manifest.files` is filled in here.
 */
export function writeArtifact(outDir: string, manifest: Omit<ArtifactManifest, 'files'>, files: Record<string, Uint8Array>, key: SigningKey): WrittenArtifact {
  if (!files[MODEL_FILE]) throw new TypeError(`writeArtifact: files must include ${MODEL_FILE}`);
  const dir = resolve(outDir);
  const full: ArtifactManifest = {
    ...manifest,
    files: Object.fromEntries(Object.entries(files).map(([name, data]) => [name, { sha256: sha256Hex(data), sizeBytes: data.byteLength }])),
  };
  const checked = checkManifest(full);
  if (!checked.ok) {
    throw new KilnError('INTERNAL', `kiln built an invalid manifest: ${checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
  const manifestBytes = Buffer.from(canonicalJson(full));
  const signature = signBytes(manifestBytes, key);
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${Date.now()}`);
  const old = join(dirname(dir), `.${basename(dir)}.old-${process.pid}-${Date.now()}`);
  try {
    mkdirSync(tmp, { recursive: true });
    for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, name), data);
    writeFileSync(join(tmp, MANIFEST_FILE), manifestBytes);
    writeFileSync(join(tmp, SIGNATURE_FILE), `${JSON.stringify(signature, null, 2)}\n`);
    const archive = packDir(tmp);
    writeFileSync(`${tmp}.tgz`, archive);
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(tmp, dir);
    renameSync(`${tmp}.tgz`, `${dir}.tgz`);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(`${tmp}.tgz`, { force: true });
    if (existsSync(old) && !existsSync(dir)) renameSync(old, dir);
    throw err;
  } finally {
    rmSync(old, { recursive: true, force: true });
  }
  return { dir, archive: `${dir}.tgz`, manifest: full };
}

export interface ArtifactCheck {
  ok: boolean;
  manifest?: ArtifactManifest;
  signer?: string;
  /** Each problem found, in words. Empty when ok. */
  problems: string[];
  files: Map<string, Uint8Array>;
}

/** Read an artifact from a directory or a .tgz, without trusting anything in it yet. */
export function readArtifactFiles(path: string, limits: UnpackLimits = {}): Map<string, Uint8Array> {
  if (!existsSync(path)) throw new KilnError('FILE_NOT_FOUND', `${path}: no such artifact`, { hint: 'pass an artifact directory or its .tgz' });
  let entries: ArchiveEntry[];
  if (statSync(path).isDirectory()) {
    entries = [MODEL_FILE, MANIFEST_FILE, SIGNATURE_FILE].filter((n) => existsSync(join(path, n))).map((n) => ({ path: n, data: readFileSync(join(path, n)) }));
    const manifestPath = join(path, MANIFEST_FILE);
    if (existsSync(manifestPath)) {
      try {
        const listed = Object.keys((JSON.parse(readFileSync(manifestPath, 'utf8')) as { files?: object }).files ?? {});
        for (const n of listed)
          if (!entries.some((e) => e.path === n) && existsSync(join(path, n))) entries.push({ path: n, data: readFileSync(join(path, n)) });
      } catch {
        /* reported by checkArtifact */
      }
    }
  } else {
    entries = unpackEntries(readFileSync(path), path, limits);
  }
  return new Map(entries.map((e) => [e.path, e.data]));
}

/**
 * Check an artifact: manifest schema, signature over the manifest (against trustedKeys when given),
 * and every file's sha256 and size. Never throws for a bad artifact: problems are listed.
 */
export function checkArtifact(path: string, trustedKeys?: readonly string[], limits: UnpackLimits = {}): ArtifactCheck {
  const files = readArtifactFiles(path, limits);
  const problems: string[] = [];
  const manifestBytes = files.get(MANIFEST_FILE);
  const sigBytes = files.get(SIGNATURE_FILE);
  if (!manifestBytes) return { ok: false, problems: [`${MANIFEST_FILE} is missing`], files };
  let manifest: ArtifactManifest | undefined;
  try {
    const checked = checkManifest(JSON.parse(Buffer.from(manifestBytes).toString('utf8')));
    if (checked.ok) manifest = checked.manifest;
    else problems.push(...checked.problems.map((p) => `manifest ${p.path}: ${p.message}`));
  } catch (err) {
    problems.push(`${MANIFEST_FILE} is not JSON (${(err as Error).message})`);
  }
  let signer: string | undefined;
  if (!sigBytes) problems.push(`${SIGNATURE_FILE} is missing (unsigned artifact)`);
  else {
    try {
      const sig = JSON.parse(Buffer.from(sigBytes).toString('utf8')) as SignatureFile;
      const res = verifySignature(manifestBytes, sig, trustedKeys);
      if (res.ok) signer = res.keyId;
      else problems.push(res.reason);
    } catch (err) {
      problems.push(`${SIGNATURE_FILE} is not JSON (${(err as Error).message})`);
    }
  }
  if (manifest) {
    if (!manifest.files[MODEL_FILE]) problems.push(`manifest lists no ${MODEL_FILE}`);
    for (const [name, want] of Object.entries(manifest.files)) {
      const data = files.get(name);
      if (!data) problems.push(`${name} is missing`);
      else if (data.byteLength !== want.sizeBytes) problems.push(`${name} is ${data.byteLength} bytes, the manifest says ${want.sizeBytes}`);
      else if (sha256Hex(data) !== want.sha256) problems.push(`${name} does not match its sha256 in the manifest (tampered or corrupt)`);
    }
  }
  return { ok: problems.length === 0, manifest, signer, problems, files };
}
