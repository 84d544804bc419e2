/** saveModel/loadModel with weights in an external data file, and the ways such a file goes wrong. */
import { existsSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildCnn } from '../../src/onnx/builder.js';
import { loadModel, saveModel, serializeModel } from '../../src/onnx/model.js';
import type { ModelProto } from '../../src/onnx/proto-types.js';
import { expectKilnError, randomFeed, runModel, tempDir } from './helpers.js';

const THRESHOLD = 256;
let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const model = (): ModelProto => buildCnn({ channels: [8, 16], residual: true, seed: 3 });

/** Save with external data and return the path plus the names of the tensors that went external. */
function saveExternal(m: ModelProto, location = 'model.onnx.data'): { path: string; external: string[] } {
  const path = join(dir, 'model.onnx');
  saveModel(m, path, { externalData: { threshold: THRESHOLD, location } });
  const refs = loadModel(path, { loadExternalData: false });
  const external = refs.graph!.initializer.filter((t) => t.dataLocation === 1).map((t) => t.name);
  return { path, external };
}

describe('saveModel with external data', () => {
  it('moves initializers at or above the threshold out, keeps smaller ones inline, aligned to 4 KiB', () => {
    const m = model();
    const { path } = saveExternal(m);
    const refs = loadModel(path, { loadExternalData: false }).graph!.initializer;
    for (const t of refs) {
      const original = m.graph!.initializer.find((o) => o.name === t.name)!;
      const big = original.rawData!.byteLength >= THRESHOLD;
      expect(t.dataLocation, t.name).toBe(big ? 1 : 0);
      if (big) {
        const entry = Object.fromEntries(t.externalData.map((e) => [e.key, e.value]));
        expect(entry.location).toBe('model.onnx.data');
        expect(Number(entry.offset) % 4096).toBe(0);
        expect(Number(entry.length)).toBe(original.rawData!.byteLength);
        expect(t.rawData?.byteLength ?? 0).toBe(0);
      }
    }
    expect(refs.some((t) => t.dataLocation === 1)).toBe(true);
    expect(refs.some((t) => t.dataLocation === 0)).toBe(true);
    expect(statSync(path).size).toBeLessThan(serializeModel(m).byteLength / 2);
  });

  it('does not change the model in memory', () => {
    const m = model();
    const before = serializeModel(m);
    saveExternal(m);
    expect(serializeModel(m)).toEqual(before);
  });

  it('loads back with every tensor byte-identical', () => {
    const m = model();
    const { path } = saveExternal(m);
    const back = loadModel(path);
    expect(back.graph!.initializer.map((t) => t.name)).toEqual(m.graph!.initializer.map((t) => t.name));
    for (const [i, t] of back.graph!.initializer.entries()) {
      expect(Buffer.from(t.rawData!).equals(Buffer.from(m.graph!.initializer[i].rawData!)), t.name).toBe(true);
    }
  });

  it('runs in onnxruntime from its path with the same outputs as the inline model', async () => {
    const m = model();
    const { path } = saveExternal(m);
    const feed = { input: randomFeed([2, 3, 32, 32]) };
    const inline = await runModel(serializeModel(m), feed);
    const external = await runModel(path, feed);
    expect(external.output.dims).toEqual([2, 10]);
    expect(Array.from(external.output.data)).toEqual(Array.from(inline.output.data));
  });

  it('re-saving a loaded external model inline gives a self-contained file', async () => {
    const m = model();
    const { path } = saveExternal(m);
    const inlinePath = join(dir, 'inline.onnx');
    saveModel(loadModel(path), inlinePath);
    unlinkSync(join(dir, 'model.onnx.data'));
    const back = loadModel(inlinePath);
    expect(back.graph!.initializer.every((t) => t.dataLocation === 0 && t.externalData.length === 0)).toBe(true);
    expect(serializeModel(back)).toEqual(serializeModel(m));
  });
});

describe('bad external data', () => {
  it('a missing data file is EXTERNAL_DATA naming the tensor and the file', async () => {
    const { path, external } = saveExternal(model());
    unlinkSync(join(dir, 'model.onnx.data'));
    const err = await expectKilnError(() => loadModel(path), 'EXTERNAL_DATA', `'${external[0]}'`, "'model.onnx.data'", 'missing');
    expect(err.exitCode).toBe(2);
  });

  it('a truncated data file is EXTERNAL_DATA naming a tensor past the cut and the file', async () => {
    const { path, external } = saveExternal(model());
    const dataPath = join(dir, 'model.onnx.data');
    truncateSync(dataPath, Math.floor(statSync(dataPath).size / 2));
    const err = await expectKilnError(() => loadModel(path), 'EXTERNAL_DATA', "'model.onnx.data'", 'which has only');
    expect(external.some((name) => err.message.includes(`'${name}'`))).toBe(true);
  });

  it.each([['../x'], ['../../etc/passwd'], ['/etc/passwd'], ['sub/../../x']])('a location escaping the folder (%s) is refused', async (location) => {
    const { path } = saveExternal(model());
    const refs = loadModel(path, { loadExternalData: false });
    for (const t of refs.graph!.initializer) for (const e of t.externalData) if (e.key === 'location') e.value = location;
    writeFileSync(path, serializeModel(refs));
    writeFileSync(join(dir, 'x'), readFileSync(join(dir, 'model.onnx.data'))); // a real file there must not help
    await expectKilnError(() => loadModel(path), 'EXTERNAL_DATA', 'outside', location);
  });

  it('a custom location name is written beside the model and read back', () => {
    const path = join(dir, 'model.onnx');
    saveModel(model(), path, { externalData: { threshold: THRESHOLD, location: 'weights.bin' } });
    expect(existsSync(join(dir, 'weights.bin'))).toBe(true);
    expect(loadModel(path).graph!.initializer.every((t) => (t.rawData?.byteLength ?? 0) > 0)).toBe(true);
  });
});
