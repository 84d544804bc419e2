/**
 * `kiln batch`: scores a folder into JSON lines; a rerun scores only new or changed files; a line
 * cut short by a crash is dropped and its file scored again.
 */
import { appendFileSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { encodeNpy } from '../../src/numerics/npy.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';
import { kilnHome, makeArtifact, randomInput, tempDir, type TestArtifact } from './helpers.js';

let root: string;
let art: TestArtifact;
beforeAll(async () => {
  root = tempDir();
  art = await makeArtifact(root, 'cnn', '1');
});

const kiln = async (argv: string[]) => {
  const io = captureIo({ cwd: root, env: { KILN_HOME: kilnHome } });
  const code = await runMain(argv, io);
  return { code, out: io.out, err: io.err };
};
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('kiln batch', () => {
  it('scores a folder, then only new or changed files; resumes after a torn line', async () => {
    const dir = join(root, 'inputs');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    const data = [1, 2, 3].map((s) => randomInput(3072, s));
    writeFileSync(join(dir, 'a.npy'), encodeNpy({ dtype: 'float32', shape: [1, 3, 32, 32], data: data[0] }));
    writeFileSync(join(dir, 'sub', 'b.json'), JSON.stringify({ input: Array.from(data[1]) }));
    writeFileSync(join(dir, 'bad.json'), '[1, 2]');
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    const out = join(root, 'results.jsonl');
    const dataDir = join(root, 'data');

    const first = await kiln(['batch', '--model', art.dir, '--input', 'inputs', '--output', 'results.jsonl', '--data-dir', dataDir, '--json']);
    expect(first.code).toBe(1); // one file had an error
    expect(JSON.parse(first.out)).toEqual({ files: 3, scored: 3, skipped: 0, errors: 1, output: out });
    const got = lines(out);
    expect(got.map((l) => l.file).sort()).toEqual(['a.npy', 'bad.json', 'sub/b.json']);
    expect(got.find((l) => l.file === 'bad.json').error).toMatch(/input 'input' has 1 dimension \[2\], the model expects 4/);
    const s = await createOrtNodeSession(readFileSync(join(art.dir, 'model.onnx')));
    const want = (await s.run({ input: new ort.Tensor('float32', data[0], [1, 3, 32, 32]) })).output.data as Float32Array;
    expect(Float32Array.from(got.find((l) => l.file === 'a.npy').outputs[0].data)).toEqual(want);

    // Rerun: nothing new. Then a new file, a changed file, and a torn last line.
    expect(
      JSON.parse((await kiln(['batch', '--model', 'cnn', '--input', 'inputs', '--output', 'results.jsonl', '--data-dir', dataDir, '--json'])).out),
    ).toMatchObject({ scored: 0, skipped: 3 });
    writeFileSync(join(dir, 'c.npy'), encodeNpy({ dtype: 'float32', shape: [1, 3, 32, 32], data: data[2] }));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ input: Array.from(data[2]) }));
    utimesSync(join(dir, 'bad.json'), new Date(), new Date(Date.now() + 5000));
    appendFileSync(out, '{"file": "sub/b.js');
    const third = await kiln(['batch', '--model', 'cnn', '--input', 'inputs', '--output', 'results.jsonl', '--data-dir', dataDir, '--json']);
    expect(third.code).toBe(0);
    expect(JSON.parse(third.out)).toMatchObject({ files: 4, scored: 2, skipped: 2, errors: 0 });
    const all = lines(out);
    expect(all).toHaveLength(5);
    expect(
      all
        .slice(3)
        .map((l) => l.file)
        .sort(),
    ).toEqual(['bad.json', 'c.npy']);
    await s.release();
  });

  it('BAD CALL: a missing folder, an unknown model', async () => {
    const missing = await kiln(['batch', '--model', art.dir, '--input', 'nope', '--output', 'r.jsonl', '--data-dir', join(root, 'd2')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope is not a folder/);
    const unknown = await kiln(['batch', '--model', 'ghost', '--input', '.', '--output', 'r.jsonl', '--data-dir', join(root, 'data')]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown model 'ghost'/);
  });
});
