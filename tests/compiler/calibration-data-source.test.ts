/**
 * The source itself: deterministic split, limit, re-iteration, reading lazily, and keeping no sample
 * alive once the consumer lets go of it.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { calibrationFromSamples, openCalibrationData, type CalibrationSource, type ModelInputSpec } from '../../src/compiler/calibration-data.js';
import { collect, expectKilnError, tempDir, writeNpy } from './calibration-data-helpers.js';

const spec: ModelInputSpec[] = [{ name: 'x', dtype: 'float32', shape: [1, 4] }];

/** A source whose sample i holds [i, i, i, i]; its describe(i) is 'mem[i]'. */
const numbered = (n: number): CalibrationSource =>
  calibrationFromSamples(
    Array.from({ length: n }, (_, i) => ({ x: [i, i, i, i] })),
    spec,
    { origin: 'mem' },
  );
const ids = async (source: CalibrationSource): Promise<number[]> => (await collect(source)).map((s) => s.x.data[0] as number);

describe('split and limit', () => {
  it('split is deterministic, disjoint, complete, keeps order, and depends on the seed', async () => {
    const source = numbered(20);
    const a = source.split(0.25, 7);
    const b = source.split(0.25, 7);
    expect(a.evaluation.count).toBe(5);
    expect(a.calibration.count).toBe(15);
    const evalIds = await ids(a.evaluation);
    const calIds = await ids(a.calibration);
    expect(await ids(b.evaluation)).toEqual(evalIds);
    expect([...evalIds, ...calIds].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(evalIds).toEqual([...evalIds].sort((x, y) => x - y));
    expect(calIds).toEqual([...calIds].sort((x, y) => x - y));
    expect(a.evaluation.describe(0)).toBe(`mem[${evalIds[0]}]`);
    // Another seed picks another subset (checked over several seeds, so no single coincidence passes)
    const others = await Promise.all([1, 2, 3, 4].map(async (seed) => (await ids(source.split(0.25, seed).evaluation)).join()));
    expect(others.some((o) => o !== evalIds.join())).toBe(true);
    expect(source.split(0.25).evaluation.count).toBe(5); // seed defaults to 0
  });

  it('edge fractions: 0 holds nothing out, a tiny fraction holds out one, one sample is never held out', async () => {
    expect(numbered(10).split(0).evaluation.count).toBe(0);
    expect(numbered(10).split(0.01).evaluation.count).toBe(1);
    expect(numbered(10).split(0.99).calibration.count).toBe(1);
    const single = numbered(1).split(0.5);
    expect([single.calibration.count, single.evaluation.count]).toEqual([1, 0]);
  });

  it('limit takes the first n, and composes with split', async () => {
    const source = numbered(10);
    expect(await ids(source.limit(3))).toEqual([0, 1, 2]);
    expect(source.limit(50).count).toBe(10);
    expect(source.limit(0).count).toBe(0);
    const { calibration } = source.split(0.5, 3);
    expect(await ids(calibration.limit(2))).toEqual((await ids(calibration)).slice(0, 2));
  });

  it('BAD CALL - fractions outside [0, 1), non-integer seeds and limits, indices outside the source', async () => {
    const source = numbered(4);
    await expectKilnError(() => source.split(1), 'BAD_OPTION', /hold-out fraction 1 is not in \[0, 1\)/);
    await expectKilnError(() => source.split(-0.1), 'BAD_OPTION', /hold-out fraction -0.1/);
    await expectKilnError(() => source.split(Number.NaN), 'BAD_OPTION', /hold-out fraction NaN/);
    await expectKilnError(() => source.split(0.5, 1.5), 'BAD_OPTION', /split seed 1.5 is not an integer/);
    await expectKilnError(() => source.limit(-1), 'BAD_OPTION', /sample limit -1/);
    expect(() => source.limit(2).get(2)).toThrow(RangeError);
  });
});

describe('reading one sample at a time', () => {
  it('can be iterated again (two-pass calibration), each pass reading the files afresh', async () => {
    const dir = tempDir();
    for (let i = 0; i < 3; i++) writeNpy(join(dir, `${i}.npy`), 'float32', [1, 4], [i, i, i, i]);
    const source = await openCalibrationData(dir, spec);
    expect(await ids(source)).toEqual([0, 1, 2]);
    writeNpy(join(dir, '1.npy'), 'float32', [1, 4], [7, 7, 7, 7]); // changed between passes
    expect(await ids(source)).toEqual([0, 7, 2]);
  });

  it('reads a file only when its sample is reached', async () => {
    const dir = tempDir();
    for (let i = 0; i < 5; i++) writeNpy(join(dir, `${i}.npy`), 'float32', [1, 4], [i, i, i, i]);
    const source = await openCalibrationData(dir, spec);
    const it = source[Symbol.asyncIterator]();
    expect((await it.next()).value?.x.data[0]).toBe(0);
    expect((await it.next()).value?.x.data[0]).toBe(1);
    // Had the source read ahead or read everything when opened, removing a later file now would go unnoticed.
    rmSync(join(dir, '2.npy'));
    await expectKilnError(() => it.next(), 'FILE_NOT_FOUND', `${join(dir, '2.npy')}: the file was removed after the calibration data was opened`);
  });

  it('200 samples: every step yields fresh objects and arrays', async () => {
    const dir = tempDir();
    for (let i = 0; i < 200; i++) writeNpy(join(dir, `${i}.npy`), 'float32', [1, 4], [i, i, i, i]);
    const source = await openCalibrationData(dir, spec);
    const samples = await collect(source);
    expect(samples).toHaveLength(200);
    expect(new Set(samples).size).toBe(200);
    expect(new Set(samples.map((s) => s.x)).size).toBe(200);
    expect(new Set(samples.map((s) => s.x.data.buffer)).size).toBe(200);
    const again = await source.get(5);
    expect(again).not.toBe(samples[5]);
    expect(again.x.data).not.toBe(samples[5].x.data);
    expect(again).toEqual(samples[5]);
  });

  it('200 samples: the source keeps none of them alive once the consumer drops them', async () => {
    // The source holds only file names and positions (see calibration-source.ts); every sample is
    // built by load() and handed over. If the source (or its table, or the generator) kept
    // samples in an array or cache, the weak references below would survive a full collection.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const dir = tempDir();
    for (let i = 0; i < 200; i++) writeNpy(join(dir, `${i}.npy`), 'float32', [1, 256], new Array(256).fill(i));
    const source = await openCalibrationData(dir, [{ name: 'x', dtype: 'float32', shape: [1, 256] }]);
    const refs: WeakRef<object>[] = [];
    // The loop runs in its own function so that its frame (and any register still pointing at the
    // last sample) is gone when it returns: what survives after that is held by the source.
    const consume = async (): Promise<number> => {
      let sum = 0;
      for await (const sample of source) {
        refs.push(new WeakRef(sample), new WeakRef(sample.x.data));
        sum += sample.x.data[0] as number;
      }
      return sum;
    };
    expect(await consume()).toBe((199 * 200) / 2);
    expect(refs).toHaveLength(400);
    // WeakRef targets stay alive until the current job ends: yield to the event loop, then collect.
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    const alive = refs.map((r, i) => (r.deref() === undefined ? -1 : i >> 1)).filter((i) => i >= 0);
    expect(alive, 'samples still reachable').toEqual([]);
    expect(source.count).toBe(200); // the source is still usable, it only lost what it never kept
  });
});
