import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../../src/errors.js';
import { listBuiltinTargets, loadAllTargets, loadTarget, missingFeatures, parseTargetProfile } from '../../src/targets/profiles.js';

describe('target profiles', () => {
  it('ships the four target families, each valid and frozen', () => {
    const names = listBuiltinTargets();
    for (const n of ['x86_64', 'x86_64-vnni', 'arm64', 'gpu-cuda', 'wasm']) expect(names).toContain(n);
    for (const t of loadAllTargets()) {
      expect(t.name).toBe(names.find((n) => n === t.name));
      expect(Object.isFrozen(t) && Object.isFrozen(t.numerics.int8)).toBe(true);
    }
    expect(loadTarget('wasm').runtime.operators).toBe('portable');
    expect(loadTarget('gpu-cuda').numerics.fast[0]).toBe('fp16');
  });

  it('BAD CALL: a profile with typos lists every problem, with suggestions', () => {
    const good = JSON.parse(readFileSync(new URL('../../targets/arm64.json', import.meta.url), 'utf8'));
    const bad = { ...good, thread: 4, numerics: { ...good.numerics, int8: { ...good.numerics.int8, activations: 'u8' } } };
    delete bad.threads;
    const dir = mkdtempSync(join(tmpdir(), 'kiln-target-'));
    const file = join(dir, 'my-board.json');
    writeFileSync(file, JSON.stringify(bad));
    let err: unknown;
    try {
      loadTarget(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    const msg = (err as KilnError).message;
    expect((err as KilnError).code).toBe('BAD_TARGET_PROFILE');
    expect(msg).toContain('my-board.json');
    expect(msg).toContain('3 problems');
    expect(msg).toMatch(/unknown key 'thread' \(did you mean 'threads'\?\)/);
    expect(msg).toContain('numerics.int8.activations');
    expect(msg).toMatch(/threads: .*(expected|Invalid)/i);
  });

  it('BAD CALL: an unknown built-in name suggests the closest and lists them all', () => {
    expect(() => loadTarget('x86-64')).toThrowError(
      /unknown target 'x86-64' \(did you mean 'x86_64'\?\).*built-in targets: arm64, gpu-cuda, wasm, x86_64, x86_64-vnni/s,
    );
    expect(() => loadTarget('./nope.json')).toThrowError(/does not exist/);
  });

  it('BAD CALL: a file that is not JSON names the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-target-'));
    writeFileSync(join(dir, 'x.json'), '{ "name": ');
    expect(() => loadTarget(join(dir, 'x.json'))).toThrowError(/x\.json: not valid JSON/);
  });

  it('matches host features, `a|b` meaning either', () => {
    const vnni = loadTarget('x86_64-vnni');
    expect(missingFeatures(vnni, new Set(['avx2', 'fma', 'avx_vnni']))).toEqual([]);
    expect(missingFeatures(vnni, new Set(['avx2', 'fma']))).toEqual(['avx512_vnni|avx_vnni']);
    expect(() => parseTargetProfile({}, 'inline')).toThrowError(/inline: invalid target profile/);
  });
});
