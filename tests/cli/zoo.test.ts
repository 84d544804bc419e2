/**
 * `kiln models` and `kiln inspect zoo:NAME` over the real zoo: every model inspects, and what inspect
 * says about inputs and outputs is what onnxruntime's session reports.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runMain } from '../../src/cli/main.js';
import { captureIo } from '../../src/cli/io.js';
import type { InspectCommandReport } from '../../src/cli/commands/inspect.js';
import { DEFAULT_CATALOG_PATH, listModels, resolveModel } from '../../src/zoo/index.js';
import { createOrtNodeSession } from '../../src/runtime/ort-node.js';

async function kiln(...argv: string[]) {
  const io = captureIo();
  const code = await runMain(argv, io);
  return { code, out: io.out, err: io.err };
}

const entries = existsSync(DEFAULT_CATALOG_PATH) ? listModels() : [];

describe.skipIf(entries.length === 0)('kiln models', () => {
  it('list shows every catalog entry; --json gives the entries', async () => {
    const r = await kiln('models', 'list');
    expect(r.code).toBe(0);
    for (const e of entries) expect(r.out).toMatch(new RegExp(`^${e.name}\\s+${e.task}`, 'm'));
    const json = JSON.parse((await kiln('models', 'list', '--json')).out) as { models: { name: string }[] };
    expect(json.models.map((m) => m.name)).toEqual(entries.map((e) => e.name));
  });
  it('list --task filters; an unknown task is bad input', async () => {
    const task = entries[0].task;
    const json = JSON.parse((await kiln('models', 'list', '--task', task, '--json')).out) as { models: { task: string }[] };
    expect(json.models.every((m) => m.task === task)).toBe(true);
    const bad = await kiln('models', 'list', '--task', 'juggling');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("unknown task 'juggling'");
  });
  it('path prints the verified file; an unknown name exits 2 with suggestions', async () => {
    const name = entries[0].name;
    const r = await kiln('models', 'path', name);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${resolveModel(name).path}\n`);
    const bad = await kiln('models', 'path', name.slice(0, -1) + 'x');
    expect(bad.code).toBe(2);
    expect(bad.err.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe.skipIf(entries.length === 0)('kiln inspect zoo:NAME agrees with onnxruntime', () => {
  for (const entry of entries) {
    it(entry.name, async () => {
      const r = await kiln('inspect', `zoo:${entry.name}`, '--json');
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const report = JSON.parse(r.out) as InspectCommandReport;
      expect(report.zoo).toEqual({ name: entry.name, task: entry.task });
      expect(report.runtime?.mismatches).toEqual([]);
      expect(report.parameters.count).toBeGreaterThan(1000);

      const session = await createOrtNodeSession(report.file);
      try {
        expect(report.inputs.map((i) => i.name)).toEqual([...session.inputNames]);
        expect(report.outputs.map((o) => o.name)).toEqual([...session.outputNames]);
        session.inputMetadata.forEach((m, i) => {
          if (!m.isTensor) return;
          expect(report.inputs[i].dtype).toBe(m.type);
          // Fixed dims agree; a dynamic dim is a name here and a name or '' in onnxruntime.
          expect(report.inputs[i].shape?.map((d) => (typeof d === 'number' ? d : 'dyn'))).toEqual(m.shape.map((d) => (typeof d === 'number' ? d : 'dyn')));
        });
      } finally {
        await session.release();
      }
      // The catalog's own description of the tensors agrees too.
      expect(report.inputs.map((i) => i.name)).toEqual(entry.inputs.map((i) => i.name));
      expect(report.outputs.map((o) => o.name)).toEqual(entry.outputs.map((o) => o.name));
    });
  }
});
