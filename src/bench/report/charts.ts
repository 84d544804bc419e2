/**
 * Inline SVG charts for the HTML report: a latency distribution per group (box plot over every
 * timed sample), speed-up bars and size bars. Pure functions returning self-contained <svg> text
 * (no scripts, no external fonts or links), so the HTML opens anywhere and renders to PNG as is.
 */
import { humanBytes } from '../../format.js';
import type { BenchReport, GroupResult, VariantResult, VariantSpec } from '../types.js';
import { ms, percent, ratio, runtimeShort } from './text.js';

export interface Chart {
  /** Stable id: 'latency-<group>-b<batch>', 'speedup', 'size'. Also the PNG's file name. */
  id: string;
  title: string;
  svg: string;
}

/** Colour per quantization. */
export const COLORS: Readonly<Record<VariantSpec['quantization'], string>> = Object.freeze({
  source: '#6b7280',
  none: '#2563eb',
  int8: '#ea580c',
  'int8-dynamic': '#9333ea',
  fp16: '#16a34a',
});

const FONT = "font-family='-apple-system, Segoe UI, Helvetica, Arial, sans-serif'";
const WIDTH = 820;
const LABEL_W = 230;
const RIGHT_W = 120;
const ROW_H = 34;
const TOP = 40;
const AXIS_H = 34;

export const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** A round upper bound and tick step for an axis from 0 to `max`. */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return { max: Math.ceil(max / step - 1e-9) * step, step };
}

const tickText = (v: number, unit: string): string => {
  const s = Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1).replace(/\.0$/, '') : Number(v.toPrecision(3)).toString();
  return `${s}${unit}`;
};

function frame(title: string, rows: number, body: string, axis: { max: number; step: number; unit: string; label: string }, id: string): string {
  const plotW = WIDTH - LABEL_W - RIGHT_W;
  const height = TOP + rows * ROW_H + AXIS_H + 10;
  const x = (v: number) => LABEL_W + (v / axis.max) * plotW;
  const ticks: string[] = [];
  for (let v = 0; v <= axis.max + axis.step / 2; v += axis.step) {
    ticks.push(
      `<line x1='${x(v).toFixed(1)}' y1='${TOP - 6}' x2='${x(v).toFixed(1)}' y2='${TOP + rows * ROW_H}' stroke='#e5e7eb'/>` +
        `<text x='${x(v).toFixed(1)}' y='${TOP + rows * ROW_H + 16}' font-size='11' fill='#4b5563' text-anchor='middle'>${escapeXml(tickText(v, axis.unit))}</text>`,
    );
  }
  return (
    `<svg xmlns='http://www.w3.org/2000/svg' data-chart='${escapeXml(id)}' id='chart-${escapeXml(id)}' width='${WIDTH}' height='${height}' viewBox='0 0 ${WIDTH} ${height}' ${FONT} role='img' aria-label='${escapeXml(title)}'>` +
    `<rect width='${WIDTH}' height='${height}' fill='#ffffff'/>` +
    `<text x='12' y='22' font-size='14' font-weight='600' fill='#111827'>${escapeXml(title)}</text>` +
    ticks.join('') +
    `<text x='${(LABEL_W + plotW / 2).toFixed(1)}' y='${height - 6}' font-size='11' fill='#6b7280' text-anchor='middle'>${escapeXml(axis.label)}</text>` +
    body +
    `</svg>`
  );
}

const label = (y: number, text: string, sub?: string): string =>
  `<text x='${LABEL_W - 10}' y='${y + (sub ? -1 : 4)}' font-size='12' fill='#111827' text-anchor='end'>${escapeXml(text)}</text>` +
  (sub ? `<text x='${LABEL_W - 10}' y='${y + 12}' font-size='10' fill='#6b7280' text-anchor='end'>${escapeXml(sub)}</text>` : '');

/** Deterministic jitter in [-1, 1] for sample dots. */
const jitter = (i: number): number => (((i * 2654435761) >>> 0) % 1000) / 500 - 1;

