/** `kiln help errors`: the error catalogue (src/errors.ts), one code a line with its exit code, HTTP status and fix. */
import { ErrorCodes } from '../errors.js';
import { table, wrap } from '../format.js';
import type { HelpTopic } from './framework.js';

export const errorsTopic: HelpTopic = {
  summary: 'every error code: what it means, its exit code and HTTP status, and the fix',
  render(json) {
    const entries = Object.entries(ErrorCodes).map(([code, e]) => ({ code, exitCode: e.exitCode, http: e.http, summary: e.summary, fix: e.fix }));
    if (json) return `${JSON.stringify({ errors: entries }, null, 2)}\n`;
    const lines = [
      'kiln errors — every error has a stable code; the CLI exits 2 for bad input, 1 when the operation failed.',
      '',
      table(
        entries.map((e) => [e.code, String(e.exitCode), String(e.http), e.summary]),
        { header: ['CODE', 'EXIT', 'HTTP', 'MEANING'] },
      ),
      '',
      'Fixes',
      ...entries.map((e) => wrap(`${e.code}: ${e.fix}`, 100, 4).replace(/^ {4}/, '  ')),
    ];
    return `${lines.join('\n')}\n`;
  },
};
