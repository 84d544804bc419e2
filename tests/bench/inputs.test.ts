import { describe, expect, it } from 'vitest';
import { randomFeeds, tileTensor } from '../../src/bench/inputs.js';

describe('bench inputs', () => {
  it('random feeds are seeded, typed, and drawn from the given range', () => {
    const inputs = [
      { name: 'x', dtype: 'float32', dims: [2, 3] },
      { name: 'ids', dtype: 'int64', dims: [4] },
    ];
    const a = randomFeeds(inputs, 3, { x: [-2, 2] });
    const b = randomFeeds(inputs, 3, { x: [-2, 2] });
    expect(a.x.data).toEqual(b.x.data);
    expect(a.x.dims).toEqual([2, 3]);
    expect(Array.from(a.x.data as Float32Array).every((v) => v >= -2 && v < 2)).toBe(true);
    expect(Array.from(a.x.data as Float32Array).some((v) => v < 0)).toBe(true);
    expect(a.ids).toEqual({ type: 'int64', dims: [4], data: new BigInt64Array(4) });
    expect(() => randomFeeds([{ name: 's', dtype: 'string', dims: [1] }])).toThrow(/cannot make up values/);
  });

  it('a sample is tiled (wrapping in every dim) to the benchmarked dims', () => {
    const sample = { type: 'float32', dims: [1, 1, 2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const t = tileTensor(sample, [2, 1, 3, 4]);
    expect(t.dims).toEqual([2, 1, 3, 4]);
    expect(t.data).toBeInstanceOf(Float32Array);
    // Rows 0,1,0 of [[1,2,3],[4,5,6]], each row wrapped to 4 columns; the batch repeats.
    const one = [1, 2, 3, 1, 4, 5, 6, 4, 1, 2, 3, 1];
    expect(Array.from(t.data as Float32Array)).toEqual([...one, ...one]);
    expect(() => tileTensor(sample, [1, 2])).toThrow(RangeError);
  });
});