/** Box plot (box p25–p75, median line, whiskers min–p99, mean ◆) over every sample, one row per variant. */
export function latencyChart(group: Extract<GroupResult, { state: 'measured' }>): Chart {
  const measured = group.variants.filter((v): v is Extract<VariantResult, { state: 'measured' }> => v.state === 'measured');
  const id = `latency-${group.id}-b${group.batch}`;
  const title = `Latency per run — ${group.label}${group.emulated ? ' — EMULATED' : ''}, batch ${group.batch}`;
  // The axis reaches each variant's p99 unless that lies far out (beyond p75 + 3·IQR): a few slow runs
  // must not squash every box; clipped whiskers and dots end in a › at the edge.
  const reach = (l: (typeof measured)[number]['latency']) => Math.max(Math.min(l.p99, l.p75 + 3 * (l.p75 - l.p25)), l.p50 * 1.2);
  const top = Math.max(...measured.map((v) => reach(v.latency)), 0) * 1.08;
  const axis = {
    ...niceScale(top),
    unit: '',
    label: `milliseconds per run (${measured[0]?.latency.n ?? 0} runs each; box p25–p75, bar p50, ◇ mean, whiskers min–p99; dots: every run)`,
  };
  const plotW = WIDTH - LABEL_W - RIGHT_W;
  const x = (v: number) => LABEL_W + (Math.min(v, axis.max) / axis.max) * plotW;
  const rows = measured.map((v, r) => {
    const cy = TOP + r * ROW_H + ROW_H / 2;
    const l = v.latency;
    const color = COLORS[v.variant.quantization];
    const dots = v.samplesMs
      .map((s, i) => `<circle cx='${x(s).toFixed(1)}' cy='${(cy + jitter(i) * 9).toFixed(1)}' r='1.6' fill='${color}' fill-opacity='0.35'/>`)
      .join('');
    const over = l.max > axis.max ? `<text x='${(x(axis.max) + 3).toFixed(1)}' y='${cy + 4}' font-size='12' fill='#6b7280'>›</text>` : '';
    return (
      label(cy, v.variant.label) +
      `<line x1='${x(l.min).toFixed(1)}' y1='${cy}' x2='${x(l.p99).toFixed(1)}' y2='${cy}' stroke='${color}' stroke-width='1.5'/>` +
      `<line x1='${x(l.min).toFixed(1)}' y1='${cy - 6}' x2='${x(l.min).toFixed(1)}' y2='${cy + 6}' stroke='${color}' stroke-width='1.5'/>` +
      `<line x1='${x(l.p99).toFixed(1)}' y1='${cy - 6}' x2='${x(l.p99).toFixed(1)}' y2='${cy + 6}' stroke='${color}' stroke-width='1.5'/>` +
      `<rect x='${x(l.p25).toFixed(1)}' y='${cy - 10}' width='${Math.max(1.5, x(l.p75) - x(l.p25)).toFixed(1)}' height='20' fill='${color}' fill-opacity='0.22' stroke='${color}' stroke-width='1.5' rx='2'/>` +
      dots +
      `<line x1='${x(l.p50).toFixed(1)}' y1='${cy - 11}' x2='${x(l.p50).toFixed(1)}' y2='${cy + 11}' stroke='#111827' stroke-width='2.5'/>` +
      `<path d='M ${x(l.mean).toFixed(1)} ${cy - 4} l 4 4 l -4 4 l -4 -4 z' fill='#ffffff' stroke='#111827' stroke-width='1'/>` +
      over +
      `<text x='${WIDTH - RIGHT_W + 10}' y='${cy + 4}' font-size='11' fill='#111827'>p50 ${escapeXml(ms(l.p50))}</text>`
    );
  });
  return { id, title, svg: frame(title, measured.length, rows.join(''), axis, id) };
}

