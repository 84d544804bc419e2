/** The real program, as a user runs it: `node bin/kiln.js ...` in a subprocess. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/kiln.js', import.meta.url));

const kiln = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('bin/kiln.js', () => {
  it('--help lists the commands and exits 0', () => {
    const r = kiln('--help');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage\n  kiln <command> [options]');
    expect(r.out).toMatch(/inspect\s+show a model/);
    expect(r.out).toMatch(/models list/);
    expect(r.out).toMatch(/import tfjs/);
  });
  it('inspect --help teaches the command', () => {
    const r = kiln('inspect', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('kiln inspect <model> [options]');
    expect(r.out).toContain('--shape NAME=DIMS');
  });
  it('--version names kiln and onnxruntime', () => {
    const r = kiln('--version');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^kiln\s+\d+\.\d+\.\d+$/m);
    expect(r.out).toMatch(/^onnxruntime-node\s+\d+\.\d+\.\d+$/m);
  });
  it('BAD CALL - a missing file exits 2 with one line on stderr and nothing on stdout', () => {
    const r = kiln('inspect', 'does-not-exist.onnx');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^kiln: .*does-not-exist\.onnx: no such file — check the path\n$/);
  });
  it('BAD CALL - an unknown flag exits 2', () => {
    const r = kiln('inspect', 'x.onnx', '--frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toBe("kiln: unknown option '--frobnicate' — see kiln inspect --help\n");
  });
});
