/**
 * Headless Chromium through playwright-core: the only module that imports playwright. Used for the
 * in-browser WASM benchmark and to render the report's charts to PNG.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_MISSING = 'chromium not installed (apt-get install chromium)';

/** Flags for a quiet, offline, throwaway browser. */
export const CHROMIUM_ARGS: readonly string[] = Object.freeze([
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]);

/** The Chromium binary to use (`KILN_CHROMIUM`, else /usr/bin/chromium), or undefined when it is not installed. */
export function findChromium(env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  const path = env.KILN_CHROMIUM || DEFAULT_CHROMIUM;
  return existsSync(path) ? path : undefined;
}

export async function launchChromium(executablePath: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS] });
}

/** Peak resident memory (VmHWM) of a process, bytes; undefined when it cannot be read. */
function processPeakRss(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The renderer processes' ids, through the browser's DevTools protocol (empty when it cannot tell). */
export async function rendererPids(browser: Browser): Promise<number[]> {
  try {
    const cdp = await browser.newBrowserCDPSession();
    const info = (await cdp.send('SystemInfo.getProcessInfo')) as { processInfo: { type: string; id: number }[] };
    await cdp.detach();
    return info.processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
  } catch {
    return [];
  }
}

/** The largest peak RSS among `pids` (a page's renderer), bytes. */
export function peakRssOf(pids: readonly number[]): number | undefined {
  const values = pids.map(processPeakRss).filter((v): v is number => v !== undefined);
  return values.length ? Math.max(...values) : undefined;
}
