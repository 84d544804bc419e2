import { describe, expect, it } from 'vitest';
import { reportCharts } from '../../src/bench/report/charts.js';
import { renderHtml } from '../../src/bench/report/html.js';
import { renderMarkdown } from '../../src/bench/report/markdown.js';
import { renderTerminal } from '../../src/bench/report/terminal.js';
import { syntheticReport } from './helpers.js';

describe('bench report writers', () => {
  const report = syntheticReport();

  it('charts: a latency distribution per measured group, speed-up bars and size bars, each one <svg>', () => {
    const charts = reportCharts(report);
    expect(charts.map((c) => c.id)).toEqual(['latency-ort-node-cpu-b1', 'latency-chromium-b1', 'speedup', 'size']);
    for (const c of charts) {
      expect(c.svg.startsWith("<svg xmlns='http://www.w3.org/2000/svg'")).toBe(true);
      expect(c.svg.match(/<svg/g)).toHaveLength(1);
      expect(c.svg).toContain(`data-chart='${c.id}'`);
      expect(c.svg).not.toMatch(/<script|href=/);
    }
    // One box per measured variant; the failed fp16 variant has none.
    const native = charts[0].svg;
    expect(native.match(/<rect x='[\d.]+' y='[\d.]+' width='[\d.]+' height='20' fill='#[0-9a-f]{6}' fill-opacity='0.22'/g)).toHaveLength(3);
    expect(native).toContain('p50 11.0 ms');
    expect(charts[2].svg).toContain('2.00×'); // int8: 10 / 5
    expect(charts[2].svg).toContain('>original</text>'); // the 1× reference line
    expect(charts[3].svg).toContain('1.1 MB (28%)');
  });

  it('HTML is one self-contained page with an <svg> per chart, the tables, the unavailable reason, escaped text', () => {
    const html = renderHtml(report);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<svg /g)).toHaveLength(4);
    expect(html).not.toMatch(/<script|<link|src=["']http/);
    expect(html).toContain('<th>p50</th>');
    expect(html).toContain('<td class="t">x86_64 int8</td>');
    expect(html).toContain('Not available on this host:</b> no CUDA provider installed');
    // The failure reason had <not> in it: escaped.
    expect(html).toContain('fp16 &lt;not&gt; in this build');
    expect(html).not.toContain('<not>');
  });

  it('Markdown has the summary, a table per group and the reasons', () => {
    const md = renderMarkdown(report, undefined, { images: { speedup: 'charts/speedup.png' } });
    expect(md).toContain('# kiln bench: tiny');
    expect(md).toContain('| variant | p50 | p90 | p99 | mean | items/s | cold start | peak RSS | size | speedup (p10–p90) | size ratio | cosine |');
    expect(md).toMatch(
      /\| x86_64 int8 \| 5\.50 ms \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| 50\.0 ms \| 120\.0 MB \| 1\.1 MB \| 2\.00× \(1\.50–2\.50\) \| 28% \| 0\.99950 \|/,
    );
    expect(md).toContain('| x86_64 fp16 | failed: not compiled: fp16 <not> in this build |');
    expect(md).toContain('**Not available on this host**: no CUDA provider installed');
    expect(md).toContain('![speedup](charts/speedup.png)');
    expect(md).toMatch(/native cpu, batch 1: fastest x86_64 int8 at 2\.00×/);
  });

  it('the terminal table aligns its columns', () => {
    const text = renderTerminal(report);
    const lines = text.split('\n');
    const header = lines.find((l) => l.includes('speedup (p10–p90)'))!;
    const row = lines.find((l) => l.trimStart().startsWith('x86_64 int8'))!;
    // Right-aligned columns end at the same place as their header.
    expect(row.indexOf('5.50 ms') + '5.50 ms'.length).toBe(header.indexOf('p50') + 'p50'.length);
    expect(row.indexOf('2.00× (1.50–2.50)') + '2.00× (1.50–2.50)'.length).toBe(header.indexOf('speedup (p10–p90)') + 'speedup (p10–p90)'.length);
    expect(text).toContain('  x86_64 fp16: failed: not compiled: fp16 <not> in this build');
    expect(text).toContain('gpu-cuda: not available on this host — no CUDA provider installed');
  });
});
