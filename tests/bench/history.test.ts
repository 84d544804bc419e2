import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendHistory, historyDelta, previousRun, readHistory } from '../../src/bench/history.js';
import { writeBenchOutputs } from '../../src/bench/outputs.js';
import { syntheticReport, tempDir } from './helpers.js';

describe('bench history', () => {
  it('appends one line per run and finds the previous run of the same model (by hash), skipping torn lines', () => {
    const file = join(tempDir(), 'history.jsonl');
    const first = syntheticReport({ runId: 'tiny-1' });
    const other = syntheticReport({ runId: 'other-1', model: { name: 'other', source: 'x', sha256: 'b'.repeat(64), sizeBytes: 1 } });
    appendHistory(file, first);
    appendFileSync(file, '{"torn": tru\n');
    appendHistory(file, other);
    const entries = readHistory(file);
    expect(entries.map((e) => e.runId)).toEqual(['tiny-1', 'other-1']);
    expect(entries[0].rows.map((r) => r.variant)).toEqual(['original', 'x86_64/fp32-opt', 'x86_64/int8', 'original', 'wasm/int8']);
    const second = syntheticReport({ runId: 'tiny-2' });
    expect(previousRun(entries, second)?.runId).toBe('tiny-1');
    expect(previousRun(readHistory(join(tempDir(), 'none.jsonl')), second)).toBeUndefined();
    // A later run of the same model with nothing in common (another target) is passed over.
    const wasmOnly = syntheticReport({ runId: 'tiny-w' });
    wasmOnly.groups = wasmOnly.groups.filter((g) => g.id === 'gpu-cuda');
    appendHistory(file, wasmOnly);
    expect(previousRun(readHistory(file), second)?.runId).toBe('tiny-1');
    expect(previousRun(readHistory(file), wasmOnly)?.runId).toBe('tiny-1');
  });

  it('the delta gives p50 before and after per variant, and names changed settings', () => {
    const before = syntheticReport({ runId: 'tiny-1' });
    const after = syntheticReport({ runId: 'tiny-2', settings: { ...before.settings, threads: 1 } }, 1.1);
    const file = join(tempDir(), 'h.jsonl');
    appendHistory(file, before);
    const delta = historyDelta(readHistory(file)[0], after);
    expect(delta.previousRunId).toBe('tiny-1');
    expect(delta.settingsChanged).toEqual(['threads default → 1']);
    const int8 = delta.rows.find((r) => r.group === 'ort-node-cpu' && r.variant === 'x86_64 int8')!;
    expect(int8.p50Before).toBeCloseTo(5.5, 10);
    expect(int8.p50After).toBeCloseTo(6.05, 10);
    expect(int8.p50Change).toBeCloseTo(0.1, 10);
    expect(int8.speedupBefore).toBeCloseTo(2, 10);
  });

  it('writeBenchOutputs writes the reports, appends history, and prints the delta on the second run', async () => {
    const out = tempDir();
    const env = { KILN_CHROMIUM: '/nonexistent/chromium' };
    const a = await writeBenchOutputs(syntheticReport({ runId: 'tiny-1' }), out, { env });
    expect(a.delta).toBeUndefined();
    expect(a.pngNote).toBe('PNG charts skipped: chromium not installed (apt-get install chromium); the HTML report has the same charts as SVG');
    expect(readFileSync(a.files.html, 'utf8')).toContain('<svg');
    expect(readFileSync(a.files.markdown, 'utf8')).toContain('PNG charts skipped');
    expect(JSON.parse(readFileSync(a.files.json, 'utf8')).runId).toBe('tiny-1');
    const b = await writeBenchOutputs(syntheticReport({ runId: 'tiny-2' }, 0.5), out, { env });
    expect(b.delta?.previousRunId).toBe('tiny-1');
    expect(b.delta?.rows.find((r) => r.variant === 'original' && r.group === 'ort-node-cpu')?.p50Change).toBeCloseTo(-0.5, 10);
    expect(readFileSync(b.files.markdown, 'utf8')).toContain('## Change since the previous run');
    expect(readFileSync(join(out, 'history.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
  });
});
