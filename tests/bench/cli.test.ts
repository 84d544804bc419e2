import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { buildCnn } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/model.js';
import { tempDir, tinyModel } from './helpers.js';

describe('kiln bench (command)', () => {
  it('prints the table, writes the reports and history, and shows the delta on the second run', async () => {
    const { dir, path } = tinyModel();
    const out = join(dir, 'results');
    const env = { KILN_HOME: join(dir, 'home'), KILN_CHROMIUM: join(dir, 'no-chromium'), PATH: process.env.PATH };
    const args = ['bench', path, '-n', '3', '--warmup', '1', '--cold-start', 'shared', '--out', out];
    const io = captureIo({ cwd: dir, env });
    expect(await runMain(args, io)).toBe(0);
    expect(io.out).toMatch(/onnxruntime-node \S+ \(cpu\), default threads · batch 1 · input 1x3x16x16 · 3 rounds/);
    expect(io.out).toMatch(/\n  original +[\d.]+ ms/);
    expect(io.out).toContain(`history: ${join(out, 'history.jsonl')}`);
    expect(io.err).toContain('PNG charts skipped: chromium not installed (apt-get install chromium)');
    const again = captureIo({ cwd: dir, env });
    expect(await runMain([...args, '--json'], again)).toBe(0);
    const json = JSON.parse(again.out);
    expect(json.kind).toBe('kiln-bench');
    expect(json.groups[0].variants[0].latency.n).toBe(3);
    expect(json.delta.rows[0]).toMatchObject({ group: 'ort-node-cpu', variant: 'original' });
    expect(existsSync(json.files.html)).toBe(true);
    expect(readFileSync(json.files.markdown, 'utf8')).toContain('## Change since the previous run');
  });

  it('BAD CALL: dynamic dims without --shape exit 2 with the --shape hint; bad flag values too', async () => {
    const dir = tempDir();
    const g = buildCnn({ inputShape: ['N', 3, 32, 32] });
    g.graph!.input[0].type!.tensorType!.shape!.dim[2] = { dimParam: 'H', denotation: '' };
    const path = join(dir, 'hw.onnx');
    saveModel(g, path);
    const io = captureIo({ cwd: dir, env: {} });
    expect(await runMain(['bench', path, '--out', join(dir, 'r')], io)).toBe(2);
    expect(io.err).toMatch(/kiln: input 'input' has dynamic dimensions \[N, 3, H, 32\].*pass --shape input=DIMS/);
    const bad = captureIo({ cwd: dir, env: {} });
    expect(await runMain(['bench', path, '--batch', '1,x'], bad)).toBe(2);
    expect(bad.err).toContain('--batch x: expected a whole number ≥ 1');
    const shape = captureIo({ cwd: dir, env: {} });
    expect(await runMain(['bench', path, '--shape', 'input=1x3x32', '--out', join(dir, 'r')], shape)).toBe(2);
    expect(shape.err).toMatch(/input 'input' has 4 dimensions/);
  });
});
