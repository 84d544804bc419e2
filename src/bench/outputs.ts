/**
 * Writing a run's outputs: `<out>/<runId>/` with result.json, report.md, report.html and PNG charts
 * (charts/*.png, report.png; skipped with a note when Chromium is missing), and one line appended
 * to `<out>/history.jsonl`, after reading the previous run of the same model for the delta.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CHROMIUM_MISSING, findChromium } from './chromium.js';
import { appendHistory, HISTORY_FILE, historyDelta, previousRun, readHistory } from './history.js';
import { renderHtml } from './report/html.js';
import { renderMarkdown } from './report/markdown.js';
import { renderPngs } from './report/png.js';
import type { BenchReport, HistoryDelta } from './types.js';

export const DEFAULT_OUT_DIR = 'bench/results';

export interface WriteOptions {
  /** Render PNGs of the charts in headless Chromium. @default true */
  png?: boolean;
  /** Append to history.jsonl (and compute the delta). @default true */
  history?: boolean;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface WrittenBench {
  /** The run's folder, `<out>/<runId>`. */
  dir: string;
  /** The run id used (the report's, with a -2, -3 … suffix when that folder already existed). */
  runId: string;
  files: { json: string; markdown: string; html: string; history?: string; pngs: string[]; pagePng?: string };
  delta?: HistoryDelta;
  /** Why PNGs were not made, when they were not. */
  pngNote?: string;
}

const jsonReplacer = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v);

export async function writeBenchOutputs(given: BenchReport, outDir: string, options: WriteOptions = {}): Promise<WrittenBench> {
  // Two runs in the same second get distinct folders (and run ids): name-…-2, -3, …
  let report = given;
  for (let n = 2; existsSync(join(outDir, report.runId)); n++) report = { ...given, runId: `${given.runId}-${n}` };
  const dir = join(outDir, report.runId);
  mkdirSync(dir, { recursive: true });
  let delta: HistoryDelta | undefined;
  const historyFile = join(outDir, HISTORY_FILE);
  if (options.history !== false) {
    const previous = previousRun(readHistory(historyFile), report);
    if (previous) delta = historyDelta(previous, report);
  }
  const json = join(dir, 'result.json');
  writeFileSync(json, `${JSON.stringify({ ...report, ...(delta ? { delta } : {}) }, jsonReplacer, 2)}\n`);
  const html = join(dir, 'report.html');
  writeFileSync(html, renderHtml(report, delta));

  const pngs: string[] = [];
  let pagePng: string | undefined;
  let pngNote: string | undefined;
  const images: Record<string, string> = {};
  if (options.png !== false) {
    const chromium = findChromium(options.env);
    if (!chromium) pngNote = `PNG charts skipped: ${CHROMIUM_MISSING}; the HTML report has the same charts as SVG`;
    else {
      try {
        const r = await renderPngs(html, join(dir, 'charts'), chromium, join(dir, 'report.png'));
        for (const [id, path] of Object.entries(r.charts)) {
          pngs.push(path);
          images[id] = relative(dir, path);
        }
        pagePng = r.page;
      } catch (err) {
        pngNote = `PNG charts skipped: Chromium failed (${String((err as Error).message).split('\n')[0]})`;
      }
    }
  }
  const markdown = join(dir, 'report.md');
  writeFileSync(markdown, renderMarkdown(report, delta, { images }) + (pngNote ? `\n_${pngNote}_\n` : ''));
  if (options.history !== false) appendHistory(historyFile, report);
  return {
    dir,
    runId: report.runId,
    files: { json, markdown, html, ...(options.history !== false ? { history: historyFile } : {}), pngs, ...(pagePng ? { pagePng } : {}) },
    delta,
    pngNote,
  };
}
