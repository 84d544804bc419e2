/**
 * How figures read in every report (terminal, Markdown, HTML): the same rows, the same words.
 * Pure functions over a BenchReport.
 */
import { humanBytes } from '../../format.js';
import type { BenchReport, GroupResult, HistoryDelta, VariantResult } from '../types.js';

/** 0.1712 → '0.171 ms', 25.31 → '25.3 ms', 1651 → '1651 ms'. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const digits = value < 1 ? 3 : value < 10 ? 2 : value < 100 ? 1 : 0;
  return `${value.toFixed(digits)} ms`;
}

export const ratio = (value: number): string => `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}×`;
export const percent = (value: number): string => `${(value * 100).toFixed(value < 0.1 ? 1 : 0)}%`;
export const signedPercent = (value: number): string => `${value >= 0 ? '+' : '−'}${Math.abs(value * 100).toFixed(1)}%`;

export const COLUMNS = [
  'variant',
  'p50',
  'p90',
  'p99',
  'mean',
  'items/s',
  'cold start',
  'peak RSS',
  'size',
  'speedup (p10–p90)',
  'size ratio',
  'cosine',
] as const;
export const ALIGN = ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'] as const;

/** One table row per variant of a measured group. Failed variants say why in the second column. */
export function variantRows(group: Extract<GroupResult, { state: 'measured' }>): string[][] {
  return group.variants.map((v) => variantRow(v, group.emulated));
}

function variantRow(v: VariantResult, emulated: boolean): string[] {
  if (v.state === 'failed') return [v.variant.label, `failed: ${v.reason}`];
  const l = v.latency;
  const speedup = v.speedup ? `${ratio(v.speedup.median)} (${v.speedup.p10.toFixed(2)}–${v.speedup.p90.toFixed(2)})` : '—';
  const cosine = v.agreement ? v.agreement.cosine.toFixed(5) : '—';
  const host = emulated && v.hostCheck ? ` / x86 ${v.hostCheck.cosine.toFixed(5)}` : '';
  return [
    v.variant.label,
    ms(l.p50),
    ms(l.p90),
    ms(l.p99),
    ms(l.mean),
    v.throughput >= 100 ? v.throughput.toFixed(0) : v.throughput.toFixed(1),
    ms(v.cold.totalMs),
    v.memory ? humanBytes(v.memory.peakRssBytes) : '—',
    humanBytes(v.variant.sizeBytes),
    speedup,
    v.sizeRatio !== undefined ? percent(v.sizeRatio) : '—',
    cosine + host,
  ];
}

/** A few words for where a group ran: 'native cpu', 'WASM in Node', 'WASM in Chromium', 'arm64, emulated'. */
export function runtimeShort(g: Extract<GroupResult, { state: 'measured' }>): string {
  switch (g.runtime) {
    case 'ort-web':
      return 'WASM in Node';
    case 'chromium':
      return 'WASM in Chromium';
    case 'arm64-emulated':
      return 'arm64, emulated';
    default:
      return `native ${g.id.replace(/^ort-node-/, '')}`;
  }
}

/** The title line of a group: runtime, batch, inputs. */
export function groupTitle(g: GroupResult): string {
  if (g.state === 'unavailable') return `${g.id} — not available on this host`;
  const inputs = Object.entries(g.inputs)
    .map(([n, d]) => `${n} ${d.join('x')}`)
    .join(', ');
  const rounds = g.variants.find((v) => v.state === 'measured');
  return `${g.label}${g.emulated ? ' — EMULATED' : ''} · batch ${g.batch} · ${inputs}${rounds?.state === 'measured' ? ` · ${rounds.latency.n} rounds` : ''}`;
}

/** The reason of an unavailable group without its leading 'target: '. */
export function unavailableReason(g: Extract<GroupResult, { state: 'unavailable' }>): string {
  return g.reason.startsWith(`${g.id}: `) ? g.reason.slice(g.id.length + 2) : g.reason;
}

/** Short sentences that say what the run found: best speed-up and size per group. */
export function headlines(report: BenchReport): string[] {
  const out: string[] = [];
  for (const g of report.groups) {
    if (g.state !== 'measured') continue;
    const compiled = g.variants.filter((v): v is Extract<VariantResult, { state: 'measured' }> => v.state === 'measured' && !!v.speedup);
    if (!compiled.length) continue;
    const best = compiled.reduce((a, b) => (b.speedup!.median > a.speedup!.median ? b : a));
    const size = best.sizeRatio !== undefined ? percent(best.sizeRatio) : '?';
    // Within ±3 % of the original is "no faster" on a shared machine.
    out.push(
      best.speedup!.median >= 1.03
        ? `${runtimeShort(g)}, batch ${g.batch}: fastest ${best.variant.label} at ${ratio(best.speedup!.median)} the original's speed (p50 ${ms(best.latency.p50)}), ${size} of its size`
        : `${runtimeShort(g)}, batch ${g.batch}: no variant is faster than the original (best ${best.variant.label} at ${ratio(best.speedup!.median)}, p50 ${ms(best.latency.p50)}, ${size} of its size)`,
    );
  }
  return out;
}

export function deltaLines(delta: HistoryDelta): string[] {
  const lines = [
    `vs previous run ${delta.previousRunId} (${delta.previousAt})${delta.settingsChanged.length ? ` — settings changed: ${delta.settingsChanged.join('; ')}` : ''}`,
  ];
  for (const r of delta.rows) {
    const sp = r.speedupBefore !== undefined && r.speedupAfter !== undefined ? `, speedup ${ratio(r.speedupBefore)} → ${ratio(r.speedupAfter)}` : '';
    lines.push(`  ${r.group} b${r.batch} ${r.variant}: p50 ${ms(r.p50Before)} → ${ms(r.p50After)} (${signedPercent(r.p50Change)})${sp}`);
  }
  if (delta.rows.length === 0) lines.push('  (no variant in common)');
  return lines;
}