/** Horizontal bars with a value label; an optional reference line (1× for speed-ups). */
function barChart(
  id: string,
  title: string,
  bars: { label: string; sub?: string; value: number; lo?: number; hi?: number; color: string; text: string }[],
  axisLabel: string,
  unit: string,
  reference?: number,
): Chart {
  // Bars set the scale; a whisker reaching past twice the longest bar is clipped (› at the edge).
  const longest = Math.max(...bars.map((b) => b.value), reference ?? 0);
  const top = Math.min(Math.max(...bars.map((b) => Math.max(b.hi ?? 0, b.value)), reference ?? 0), longest * 2) * 1.1;
  const axis = { ...niceScale(top), unit, label: axisLabel };
  const plotW = WIDTH - LABEL_W - RIGHT_W;
  const x = (v: number) => LABEL_W + (Math.min(Math.max(0, v), axis.max) / axis.max) * plotW;
  const body = bars.map((b, r) => {
    const cy = TOP + r * ROW_H + ROW_H / 2;
    const range =
      b.lo !== undefined && b.hi !== undefined
        ? `<line x1='${x(b.lo).toFixed(1)}' y1='${cy}' x2='${x(b.hi).toFixed(1)}' y2='${cy}' stroke='#111827' stroke-width='1.2'/><line x1='${x(b.lo).toFixed(1)}' y1='${cy - 4}' x2='${x(b.lo).toFixed(1)}' y2='${cy + 4}' stroke='#111827'/><line x1='${x(b.hi).toFixed(1)}' y1='${cy - 4}' x2='${x(b.hi).toFixed(1)}' y2='${cy + 4}' stroke='#111827'/>`
        : '';
    const clipped =
      b.hi !== undefined && b.hi > axis.max ? `<text x='${(x(axis.max) + 3).toFixed(1)}' y='${cy + 4}' font-size='12' fill='#111827'>›</text>` : '';
    return (
      label(cy, b.label, b.sub) +
      clipped +
      `<rect x='${LABEL_W}' y='${cy - 10}' width='${Math.max(1, x(b.value) - LABEL_W).toFixed(1)}' height='20' fill='${b.color}' fill-opacity='0.85' rx='2'/>` +
      range +
      `<text x='${WIDTH - RIGHT_W + 10}' y='${cy + 4}' font-size='11' fill='#111827'>${escapeXml(b.text)}</text>`
    );
  });
  const ref =
    reference !== undefined
      ? `<line x1='${x(reference).toFixed(1)}' y1='${TOP - 8}' x2='${x(reference).toFixed(1)}' y2='${TOP + bars.length * ROW_H}' stroke='#dc2626' stroke-width='1.5' stroke-dasharray='4 3'/><text x='${(x(reference) + 4).toFixed(1)}' y='${TOP - 10}' font-size='10' fill='#dc2626'>original</text>`
      : '';
  return { id, title, svg: frame(title, bars.length, body.join('') + ref, axis, id) };
}

/** Speed-up of every compiled variant over the original of its group (median of paired ratios, bar; p10–p90, whisker). */
export function speedupChart(report: BenchReport): Chart | undefined {
  const bars = [];
  for (const g of report.groups) {
    if (g.state !== 'measured') continue;
    for (const v of g.variants) {
      if (v.state !== 'measured' || !v.speedup) continue;
      bars.push({
        label: v.variant.label,
        sub: `${runtimeShort(g)} · batch ${g.batch}`,
        value: v.speedup.median,
        lo: v.speedup.p10,
        hi: v.speedup.p90,
        color: COLORS[v.variant.quantization],
        text: ratio(v.speedup.median),
      });
    }
  }
  if (!bars.length) return undefined;
  return barChart(
    'speedup',
    'Speed-up over the original (same runtime, same rounds)',
    bars,
    'times faster than the original (bar: median of per-round ratios; whisker: 10th–90th percentile)',
    '×',
    1,
  );
}

/** Model file size per variant (each file once), with its share of the original. */
export function sizeChart(report: BenchReport): Chart | undefined {
  const seen = new Map<string, VariantSpec>();
  for (const g of report.groups) {
    const specs = g.state === 'measured' ? g.variants.map((v) => v.variant) : g.variants;
    for (const v of specs) if (v.sizeBytes > 0 && !seen.has(v.id)) seen.set(v.id, v);
  }
  const original = [...seen.values()].find((v) => v.role === 'original');
  if (!seen.size) return undefined;
  const largest = Math.max(...[...seen.values()].map((v) => v.sizeBytes));
  const [unitBytes, unitName] = largest >= 1e6 ? [1e6, 'megabytes (10⁶ bytes)'] : [1e3, 'kilobytes (10³ bytes)'];
  const bars = [...seen.values()].map((v) => ({
    label: v.label,
    value: v.sizeBytes / unitBytes,
    color: COLORS[v.quantization],
    text: `${humanBytes(v.sizeBytes)}${original && v !== original ? ` (${percent(v.sizeBytes / original.sizeBytes)})` : ''}`,
  }));
  return barChart('size', 'Model file size', bars, unitName, '', undefined);
}

/** Every chart of a report, in report order. */
export function reportCharts(report: BenchReport): Chart[] {
  const charts: Chart[] = [];
  for (const g of report.groups) if (g.state === 'measured' && g.variants.some((v) => v.state === 'measured')) charts.push(latencyChart(g));
  const s = speedupChart(report);
  if (s) charts.push(s);
  const z = sizeChart(report);
  if (z) charts.push(z);
  return charts;
}
