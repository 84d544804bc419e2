import { describe, expect, it } from 'vitest';
import { closest, compactNumber, humanBytes, table, thousands, wrap } from '../src/format.js';

describe('output helpers', () => {
  it('table aligns columns, right-aligns where asked, underlines a header, trims trailing spaces', () => {
    expect(
      table(
        [
          ['a', 1],
          ['long name', 12345],
        ],
        { align: ['left', 'right'] },
      ),
    ).toBe('a              1\nlong name  12345');
    expect(table([['x', 'y']], { header: ['name', 'v'], indent: 2 })).toBe('  name  v\n  ────  ─\n  x     y');
    expect(
      table([
        ['a', ''],
        ['b', 'c'],
      ]),
    ).toBe('a\nb  c');
  });
  it('thousands separators, locale-independent, bigint too', () => {
    expect(thousands(0)).toBe('0');
    expect(thousands(999)).toBe('999');
    expect(thousands(1234567)).toBe('1,234,567');
    expect(thousands(-1234.5)).toBe('-1,234.5');
    expect(thousands(12345678901234567890n)).toBe('12,345,678,901,234,567,890');
  });
  it('human sizes in decimal units', () => {
    expect(humanBytes(0)).toBe('0 B');
    expect(humanBytes(999)).toBe('999 B');
    expect(humanBytes(1500)).toBe('1.5 KB');
    expect(humanBytes(999_999)).toBe('1.0 MB');
    expect(humanBytes(12_345_678)).toBe('12.3 MB');
    expect(humanBytes(3.2e9)).toBe('3.2 GB');
  });
  it('compact counts for parameters and MACs', () => {
    expect(compactNumber(950)).toBe('950');
    expect(compactNumber(6898)).toBe('6.90K');
    expect(compactNumber(25_557_032)).toBe('25.6M');
    expect(compactNumber(4_089_184_256)).toBe('4.09G');
    expect(compactNumber(999_600)).toBe('1.00M');
  });
  it('wrap keeps words whole and indents continuation lines', () => {
    expect(wrap('aaa bbb ccc', 9, 2)).toBe('aaa bbb\n  ccc');
  });
  it('closest suggests likely typos only', () => {
    expect(closest('inspct', ['inspect', 'models'])).toBe('inspect');
    expect(closest('zzz', ['inspect', 'models'])).toBeUndefined();
  });
});
