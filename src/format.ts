/**
 * Small text helpers for command output: aligned tables, human sizes, thousands separators.
 * Pure functions; nothing here writes anywhere. Output does not depend on the locale.
 */

export type Align = 'left' | 'right';

export interface TableOptions {
  /** Column titles, printed above the rows and underlined. */
  header?: readonly string[];
  /** Alignment per column (default: left). Numbers read best right-aligned. */
  align?: readonly Align[];
  /** Spaces before each line (default 0). */
  indent?: number;
  /** Spaces between columns (default 2). */
  gap?: number;
}

/** Lay rows out in aligned columns. Trailing spaces are trimmed; the result has no final newline. */
export function table(rows: readonly (readonly (string | number)[])[], options: TableOptions = {}): string {
  const gap = ' '.repeat(options.gap ?? 2);
  const indent = ' '.repeat(options.indent ?? 0);
  const all = (options.header ? [options.header, ...rows] : rows).map((r) => r.map((c) => String(c)));
  const columns = Math.max(0, ...all.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    (
      indent +
      widths
        .map((w, i) => {
          const cell = r[i] ?? '';
          return options.align?.[i] === 'right' ? cell.padStart(w) : cell.padEnd(w);
        })
        .join(gap)
    ).trimEnd();
  const lines = all.map(line);
  if (options.header) lines.splice(1, 0, indent + widths.map((w) => '─'.repeat(w)).join(gap));
  return lines.join('\n');
}

/** `key  value` lines with the keys padded to one width. */
export function keyValues(pairs: readonly (readonly [string, string | number])[], options: { indent?: number } = {}): string {
  return table(
    pairs.map(([k, v]) => [k, v]),
    { indent: options.indent },
  );
}

/** 1234567 → "1,234,567" (also for bigint). */
export function thousands(n: number | bigint): string {
  if (typeof n === 'number' && !Number.isFinite(n)) return String(n);
  const negative = n < 0;
  const [int, frac] = (negative ? -n : n).toString().split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (negative ? '-' : '') + grouped + (frac ? `.${frac}` : '');
}

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;

/** Decimal (SI) sizes: 999 → "999 B", 1500 → "1.5 KB", 12_345_678 → "12.3 MB". */
export function humanBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 999.95 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const sign = bytes < 0 ? '-' : '';
  return unit === 0 ? `${sign}${value} B` : `${sign}${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

const COUNT_UNITS = ['', 'K', 'M', 'G', 'T', 'P'] as const;

/** Short counts for parameters and MACs: 950 → "950", 25_557_032 → "25.6M", 4.1e9 → "4.10G". */
export function compactNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  let value = Math.abs(n);
  let unit = 0;
  while (value >= 999.5 && unit < COUNT_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const sign = n < 0 ? '-' : '';
  if (unit === 0) return `${sign}${Math.round(value)}`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${sign}${value.toFixed(digits)}${COUNT_UNITS[unit]}`;
}

/**
 * Word-wrap `text` that starts at column `indent` so that lines end by column `width`; continuation
 * lines get `indent` spaces. Keeps explicit newlines, and keeps lines that start with a space as
 * written (indented examples: YAML, commands).
 */
export function wrap(text: string, width: number, indent = 0): string {
  const pad = ' '.repeat(indent);
  return text
    .split('\n')
    .map((paragraph) => {
      if (paragraph.startsWith(' ')) return paragraph;
      const words = paragraph.split(/ +/);
      const lines: string[] = [];
      let line = '';
      for (const word of words) {
        if (line && line.length + 1 + word.length > width - indent) {
          lines.push(line);
          line = word;
        } else {
          line = line ? `${line} ${word}` : word;
        }
      }
      lines.push(line);
      return lines.join(`\n${pad}`);
    })
    .join(`\n${pad}`);
}

export { closest, editDistance } from './suggest.js';
