/**
 * The run history: one JSON line per run in `<out>/history.jsonl`, so that a run can be compared
 * with the previous run of the same model (same source sha256). Reading skips lines it cannot parse.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { relativeChange } from './stats.js';
import type { BenchReport, HistoryDelta } from './types.js';

export const HISTORY_FILE = 'history.jsonl';

export interface HistoryEntry {
  runId: string;
  createdAt: string;
  model: { name: string; sha256: string; source: string };
  host: { cpu: string; cores: number };
  settings: { iterations: number; warmup: number; threads?: number; shapes: Record<string, number[]> };
  rows: { group: string; batch: number; variant: string; label: string; p50: number; p90: number; mean: number; speedup?: number }[];
}

/** The compact record of a run that history.jsonl keeps. */
export function historyEntry(report: BenchReport): HistoryEntry {
  const rows: HistoryEntry['rows'] = [];
  for (const g of report.groups) {
    if (g.state !== 'measured') continue;
    for (const v of g.variants) {
      if (v.state !== 'measured') continue;
      rows.push({
        group: g.id,
        batch: g.batch,
        variant: v.variant.id,
        label: v.variant.label,
        p50: v.latency.p50,
        p90: v.latency.p90,
        mean: v.latency.mean,
        ...(v.speedup ? { speedup: v.speedup.median } : {}),
      });
    }
  }
  return {
    runId: report.runId,
    createdAt: report.createdAt,
    model: { name: report.model.name, sha256: report.model.sha256, source: report.model.source },
    host: { cpu: report.host.cpu, cores: report.host.cores },
    settings: {
      iterations: report.settings.iterations,
      warmup: report.settings.warmup,
      ...(report.settings.threads !== undefined ? { threads: report.settings.threads } : {}),
      shapes: report.settings.shapes,
    },
    rows,
  };
}

export function readHistory(file: string): HistoryEntry[] {
  if (!existsSync(file)) return [];
  const out: HistoryEntry[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as HistoryEntry;
      if (e && typeof e.runId === 'string' && e.model && Array.isArray(e.rows)) out.push(e);
    } catch {
      /* a torn or foreign line: skipped */
    }
  }
  return out;
}

/**
 * The latest earlier run of the same model (same source hash) that measured at least one of the
 * same variants on the same runtime and batch; else the latest run of that model; else undefined.
 */
export function previousRun(entries: readonly HistoryEntry[], report: BenchReport): HistoryEntry | undefined {
  const now = historyEntry(report);
  const key = (r: HistoryEntry['rows'][number]) => `${r.group}|${r.batch}|${r.variant}`;
  const keys = new Set(now.rows.map(key));
  const same = entries.filter((e) => e.runId !== report.runId && e.model.sha256 === report.model.sha256);
  for (let i = same.length - 1; i >= 0; i--) if (same[i].rows.some((r) => keys.has(key(r)))) return same[i];
  return same.at(-1);
}

/** Per variant, p50 then and now, and what changed in the settings. */
export function historyDelta(previous: HistoryEntry, report: BenchReport): HistoryDelta {
  const now = historyEntry(report);
  const changed: string[] = [];
  const show = (v: unknown) => (v === undefined ? 'default' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  if (previous.settings.threads !== now.settings.threads) changed.push(`threads ${show(previous.settings.threads)} → ${show(now.settings.threads)}`);
  if (previous.settings.iterations !== now.settings.iterations) changed.push(`iterations ${previous.settings.iterations} → ${now.settings.iterations}`);
  if (JSON.stringify(previous.settings.shapes) !== JSON.stringify(now.settings.shapes))
    changed.push(`shapes ${show(previous.settings.shapes)} → ${show(now.settings.shapes)}`);
  if (previous.host.cpu !== now.host.cpu || previous.host.cores !== now.host.cores)
    changed.push(`host ${previous.host.cpu} (${previous.host.cores}) → ${now.host.cpu} (${now.host.cores})`);
  const rows: HistoryDelta['rows'] = [];
  for (const r of now.rows) {
    const p = previous.rows.find((x) => x.group === r.group && x.batch === r.batch && x.variant === r.variant);
    if (!p) continue;
    rows.push({
      group: r.group,
      batch: r.batch,
      variant: r.label,
      p50Before: p.p50,
      p50After: r.p50,
      p50Change: relativeChange(p.p50, r.p50) ?? 0,
      ...(p.speedup !== undefined ? { speedupBefore: p.speedup } : {}),
      ...(r.speedup !== undefined ? { speedupAfter: r.speedup } : {}),
    });
  }
  return { previousRunId: previous.runId, previousAt: previous.createdAt, settingsChanged: changed, rows };
}

export function appendHistory(file: string, report: BenchReport): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${JSON.stringify(historyEntry(report))}\n`);
}
