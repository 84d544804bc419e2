/**
 * Checking and showing a registry database URL, without loading `pg` (the CLI and startCloud check a
 * URL before starting anything; messages never show its password).
 */
import { KilnError } from '../../errors.js';

/** `url` with its password replaced by `***`, for messages and logs. Undefined when it is not a URL. */
export function redactUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return undefined;
  }
}

/** Check a database URL without connecting: KilnError('BAD_DATABASE_URL') saying what is wrong with it. */
export function checkDatabaseUrl(url: string): void {
  const example = 'expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE';
  if (typeof url !== 'string' || !url) throw new KilnError('BAD_DATABASE_URL', `database URL: ${example}, got ${url === '' ? 'an empty string' : typeof url}`);
  const shown = redactUrl(url);
  if (shown === undefined) throw new KilnError('BAD_DATABASE_URL', `database URL '${url.replace(/:[^:@/]*@/, ':***@')}' is not a URL: ${example}`);
  const u = new URL(url);
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new KilnError('BAD_DATABASE_URL', `database URL '${shown}': scheme '${u.protocol.slice(0, -1)}' is not supported: ${example}`, {
      hint: 'the model registry stores in PostgreSQL by URL, or in SQLite by --db FILE',
    });
  }
}
