/**
 * ed25519 signatures over artifacts. A signature covers the exact bytes of manifest.json, and the
 * manifest holds the sha256 of every other file, so one signature covers the artifact.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KilnError } from '../errors.js';

export interface SignatureFile {
  algorithm: 'ed25519';
  /** First 16 hex chars of sha256(raw public key): names the key. */
  keyId: string;
  /** Raw 32-byte public key, base64. */
  publicKey: string;
  /** Signature over manifest.json's bytes, base64. */
  signature: string;
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
  publicKeyBase64: string;
}

const rawPublicKey = (key: KeyObject): Buffer => {
  const der = key.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
};

export const keyIdOf = (rawPublic: Uint8Array): string => createHash('sha256').update(rawPublic).digest('hex').slice(0, 16);

function fromPrivate(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new KilnError('BAD_SIGNING_KEY', `signing key is ${privateKey.asymmetricKeyType}, kiln signs with ed25519`, {
      hint: 'create one with: openssl genpkey -algorithm ed25519 -out key.pem',
    });
  }
  const publicKey = createPublicKey(privateKey);
  const raw = rawPublicKey(publicKey);
  return { privateKey, publicKey, keyId: keyIdOf(raw), publicKeyBase64: raw.toString('base64') };
}

/** Load a PEM private key (PKCS#8 ed25519). */
export function loadSigningKey(path: string): SigningKey {
  if (!existsSync(path)) throw new KilnError('FILE_NOT_FOUND', `signing key ${path} does not exist`);
  try {
    return fromPrivate(createPrivateKey(readFileSync(path)));
  } catch (err) {
    if (err instanceof KilnError) throw err;
    throw new KilnError('BAD_SIGNING_KEY', `${path} is not a PEM private key (${(err as Error).message})`, {
      hint: 'create one with: openssl genpkey -algorithm ed25519 -out key.pem',
    });
  }
}

/** The default key in `configDir` (kiln's config dir, src/config-dir.ts), generated on first use (0600). */
export function defaultSigningKey(configDir: string): SigningKey {
  const path = join(configDir, 'keys', 'signing-key.pem');
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    chmodSync(path, 0o600);
    const key = fromPrivate(privateKey);
    writeFileSync(join(dirname(path), 'signing-key.pub'), `${key.publicKeyBase64}\n`);
    return key;
  }
  return loadSigningKey(path);
}

export function signBytes(bytes: Uint8Array, key: SigningKey): SignatureFile {
  return {
    algorithm: 'ed25519',
    keyId: key.keyId,
    publicKey: key.publicKeyBase64,
    signature: sign(null, bytes, key.privateKey).toString('base64'),
  };
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  // SPKI DER prefix for an ed25519 public key (RFC 8410), then the 32 raw bytes.
  const prefix = Buffer.from('302a300506032b6570032100', 'hex');
  return createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
}

export type SignatureCheck = { ok: true; keyId: string; trusted: boolean } | { ok: false; reason: string };

/**
 * Check a signature over `bytes`. With `trustedKeys` (raw public keys, base64) the signer must be one
 * of them; without, any valid signature passes but is reported as not trusted.
 */
export function verifySignature(bytes: Uint8Array, sig: SignatureFile, trustedKeys?: readonly string[]): SignatureCheck {
  if (sig.algorithm !== 'ed25519') return { ok: false, reason: `unsupported signature algorithm '${sig.algorithm}'` };
  let raw: Buffer;
  try {
    raw = Buffer.from(sig.publicKey, 'base64');
    if (raw.length !== 32) return { ok: false, reason: 'public key is not 32 bytes' };
    if (!verify(null, bytes, publicKeyFromRaw(raw), Buffer.from(sig.signature, 'base64'))) {
      return { ok: false, reason: 'signature does not match the manifest (the artifact was changed after signing)' };
    }
  } catch (err) {
    return { ok: false, reason: `malformed signature: ${(err as Error).message}` };
  }
  const keyId = keyIdOf(raw);
  if (trustedKeys && !trustedKeys.includes(sig.publicKey)) {
    return { ok: false, reason: `signed by key ${keyId}, which is not among the trusted keys` };
  }
  return { ok: true, keyId, trusted: !!trustedKeys };
}
