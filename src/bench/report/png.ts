/**
 * PNG renders of the report's charts: the HTML report opened in headless Chromium, each chart's
 * <svg data-chart> screenshotted to `<dir>/<chart id>.png`, and the whole page to report.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchChromium } from '../chromium.js';

export interface PngRender {
  /** Chart id → PNG path. */
  charts: Record<string, string>;
  page?: string;
}

export async function renderPngs(htmlPath: string, chartsDir: string, chromiumPath: string, pagePng?: string): Promise<PngRender> {
  mkdirSync(chartsDir, { recursive: true });
  const browser = await launchChromium(chromiumPath);
  try {
    const context = await browser.newContext({ viewport: { width: 1120, height: 900 }, deviceScaleFactor: 2 });
    const page = await context.newPage();
    await page.goto(pathToFileURL(htmlPath).href);
    const charts: Record<string, string> = {};
    for (const el of await page.locator('svg[data-chart]').all()) {
      const id = (await el.getAttribute('data-chart')) ?? `chart-${Object.keys(charts).length}`;
      const path = join(chartsDir, `${id.replace(/[^A-Za-z0-9_.-]/g, '_')}.png`);
      await el.screenshot({ path });
      charts[id] = path;
    }
    if (pagePng) await page.screenshot({ path: pagePng, fullPage: true });
    await context.close();
    return { charts, ...(pagePng ? { page: pagePng } : {}) };
  } finally {
    await browser.close().catch(() => {});
  }
}
