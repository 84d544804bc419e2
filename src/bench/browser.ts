/**
 * The WASM benchmark in a real browser: kiln serves a page (server.ts) that loads onnxruntime-web's
 * browser build, and headless Chromium (chromium.ts) opens it. One page runs every variant
 * interleaved; for cold start, each variant gets a fresh browser context (empty cache: a first
 * visit) that imports the runtime, fetches and loads the model and runs it once.
 */
import type { NamedTensors } from '../runtime/backend.js';
import { launchChromium, peakRssOf, rendererPids } from './chromium.js';
import { startPageServer } from './server.js';
import type { OutputAgreement } from './types.js';
import { KilnError } from '../errors.js';

export interface BrowserBenchOptions {
  chromiumPath: string;
  variants: readonly { id: string; modelPath: string }[];
  feeds: NamedTensors;
  /** WASM threads (the page is cross-origin isolated, so > 1 works). @default 1 */
  threads?: number;
  warmup: number;
  iterations: number;
  /** Also measure each variant's cold start in a fresh context. @default true */
  coldStart?: boolean;
  /** Per page. @default 600_000 */
  timeoutMs?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface BrowserModelResult {
  id: string;
  loadMs?: number;
  firstRunMs?: number;
  samplesMs?: number[];
  agreement?: OutputAgreement;
  error?: string;
  cold?: { importMs: number; fetchMs: number; loadMs: number; firstRunMs: number; peakRssBytes?: number; error?: string };
}

export interface BrowserBenchResult {
  userAgent: string;
  crossOriginIsolated: boolean;
  threads: number;
  ortVersion: string;
  importMs: number;
  models: BrowserModelResult[];
}

interface PageResult {
  fatal?: string;
  importMs: number;
  crossOriginIsolated: boolean;
  threads: number;
  userAgent: string;
  ortVersion: string;
  models: { id: string; fetchMs?: number; loadMs?: number; firstRunMs?: number; samplesMs?: number[]; agreement?: OutputAgreement; error?: string }[];
}

export const BROWSER_ORT_MODULE = 'ort.wasm.min.mjs';

export async function runBrowserBench(options: BrowserBenchOptions): Promise<BrowserBenchResult> {
  const inputs = Object.entries(options.feeds).map(([name, t]) => ({ name, type: t.type, dims: [...t.dims] }));
  const inputBytes = Object.values(options.feeds).map((t) => {
    const v = t.data as ArrayBufferView;
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  });
  const config = {
    ortModule: BROWSER_ORT_MODULE,
    threads: options.threads ?? 1,
    warmup: options.warmup,
    iterations: options.iterations,
    optimization: 'all',
    inputs,
    variants: options.variants.map((v) => ({ id: v.id })),
  };
  const server = await startPageServer({ config, models: options.variants.map((v) => v.modelPath), inputs: inputBytes }, (body) => {
    const p = body as { done?: number; total?: number };
    if (typeof p.done === 'number' && typeof p.total === 'number') options.onProgress?.(p.done, p.total);
  });
  const timeout = options.timeoutMs ?? 600_000;
  const browser = await launchChromium(options.chromiumPath);
  try {
    const open = async (query: string): Promise<{ result: PageResult; peakRssBytes?: number }> => {
      const before = new Set(await rendererPids(browser));
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('pageerror', (err) => errors.push(err.message));
        await page.goto(`${server.url}${query}`);
        const result = (await server.nextResult(timeout)) as PageResult;
        if (result.fatal && errors.length) result.fatal += ` (${errors[0]})`;
        const mine = (await rendererPids(browser)).filter((pid) => !before.has(pid));
        return { result, peakRssBytes: peakRssOf(mine) };
      } finally {
        await context.close();
      }
    };

    const main = await open('?mode=interleaved');
    if (main.result.fatal) throw new KilnError('RUNTIME_CRASH', `the bench page failed in Chromium: ${main.result.fatal.split('\n')[0]}`);
    const models: BrowserModelResult[] = main.result.models.map((m) => ({
      id: m.id,
      loadMs: m.loadMs,
      firstRunMs: m.firstRunMs,
      samplesMs: m.samplesMs,
      agreement: m.agreement,
      error: m.error,
    }));
    if (options.coldStart !== false) {
      for (let i = 0; i < options.variants.length; i++) {
        if (models[i].error) continue;
        const cold = await open(`?mode=cold&variant=${i}`);
        const m = cold.result.models?.[0];
        if (cold.result.fatal || !m || m.error) {
          models[i].cold = { importMs: 0, fetchMs: 0, loadMs: 0, firstRunMs: 0, error: cold.result.fatal ?? m?.error ?? 'no result' };
        } else {
          models[i].cold = {
            importMs: cold.result.importMs,
            fetchMs: m.fetchMs ?? 0,
            loadMs: m.loadMs ?? 0,
            firstRunMs: m.firstRunMs ?? 0,
            peakRssBytes: cold.peakRssBytes,
          };
        }
      }
    }
    return {
      userAgent: main.result.userAgent,
      crossOriginIsolated: main.result.crossOriginIsolated,
      threads: main.result.threads,
      ortVersion: main.result.ortVersion,
      importMs: main.result.importMs,
      models,
    };
  } finally {
    await browser.close().catch(() => {});
    await server.close();
  }
}
