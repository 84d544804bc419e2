/**
 * The report as a Markdown summary (report.md). Pure.
 */
import { humanBytes } from '../../format.js';
import type { BenchReport, HistoryDelta } from '../types.js';
import { COLUMNS, groupTitle, headlines, ms, ratio, signedPercent, unavailableReason, variantRows } from './text.js';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function mdTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly ('left' | 'right')[]): string {
  const line = (r: readonly string[]) => `| ${header.map((_, i) => cell(r[i] ?? '')).join(' | ')} |`;
  return [line(header), `|${align.map((a) => (a === 'right' ? ' ---: ' : ' --- ')).join('|')}|`, ...rows.map(line)].join('\n');
}

export interface MarkdownOptions {
  /** Relative paths of chart images to link, by chart id. */
  images?: Readonly<Record<string, string>>;
}

export function renderMarkdown(report: BenchReport, delta?: HistoryDelta, options: MarkdownOptions = {}): string {
  const h = report.host;
  const out: string[] = [];
  out.push(`# kiln bench: ${report.model.name}`, '');
  out.push(`- model: \`${report.model.source}\` (${humanBytes(report.model.sizeBytes)}, sha256 \`${report.model.sha256.slice(0, 12)}…\`)`);
  out.push(
    `- host: ${h.cpu}, ${h.cores} cores, ${humanBytes(h.memoryBytes)} RAM, ${h.platform}/${h.arch}, Node ${h.node}, ${Object.entries(h.runtimes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  out.push(
    `- run: \`${report.runId}\`, ${report.createdAt}, ${report.settings.iterations} timed rounds after ${report.settings.warmup} warm-up runs, ${report.seconds.toFixed(1)} s`,
  );
  out.push(`- timing: ${report.settings.timing}`);
  const lines = headlines(report);
  if (lines.length) out.push('', '## Summary', '', ...lines.map((l) => `- ${l}`));
  for (const g of report.groups) {
    out.push('');
    if (g.state === 'unavailable') {
      out.push(`## ${g.id}`, '', `**Not available on this host**: ${unavailableReason(g)}`);
      continue;
    }
    out.push(`## ${groupTitle(g)}`, '');
    const align = COLUMNS.map((_, i) => (i === 0 ? 'left' : 'right') as 'left' | 'right');
    out.push(mdTable(COLUMNS, variantRows(g), align));
    const img = options.images?.[`latency-${g.id}-b${g.batch}`];
    if (img) out.push('', `![latency distribution, ${g.id}, batch ${g.batch}](${img})`);
    if (g.notes.length) out.push('', ...g.notes.map((n) => `- ${n}`));
  }
  for (const id of ['speedup', 'size']) {
    const img = options.images?.[id];
    if (img) out.push('', `![${id}](${img})`);
  }
  if (delta) {
    out.push(
      '',
      '## Change since the previous run',
      '',
      `Previous run: \`${delta.previousRunId}\` (${delta.previousAt}).${delta.settingsChanged.length ? ` Settings changed: ${delta.settingsChanged.join('; ')}.` : ''}`,
      '',
    );
    out.push(
      mdTable(
        ['group', 'batch', 'variant', 'p50 before', 'p50 now', 'change', 'speedup before', 'speedup now'],
        delta.rows.map((r) => [
          r.group,
          String(r.batch),
          r.variant,
          ms(r.p50Before),
          ms(r.p50After),
          signedPercent(r.p50Change),
          r.speedupBefore !== undefined ? ratio(r.speedupBefore) : '—',
          r.speedupAfter !== undefined ? ratio(r.speedupAfter) : '—',
        ]),
        ['left', 'right', 'left', 'right', 'right', 'right', 'right', 'right'],
      ),
    );
  }
  if (report.notes.length) out.push('', '## Notes', '', ...report.notes.map((n) => `- ${n}`));
  out.push(
    '',
    '_Ratios: each variant ran in the same rounds as the original (order rotating); speed-up is the median of the per-round ratios original ÷ variant, with its 10th–90th percentile. Absolute times on a shared machine are noisy; the ratios hold. Cosine: lowest output cosine vs the original on the benchmark input._',
    '',
  );
  return out.join('\n');
}
