/** float16 and bfloat16 conversions: known bit patterns, exhaustive round trips, round-to-nearest-even. */
import { describe, expect, it } from 'vitest';
import { bfloat16ToNumber, float16ToNumber, numberToBfloat16, numberToFloat16 } from '../../src/onnx/dtypes.js';

const hex = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

describe('float16', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff], // largest finite
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [0.333251953125, 0x3555],
    [0, 0x0000],
    [-0, 0x8000],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ])('%s ⇄ %s', (value, bits) => {
    expect(hex(numberToFloat16(value))).toBe(hex(bits));
    expect(Object.is(float16ToNumber(bits), value)).toBe(true);
  });

  it('NaN encodes as a NaN pattern and every NaN pattern decodes as NaN', () => {
    const h = numberToFloat16(NaN);
    expect(h & 0x7c00).toBe(0x7c00);
    expect(h & 0x03ff).not.toBe(0);
    expect(float16ToNumber(0x7e00)).toBeNaN();
    expect(float16ToNumber(0xfc01)).toBeNaN();
  });

  it('all 63,488 non-NaN patterns round-trip exactly', () => {
    const bad: string[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00 && bits & 0x03ff) continue;
      if (numberToFloat16(float16ToNumber(bits)) !== bits) bad.push(hex(bits));
    }
    expect(bad).toEqual([]);
  });

  it.each([
    ['1 + 2^-11 (tie) goes down to the even 1.0', 1 + 2 ** -11, 0x3c00],
    ['1 + 3·2^-11 (tie) goes up to the even 0x3c02', 1 + 3 * 2 ** -11, 0x3c02],
    ['2^-25 (tie between 0 and the smallest subnormal) goes to 0', 2 ** -25, 0x0000],
    ['3·2^-25 (subnormal tie) goes up to the even 0x0002', 3 * 2 ** -25, 0x0002],
    ['65520 (tie between 65504 and 2^16) overflows to infinity', 65520, 0x7c00],
    ['the largest subnormal + half an ulp rounds up into the normals', 2 ** -14 - 2 ** -25, 0x0400],
    ['-(1 + 3·2^-11) keeps its sign', -(1 + 3 * 2 ** -11), 0xbc02],
  ])('%s', (_name, value, bits) => {
    expect(hex(numberToFloat16(value))).toBe(hex(bits));
  });

  it.each([
    ['just above a tie goes up', 1 + 2 ** -11 + 2 ** -40, 0x3c01],
    ['just above the zero/subnormal tie goes up', 2 ** -25 + 2 ** -60, 0x0001],
    ['just below the overflow tie stays finite', 65519.999999, 0x7bff],
    ['a double beyond float32 range overflows', 1e39, 0x7c00],
    ['a double below float32 range flushes to signed zero', -1e-50, 0x8000],
  ])('doubles are rounded once, not through float32: %s', (_name, value, bits) => {
    expect(hex(numberToFloat16(value))).toBe(hex(bits));
  });

  it('every midpoint between neighbours rounds to the even one, and a hair off it to the nearer one', () => {
    const bad: string[] = [];
    for (let lo = 0; lo < 0x7bff; lo++) {
      const a = float16ToNumber(lo);
      const b = float16ToNumber(lo + 1);
      const mid = (a + b) / 2;
      const even = lo % 2 === 0 ? lo : lo + 1;
      if (numberToFloat16(mid) !== even) bad.push(`mid ${hex(lo)}`);
      if (numberToFloat16(mid + (b - a) * 2 ** -20) !== lo + 1) bad.push(`above ${hex(lo)}`);
      if (numberToFloat16(mid - (b - a) * 2 ** -20) !== lo) bad.push(`below ${hex(lo)}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });
});

describe('bfloat16', () => {
  it.each([
    [1, 0x3f80],
    [-2, 0xc000],
    [3.3895313892515355e38, 0x7f7f], // largest finite
    [2 ** -126, 0x0080], // smallest normal
    [2 ** -133, 0x0001], // smallest subnormal
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
    [-0, 0x8000],
  ])('%s ⇄ %s', (value, bits) => {
    expect(hex(numberToBfloat16(value))).toBe(hex(bits));
    expect(Object.is(bfloat16ToNumber(bits), value)).toBe(true);
  });

  it('NaN encodes as 0x7fc0', () => {
    expect(hex(numberToBfloat16(NaN))).toBe('0x7fc0');
    expect(bfloat16ToNumber(0x7fc0)).toBeNaN();
  });

  it('all non-NaN patterns round-trip exactly', () => {
    const bad: string[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7f80) === 0x7f80 && bits & 0x007f) continue;
      if (numberToBfloat16(bfloat16ToNumber(bits)) !== bits) bad.push(hex(bits));
    }
    expect(bad).toEqual([]);
  });

  it.each([
    ['1 + 2^-8 (tie) goes down to the even 1.0', 1 + 2 ** -8, 0x3f80],
    ['1 + 3·2^-8 (tie) goes up to the even 0x3f82', 1 + 3 * 2 ** -8, 0x3f82],
    ['just above a tie goes up (a double, rounded once)', 1 + 2 ** -8 + 2 ** -40, 0x3f81],
    ['the float32 maximum overflows to infinity', 3.4028234663852886e38, 0x7f80],
    ['a subnormal tie goes to the even 0x0002', 3 * 2 ** -134, 0x0002],
  ])('%s', (_name, value, bits) => {
    expect(hex(numberToBfloat16(value))).toBe(hex(bits));
  });
});
