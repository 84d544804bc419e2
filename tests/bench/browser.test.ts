import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBench } from '../../src/bench/bench.js';
import { runBrowserBench } from '../../src/bench/browser.js';
import { DEFAULT_CHROMIUM } from '../../src/bench/chromium.js';
import { randomFeeds } from '../../src/bench/inputs.js';
import { tinyModel } from './helpers.js';

const hasChromium = existsSync(DEFAULT_CHROMIUM);

describe('WASM in headless Chromium', () => {
  it.skipIf(!hasChromium)(
    `runs onnxruntime-web in a real Chromium page on a tiny model (skipped without chromium at ${DEFAULT_CHROMIUM})`,
    async () => {
      const a = tinyModel({ seed: 1 });
      const b = tinyModel({ seed: 1 });
      const rounds: number[] = [];
      const r = await runBrowserBench({
        chromiumPath: DEFAULT_CHROMIUM,
        variants: [
          { id: 'original', modelPath: a.path },
          { id: 'same', modelPath: b.path },
        ],
        feeds: randomFeeds([{ name: 'input', dtype: 'float32', dims: [1, 3, 16, 16] }]),
        threads: 1,
        warmup: 1,
        iterations: 5,
        onProgress: (done) => rounds.push(done),
      });
      expect(r.userAgent).toMatch(/HeadlessChrome\//);
      expect(r.crossOriginIsolated).toBe(true);
      expect(r.threads).toBe(1);
      expect(r.importMs).toBeGreaterThan(0);
      expect(rounds.at(-1)).toBe(5);
      for (const m of r.models) {
        expect(m.error).toBeUndefined();
        expect(m.samplesMs).toHaveLength(5);
        for (const s of m.samplesMs!) expect(s).toBeGreaterThan(0);
        expect(m.loadMs).toBeGreaterThan(0);
        // A fresh browser context per variant: the runtime is imported and initialised again.
        expect(m.cold?.error).toBeUndefined();
        expect(m.cold!.loadMs).toBeGreaterThan(0);
        expect(m.cold!.firstRunMs).toBeGreaterThan(0);
      }
      // Same weights (same seed): the page's own output comparison agrees exactly.
      expect(r.models[1].agreement?.cosine).toBeCloseTo(1, 6);
      expect(r.models[1].agreement?.maxAbsError).toBe(0);
    },
    180_000,
  ); // a browser starts slowly on a loaded 2-core machine: a generous limit, not a speed check

  it('without chromium the browser group says so, and the run goes on', async () => {
    const { dir, path } = tinyModel();
    process.env.KILN_HOME = join(dir, 'home');
    const report = await runBench({
      subject: path,
      browser: true,
      iterations: 2,
      warmup: 0,
      coldStart: 'shared',
      env: { KILN_CHROMIUM: join(dir, 'no-chromium') },
    });
    const browser = report.groups.find((g) => g.id === 'chromium');
    expect(browser).toMatchObject({ state: 'unavailable', runtime: 'chromium', reason: 'chromium not installed (apt-get install chromium)' });
    expect(report.groups.find((g) => g.id === 'ort-node-cpu')?.state).toBe('measured');
  });
});
