/**
 * The dashboard's deployments and telemetry sections in headless Chromium, on a real cloud: a real
 * fleet (deploy-helpers: gateway, registry, three agents with traffic through their /infer endpoints)
 * and a real DeploymentManager behind the API. Three deployments: v1 → v2 promoted through its gates, a
 * bad v3 (16×16 inputs, so the fleet's traffic fails on it) rolled back by the error-rate alarm, and
 * v2 → v1 still baking. The page must show each one's steps, gate metrics and events, and draw a
 * latency and an error-rate line per version from the agents' own telemetry. Screenshots go to
 * out/ (git-ignored): out/dashboard.png (the rollback) and out/dashboard-baking.png.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChromium, launchChromium } from '../../src/bench/chromium.js';
import type { DeploymentManager } from '../../src/cloud/deployments/index.js';
import { fleetWithApi, type FleetWithApi } from './api-helpers.js';
import { waitUntil, type Fleet } from './deploy-helpers.js';

const chromium = findChromium();
const TOKEN = 'dashboard-deploy-token-0123456789';
const OUT = resolve(process.env.KILN_DASHBOARD_SCREENSHOT_DIR ?? 'out');
const alarms = [{ metric: 'error-rate' as const, threshold: 0.2, minRequests: 5 }];

let fleet: Fleet;
let mgr: DeploymentManager;
let base: string;

const phase = (id: string) => mgr.get(id)?.state.status.phase;

async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(OUT, { recursive: true });
  const path = join(OUT, name);
  await page.screenshot({ path, fullPage: true });
  const png = readFileSync(path);
  expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  console.log(`dashboard screenshot: ${path}`);
  return path;
}

/** Points drawn per chart series (`data-series` → circles). */
const pointsOf = (page: Page, chart: string) =>
  page.$$eval(`#${chart} g.series`, (gs) => Object.fromEntries(gs.map((g) => [g.getAttribute('data-series'), g.querySelectorAll('circle.pt').length])));

