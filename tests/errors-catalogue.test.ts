/**
 * The error catalogue (src/errors.ts): every code thrown in src/ is in it, each with an exit code and
 * an HTTP status that agree on whose fault it is, and internal failures are never reported as bad input.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, KilnError, catalogued } from '../src/errors.js';
import { RequestError } from '../src/edge-agent/errors.js';
import { refusal } from '../src/cli/cloud-client.js';
import { runMain } from '../src/cli/main.js';
import { captureIo } from '../src/cli/io.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.(ts|js|cjs|mjs)$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** Every place src/ names an error code: thrown, compared, or returned as one (comments included: they must stay true). */
const CODE_USES = [
  /KilnError\(\s*'([A-Z][A-Z0-9_]*)'/g,
  /super\(\s*'([A-Z][A-Z0-9_]*)'/g,
  /\bcode\s*[!=]==?\s*'([A-Z][A-Z0-9_]*)'/g,
  /\bhttpStatus\b.*'([A-Z][A-Z0-9_]*)'/g,
];

/** Node's own error codes (ENOENT, EADDRINUSE, ERR_…), which src/ compares too. */
const NODE_ERRNO = /^(E[A-Z]+|ERR_[A-Z_]+)$/;

describe('the error catalogue', () => {
  it('holds every code that src/ throws or compares, and src/ throws no bare Error', () => {
    const uses: { file: string; code: string }[] = [];
    const bare: string[] = [];
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8');
      for (const pattern of CODE_USES) for (const m of text.matchAll(pattern)) if (!NODE_ERRNO.test(m[1])) uses.push({ file: relative(SRC, file), code: m[1] });
      text.split('\n').forEach((line, i) => line.includes('throw new Error(') && bare.push(`src/${relative(SRC, file)}:${i + 1}`));
    }
    expect(uses.length).toBeGreaterThan(200);
    expect(uses.filter((u) => !catalogued(u.code))).toEqual([]);
    expect(bare).toEqual([]);
    // Every catalogued code is used somewhere (no dead entries).
    const used = new Set(uses.map((u) => u.code));
    const codeTypes = readFileSync(join(SRC, 'edge-agent/errors.ts'), 'utf8') + readFileSync(join(SRC, 'cli/cloud-client.ts'), 'utf8');
    expect(Object.keys(ErrorCodes).filter((c) => !used.has(c) && !codeTypes.includes(`'${c}'`))).toEqual([]);
  });

  it('gives each code an exit code and HTTP status that agree on whose fault it is, and a one-line fix', () => {
    for (const [code, e] of Object.entries(ErrorCodes)) {
      expect([1, 2], code).toContain(e.exitCode);
      // Bad input (exit 2) is a 4xx; a failed operation (exit 1) is a 5xx.
      expect(e.exitCode === 2 ? e.http >= 400 && e.http < 500 : e.http >= 500 && e.http < 600, `${code}: exit ${e.exitCode}, HTTP ${e.http}`).toBe(true);
      expect(e.fix.length, code).toBeGreaterThan(10);
      expect(e.fix, code).not.toContain('\n');
      expect(new KilnError(code as keyof typeof ErrorCodes, 'x').httpStatus).toBe(e.http);
    }
    expect(catalogued('NO_SUCH_CODE')).toBeUndefined();
  });

  it('never reports the agent’s or the cloud’s own failure as bad input', () => {
    expect(new RequestError(500, 'the model run failed: boom')).toMatchObject({ code: 'MODEL_RUN_FAILED', exitCode: 1, status: 500 });
    expect(new RequestError(503, 'not ready')).toMatchObject({ code: 'AGENT_NOT_READY', exitCode: 1 });
    expect(new RequestError(400, 'bad tensor')).toMatchObject({ code: 'AGENT_REQUEST', exitCode: 2 });
    expect(new RequestError(401, 'token')).toMatchObject({ code: 'UNAUTHORIZED', exitCode: 2 });
    const answer = (status: number, error?: string) => refusal({ status, ok: false, data: { error, message: 'said' } });
    expect(answer(500)).toMatchObject({ code: 'INTERNAL', exitCode: 1 });
    expect(answer(503)).toMatchObject({ code: 'INTERNAL', exitCode: 1 });
    expect(answer(400, 'bad-request')).toMatchObject({ code: 'REQUEST_REFUSED', exitCode: 2 });
    expect(answer(401)).toMatchObject({ code: 'UNAUTHORIZED', exitCode: 2 });
    expect(answer(409, 'no-artifact')).toMatchObject({ code: 'NO_ARTIFACT', exitCode: 2 });
  });

  it('kiln help errors lists every code with its exit code, HTTP status and fix; --json too', async () => {
    const io = captureIo();
    expect(await runMain(['help', 'errors'], io)).toBe(0);
    for (const [code, e] of Object.entries(ErrorCodes)) {
      expect(io.out).toMatch(new RegExp(`^${code}\\s+${e.exitCode}\\s+${e.http}\\s+`, 'm'));
      expect(io.out).toContain(`${code}: ${e.fix.split(' ')[0]}`);
    }
    const json = captureIo();
    expect(await runMain(['help', 'errors', '--json'], json)).toBe(0);
    expect(JSON.parse(json.out).errors.map((e: { code: string }) => e.code)).toEqual(Object.keys(ErrorCodes));
  });
});
