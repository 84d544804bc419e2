import { expect } from 'vitest';
import { KilnError, type ErrorCode } from '../../src/errors.js';

/** Run `fn`, expect a KilnError with `code` whose message contains every fragment (string or pattern); returns it. */
export async function expectKilnError(fn: () => unknown, code: ErrorCode, ...fragments: (string | RegExp)[]): Promise<KilnError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a KilnError to be thrown').toBeInstanceOf(KilnError);
  const err = caught as KilnError;
  expect(err.code).toBe(code);
  for (const f of fragments) {
    if (typeof f === 'string') expect(err.message).toContain(f);
    else expect(err.message).toMatch(f);
  }
  return err;
}