describe.skipIf(!chromium)('dashboard: deployments and telemetry in chromium', () => {
  let setup: FleetWithApi | undefined;
  beforeAll(async () => {
    setup = await fleetWithApi({ name: 'dash', versions: ['1.0.0', '2.0.0', '3.0.0'], sizes: { '3.0.0': 16 }, devices: 3, token: TOKEN });
    ({ fleet, mgr, base } = setup);
  }, 240_000);
  afterAll(() => setup?.close());

  it('shows its empty states before any deployment or traffic', async () => {
    const browser = await launchChromium(chromium!);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${base}/?token=${TOKEN}`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
      await page.waitForFunction(() => document.querySelector('#telemetry')?.textContent?.includes('no telemetry yet'), undefined, { timeout: 10_000 });
      expect(await page.textContent('#deployments tbody')).toMatch(/no deployments yet/);
      expect(await page.textContent('#telemetry')).toMatch(/no telemetry yet for cnn/);
      expect(await page.isVisible('#deploy-error')).toBe(false);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('a promoted, a rolled-back and a baking deployment: steps, gate metrics, events and per-version charts', async () => {
    const traffic = fleet.traffic();
    try {
      await waitUntil(
        () => fleet.gw.registry.metricsWindow('cnn', '1970-01-01T00:00:00.000Z').filter((r) => r.version === '1.0.0').length === 3,
        30_000,
        'v1 telemetry from every device',
      );
      await mgr.create({
        id: 'to-v2',
        model: 'cnn',
        fromVersion: '1.0.0',
        toVersion: '2.0.0',
        devices: fleet.ids(),
        strategy: { kind: 'canary', steps: [34, 100], bakeMs: 1500 },
        guardrails: { alarms },
      });
      await waitUntil(() => phase('to-v2') === 'promoted', 90_000, 'to-v2 promoted');
      await mgr.create({
        id: 'to-v3',
        model: 'cnn',
        fromVersion: '2.0.0',
        toVersion: '3.0.0',
        devices: fleet.ids(),
        strategy: { kind: 'canary', steps: [34, 100], bakeMs: 120_000 },
        guardrails: { alarms },
      });
      await waitUntil(() => phase('to-v3') === 'rolled-back', 90_000, 'to-v3 rolled back');
      await mgr.create({
        id: 'back-to-v1',
        model: 'cnn',
        fromVersion: '2.0.0',
        toVersion: '1.0.0',
        devices: fleet.ids(),
        strategy: { kind: 'canary', steps: [34, 100], bakeMs: 600_000 },
        guardrails: { alarms },
      });
      await waitUntil(() => phase('back-to-v1') === 'baking', 60_000, 'back-to-v1 baking');
      // Traffic into the next minute, so the charts have lines (two minutes) and not only dots.
      const next = new Date((Math.floor(Date.now() / 60_000) + 1) * 60_000).toISOString();
      await waitUntil(
        () => ['1.0.0', '2.0.0'].every((v) => fleet.gw.registry.metricsSeries('cnn', next).some((p) => p.version === v)),
        90_000,
        'telemetry of the next minute',
      );
    } finally {
      await traffic.stop();
    }
    const took = Object.entries(mgr.get('to-v3')!.state.devices)
      .filter(([, a]) => a.tookNew)
      .map(([id]) => id);
    expect(took).toHaveLength(2); // ceil(34% of 3)

    const browser = await launchChromium(chromium!);
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(`${base}/?token=${TOKEN}`);
      await page.waitForSelector('#deployments tbody tr[data-deployment="back-to-v1"]', { timeout: 15_000 });
      const rows = await page.$$eval('#deployments tbody tr[data-deployment]', (trs) =>
        trs.map((tr) => [tr.getAttribute('data-deployment'), tr.querySelector('.pill')?.textContent]),
      );
      expect(Object.fromEntries(rows)).toEqual({ 'to-v2': 'promoted', 'to-v3': 'rolled-back', 'back-to-v1': 'baking' });

      // The active deployment is selected first: step 1 baking with its two devices installed, step 2 waiting.
      await page.waitForSelector('#deployment .detail-head[data-id="back-to-v1"]', { timeout: 10_000 });
      expect(await page.textContent('#deployment-phase')).toBe('baking');
      expect(await page.textContent('#deployment-status')).toMatch(/baking step 1 until \d\d:\d\d:\d\d \(in \d/);
      const steps = await page.$$eval('#deployment li.step', (lis) =>
        lis.map((li) => ({
          step: li.getAttribute('data-step'),
          state: li.getAttribute('data-state'),
          text: li.textContent!.replace(/\s+/g, ' '),
          installs: Array.from(li.querySelectorAll('.chip[data-install]')).map((c) => c.getAttribute('data-install')),
        })),
      );
      expect(steps).toHaveLength(2);
      expect(steps[0]).toMatchObject({ step: '1', state: 'info', installs: ['current', 'current'] });
      expect(steps[0].text).toMatch(/34% \(2 of 3\) · rollout · bake 10 min.*baking until/);
      expect(steps[1]).toMatchObject({ step: '2', state: 'off', installs: [] });
      expect(steps[1].text).toMatch(/100% \(3 of 3\).*waiting.*edge-\d not sent yet/);
      expect(await page.textContent('#deployment')).toMatch(/no gate evaluated yet/);
      await screenshot(page, 'dashboard-baking.png');

      // The rollback: why, with the alarm's numbers, in the header, the gates and the events.
      await page.click('#deployments tbody tr[data-deployment="to-v3"]');
      await page.waitForSelector('#deployment .detail-head[data-id="to-v3"]', { timeout: 10_000 });
      expect(await page.textContent('#deployment-status')).toMatch(
        /^rolled back at \d\d:\d\d:\d\d: error-rate \d\.\d{3} vs baseline 0\.000: Δ \d\.\d{3} > 0\.2$/,
      );
      const gate = await page.$eval('#deployment table.gates tr[data-metric="error-rate"]', (tr) =>
        Array.from(tr.querySelectorAll('td')).map((td) => td.textContent!.trim()),
      );
      expect(gate[0]).toBe('error-rate');
      expect(Number(gate[1])).toBeGreaterThan(0.2);
      expect(gate.slice(2, 5)).toEqual(['0.000', '0.2', 'fire']);
      expect(gate[5]).toMatch(/candidate \d+ req \/ [12] dev · baseline \d+ req \/ [1-3] dev/);
      const events = await page.$$eval('#deployment ol.timeline li', (lis) =>
        lis.map((li) => [li.getAttribute('data-event'), li.textContent!.replace(/\s+/g, ' ').trim()]),
      );
      // No 'step-installed' required: the alarm may fire while the step's second device still installs.
      expect(events.map(([e]) => e)).toEqual(expect.arrayContaining(['created', 'started', 'step-started', 'alarm', 'rolled-back']));
      expect(events.find(([e]) => e === 'rolled-back')![1]).toMatch(/rolled back: error-rate \d\.\d{3} vs baseline 0\.000: Δ \d\.\d{3} > 0\.2/);
      expect(events.find(([e]) => e === 'alarm')![1]).toMatch(new RegExp(`rolling back: error-rate .*devices: ${took.join(', ')}`));
      const v3steps = await page.$$eval('#deployment li.step', (lis) =>
        lis.map((li) => [li.getAttribute('data-state'), Array.from(li.querySelectorAll('.chip[data-install]')).map((c) => c.getAttribute('data-install'))]),
      );
      expect(v3steps).toEqual([
        ['bad', ['rolled-back', 'rolled-back']],
        ['off', []],
      ]);

      // Per-version charts: a p95 and a mean line per version in the latency chart, an error-rate line per version.
      await page.waitForSelector('#chart-errors g.series[data-series="3.0.0"] circle.pt', { timeout: 10_000 });
      const latency = await pointsOf(page, 'chart-latency');
      const errorsChart = await pointsOf(page, 'chart-errors');
      for (const v of ['1.0.0', '2.0.0', '3.0.0']) expect(errorsChart[v], `error rate ${v}`).toBeGreaterThan(0);
      for (const v of ['1.0.0', '2.0.0']) {
        expect(latency[v], `latency p95 ${v}`).toBeGreaterThan(0);
        expect(latency[`${v} mean`], `latency mean ${v}`).toBeGreaterThan(0);
      }
      // Two minutes of v1 and v2 traffic: their latency lines have a segment.
      const paths = await page.$$eval('#chart-latency g.series path', (ps) =>
        Object.fromEntries(ps.map((p) => [p.parentElement!.getAttribute('data-series'), p.getAttribute('d')])),
      );
      expect(paths['1.0.0']).toMatch(/^M[\d.]+,[\d.]+L/);
      expect(paths['2.0.0']).toMatch(/^M[\d.]+,[\d.]+L/);
      // v3 failed every request: no latency to draw.
      expect(latency['3.0.0']).toBe(0);
      const legend = await page.$$eval('#telemetry table.legend tr[data-version]', (trs) =>
        Object.fromEntries(trs.map((tr) => [tr.getAttribute('data-version'), Array.from(tr.querySelectorAll('td')).map((td) => td.textContent!.trim())])),
      );
      expect(Object.keys(legend)).toEqual(['1.0.0', '2.0.0', '3.0.0']);
      expect(legend['3.0.0'][3]).toMatch(/^(?:[3-9]\d|100)\.\d%$/); // the bad version's errors
      expect(legend['3.0.0'][5]).toBe('2'); // the two devices that took it
      expect(legend['1.0.0'][3]).toBe('0.0%');
      // The error-rate chart's v3 points sit above its v1 points (SVG y grows downwards).
      const ys = await page.$$eval('#chart-errors g.series', (gs) =>
        Object.fromEntries(
          gs.map((g) => [g.getAttribute('data-series'), Math.min(...Array.from(g.querySelectorAll('circle.pt')).map((c) => Number(c.getAttribute('cy'))))]),
        ),
      );
      expect(ys['3.0.0']).toBeLessThan(ys['1.0.0']);
      expect(await page.$$eval('#chart-latency g.marker text', (ts) => ts.map((t) => t.textContent))).toEqual(expect.arrayContaining(['rolled-back']));
      await screenshot(page, 'dashboard.png');

      // The promoted one: both steps passed its gate.
      await page.click('#deployments tbody tr[data-deployment="to-v2"]');
      await page.waitForSelector('#deployment .detail-head[data-id="to-v2"]', { timeout: 10_000 });
      expect(await page.$$eval('#deployment li.step', (lis) => lis.map((li) => li.getAttribute('data-state')))).toEqual(['ok', 'ok']);
      expect(await page.$eval('#deployment table.gates tr[data-metric="error-rate"]', (tr) => tr.textContent)).toMatch(/pass/);
      expect(
        (await page.$$eval('#deployment ol.timeline li[data-event="step-passed"]', (lis) => lis.map((li) => li.textContent!.replace(/\s+/g, ' ')))).join('\n'),
      ).toMatch(/step 1 passed: error-rate 0\.000 vs baseline 0\.000: Δ 0\.000 ≤ 0\.2[\s\S]*step 2 passed/);
    } finally {
      await browser.close();
    }
  }, 240_000);

  it('shows API errors in the section they hit', async () => {
    const browser = await launchChromium(chromium!);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.route('**/api/deployments', (route) =>
        route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: 'internal', message: 'internal error' }) }),
      );
      await page.route('**/api/models/cnn/metrics*', (route) =>
        route.fulfill({
          status: 400,
          contentType: 'application/json',
          body: JSON.stringify({ error: 'bad-request', message: 'querystring/minutes must be 1 to 1440' }),
        }),
      );
      await page.goto(`${base}/?token=${TOKEN}`);
      await page.waitForSelector('#deploy-error:not([hidden])', { timeout: 15_000 });
      expect(await page.textContent('#deploy-error')).toBe('could not load the deployments: internal error');
      await page.waitForSelector('#telemetry-error:not([hidden])', { timeout: 10_000 });
      expect(await page.textContent('#telemetry-error')).toMatch(/could not load the telemetry of cnn: querystring\/minutes/);
      // The rest of the page still works.
      expect(await page.$$eval('#fleet tbody tr[data-device]', (trs) => trs.length)).toBe(3);
      await page.unroute('**/api/deployments');
      await page.waitForSelector('#deploy-error', { state: 'hidden', timeout: 10_000 });
    } finally {
      await browser.close();
    }
  }, 60_000);
});
