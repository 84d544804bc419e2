/**
 * The operator token that guards the cloud's /api/* routes: given (--token / KILN_CLOUD_TOKEN), or
 * generated on first start and kept beside the database in `api-token` (mode 0600), then reused.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const TOKEN_FILE = 'api-token';
const MIN_TOKEN_LENGTH = 16;

export interface OperatorToken {
  token: string;
  /** Where it is stored; undefined when it was given. */
  file?: string;
  /** True when this call generated it. */
  created: boolean;
}

/** The file the token of the cloud with database `dbPath` lives in. */
export const tokenFileFor = (dbPath: string): string => join(dirname(dbPath), TOKEN_FILE);

/** Check a token given by an operator: RangeError when it is too short or has whitespace. */
export function checkToken(token: string): string {
  if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new RangeError(`the operator token must be at least ${MIN_TOKEN_LENGTH} characters without spaces`);
  }
  return token;
}

/** `given` when set (checked), else the stored token beside `dbPath`, else a new one written there with mode 0600. */
export function loadOrCreateToken(dbPath: string, given?: string): OperatorToken {
  if (given !== undefined && given !== '') return { token: checkToken(given), created: false };
  const file = tokenFileFor(dbPath);
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    chmodSync(file, 0o600);
    return { token: checkToken(token), file, created: false };
  }
  mkdirSync(dirname(file), { recursive: true });
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { token, file, created: true };
}

/** Constant-time comparison of a presented token with the expected one. */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
