/**
 * The report as aligned terminal tables (what `kiln bench` prints). Pure.
 */
import { humanBytes, table } from '../../format.js';
import type { BenchReport, HistoryDelta } from '../types.js';
import { ALIGN, COLUMNS, deltaLines, groupTitle, headlines, unavailableReason, variantRows } from './text.js';

export function renderTerminal(report: BenchReport, delta?: HistoryDelta): string {
  const out: string[] = [];
  out.push(
    `kiln bench ${report.model.name} (${report.model.source}) — ${report.host.cpu}, ${report.host.cores} cores, ${report.settings.iterations} rounds after ${report.settings.warmup} warm-up`,
  );
  for (const g of report.groups) {
    out.push('');
    if (g.state === 'unavailable') {
      out.push(`${g.id}: not available on this host — ${unavailableReason(g)}`);
      continue;
    }
    out.push(groupTitle(g));
    // Failed variants under the table, so their reasons do not widen a column.
    const rows = variantRows(g);
    out.push(
      table(
        rows.filter((r) => r.length > 2),
        { header: [...COLUMNS], align: [...ALIGN], indent: 2 },
      ),
    );
    for (const r of rows.filter((x) => x.length === 2)) out.push(`  ${r[0]}: ${r[1]}`);
    for (const note of g.notes.filter((n) => /EMULATED|not cross-origin|failed|could not/.test(n))) out.push(`  note: ${note}`);
  }
  const lines = headlines(report);
  if (lines.length) out.push('', ...lines.map((l) => `• ${l}`));
  if (delta) out.push('', ...deltaLines(delta));
  out.push(
    '',
    `ratios pair each variant's run with the original's in the same round (median of per-round ratios); this process peaked at ${humanBytes(report.processPeakRssBytes)}; ${report.seconds.toFixed(1)} s`,
  );
  return out.join('\n');
}
