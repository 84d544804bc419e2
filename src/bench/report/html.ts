/**
 * The report as one self-contained HTML file: inline CSS and inline SVG charts, no scripts and no
 * links outside the file. Pure.
 */
import { humanBytes } from '../../format.js';
import type { BenchReport, HistoryDelta } from '../types.js';
import { COLORS, escapeXml, reportCharts, type Chart } from './charts.js';
import { COLUMNS, groupTitle, headlines, ms, ratio, signedPercent, unavailableReason, variantRows } from './text.js';

const esc = escapeXml;

const CSS = `
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1080px;color:#111827;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#4b5563;font-size:13px;line-height:1.6}
.summary{background:#f0f9ff;border:1px solid #bae6fd;border-radius:6px;padding:8px 14px;font-size:14px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0 10px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #e5e7eb;white-space:nowrap}th{background:#f9fafb;text-align:right}
td{text-align:right;font-variant-numeric:tabular-nums}td:first-child,th:first-child{text-align:left}
td.t{text-align:left}td.failed{color:#b91c1c;text-align:left;white-space:normal}
.unavailable{background:#fef2f2;border:1px solid #fecaca;border-radius:6px;padding:8px 14px;font-size:14px}
.emulated{background:#fffbeb;border:1px solid #fde68a;border-radius:4px;padding:1px 6px;font-size:12px}
.notes{color:#4b5563;font-size:12.5px}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:4px;vertical-align:-1px}
figure{margin:8px 0 18px}svg{max-width:100%;height:auto}
`;

function htmlTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const body = rows
    .map((r) =>
      r.length === 2 && r[1].startsWith('failed:')
        ? `<tr><td>${esc(r[0])}</td><td class="failed" colspan="${header.length - 1}">${esc(r[1])}</td></tr>`
        : `<tr>${r.map((c) => `<td${/^[A-Za-z]/.test(c) ? ' class="t"' : ''}>${esc(c)}</td>`).join('')}</tr>`,
    )
    .join('');
  return `<table><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>`;
}

const figure = (c: Chart | undefined): string => (c ? `<figure>${c.svg}</figure>` : '');

export function renderHtml(report: BenchReport, delta?: HistoryDelta): string {
  const charts = new Map(reportCharts(report).map((c) => [c.id, c]));
  const h = report.host;
  const parts: string[] = [];
  parts.push(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>kiln bench: ${esc(report.model.name)}</title><style>${CSS}</style></head><body>`,
  );
  parts.push(`<h1>kiln bench: ${esc(report.model.name)}</h1>`);
  parts.push(
    `<div class="meta">model <code>${esc(report.model.source)}</code> · ${esc(humanBytes(report.model.sizeBytes))} · sha256 <code>${esc(report.model.sha256.slice(0, 12))}…</code><br>` +
      `host ${esc(h.cpu)} · ${h.cores} cores · ${esc(humanBytes(h.memoryBytes))} RAM · ${esc(`${h.platform}/${h.arch}`)} · Node ${esc(h.node)} · ${esc(
        Object.entries(h.runtimes)
          .map(([k, v]) => `${k} ${v}`)
          .join(' · '),
      )}<br>` +
      `run <code>${esc(report.runId)}</code> · ${esc(report.createdAt)} · ${report.settings.iterations} timed rounds after ${report.settings.warmup} warm-up runs · ${report.seconds.toFixed(1)} s</div>`,
  );
  const lines = headlines(report);
  if (lines.length) parts.push(`<h2>Summary</h2><div class="summary">${lines.map((l) => `<div>${esc(l)}</div>`).join('')}</div>`);
  parts.push(
    `<div class="legend" style="margin-top:12px">${Object.entries(COLORS)
      .map(([k, c]) => `<span><i style="background:${c}"></i>${esc(k === 'source' ? 'original' : k === 'none' ? 'fp32 (optimized)' : k)}</span>`)
      .join('')}</div>`,
  );
  for (const g of report.groups) {
    if (g.state === 'unavailable') {
      parts.push(`<h2>${esc(g.id)}</h2><div class="unavailable"><b>Not available on this host:</b> ${esc(unavailableReason(g))}</div>`);
      continue;
    }
    parts.push(`<h2>${esc(groupTitle(g))}${g.emulated ? ' <span class="emulated">emulated: not ARM hardware timings</span>' : ''}</h2>`);
    parts.push(htmlTable(COLUMNS, variantRows(g)));
    parts.push(figure(charts.get(`latency-${g.id}-b${g.batch}`)));
    if (g.notes.length) parts.push(`<ul class="notes">${g.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  }
  if (charts.has('speedup')) parts.push(`<h2>Speed-up</h2>${figure(charts.get('speedup'))}`);
  if (charts.has('size')) parts.push(`<h2>Size</h2>${figure(charts.get('size'))}`);
  if (delta) {
    parts.push(
      `<h2>Change since the previous run</h2><div class="meta">previous run <code>${esc(delta.previousRunId)}</code> (${esc(delta.previousAt)})${delta.settingsChanged.length ? ` · settings changed: ${esc(delta.settingsChanged.join('; '))}` : ''}</div>`,
    );
    parts.push(
      htmlTable(
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
      ),
    );
  }
  if (report.notes.length) parts.push(`<h2>Notes</h2><ul class="notes">${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  parts.push(
    `<p class="notes">Timing: ${esc(report.settings.timing)}. Speed-up is the median of per-round ratios original ÷ variant (whiskers: 10th–90th percentile): absolute times on a shared machine are noisy, the ratios hold. Cosine: lowest output cosine vs the original on the benchmark input. The benchmark process peaked at ${esc(humanBytes(report.processPeakRssBytes))}.</p>`,
  );
  parts.push('</body></html>\n');
  return parts.join('\n');
}
