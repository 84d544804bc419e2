/**
 * The dashboard's deployment actions in headless Chromium, on a real cloud (deploy-helpers: gateway,
 * registry, three real agents) with a real DeploymentManager behind the API: a canary with a long
 * bake is paused, resumed and rolled back (with a reason) from the page; another is promoted from the
 * page. Refusals show inline: a page that did not see the deployment finish (the cloud records the
 * command as ignored), a 409, a network failure and a refused token. Screenshots go to out/
 * (git-ignored): out/dashboard-actions.png (the rollback confirm) and out/dashboard-actions-refused.png.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_MISSING, findChromium, launchChromium } from '../../src/bench/chromium.js';
import type { DeploymentManager } from '../../src/cloud/deployments/index.js';
import { callApi, fleetWithApi, type FleetWithApi } from './api-helpers.js';
import { waitUntil, type Fleet } from './deploy-helpers.js';

const chromium = findChromium();
const TOKEN = 'dashboard-actions-token-0123456789';
const OUT = resolve(process.env.KILN_DASHBOARD_SCREENSHOT_DIR ?? 'out');
const RED = 'rgb(185, 28, 28)'; // --bad

let fleet: Fleet;
let mgr: DeploymentManager;
let base: string;

const phase = (id: string) => mgr.get(id)?.state.status.phase;
const apiPhase = async (id: string) => (await callApi(base, 'GET', `/api/deployments/${id}`, { token: TOKEN })).body.deployment.state.status.phase as string;
const canary = (id: string, from: string, to: string) =>
  mgr.create({
    id,
    model: 'cnn',
    fromVersion: from,
    toVersion: to,
    devices: fleet.ids(),
    strategy: { kind: 'canary', steps: [34, 100], bakeMs: 600_000 },
    guardrails: {},
  });
const reportedVersions = () => fleet.ids().map((id) => fleet.gw.device(id)?.reported?.models.cnn?.version);

/** Which of Pause, Resume, Promote, Roll back are enabled. */
const enabled = (page: Page) =>
  page.$$eval('#deployment-actions button[data-action]', (bs) =>
    Object.fromEntries(bs.map((b) => [b.getAttribute('data-action'), !(b as HTMLButtonElement).disabled])),
  );
const phaseIs = (page: Page, p: string) =>
  page.waitForFunction((want) => document.querySelector('#deployment-phase')?.textContent === want, p, { timeout: 30_000 });
const eventTexts = (page: Page, event: string) =>
  page.$$eval(`#deployment ol.timeline li[data-event="${event}"]`, (lis) => lis.map((li) => li.textContent!.replace(/\s+/g, ' ').trim()));

async function open(page: Page, id: string): Promise<void> {
  await page.goto(`${base}/?token=${TOKEN}`);
  await page.waitForSelector(`#deployments tbody tr[data-deployment="${id}"]`, { timeout: 15_000 });
  await page.click(`#deployments tbody tr[data-deployment="${id}"]`);
  await page.waitForSelector(`#deployment .detail-head[data-id="${id}"]`, { timeout: 10_000 });
}

/** The inline error: its text once shown, after checking it is red and an alert. */
async function inlineError(page: Page): Promise<string> {
  await page.waitForSelector('#action-error:not([hidden])', { timeout: 10_000 });
  const { text, color, role } = await page.$eval('#action-error', (el) => ({
    text: el.textContent!,
    color: getComputedStyle(el).color,
    role: el.getAttribute('role'),
  }));
  expect(color).toBe(RED);
  expect(role).toBe('alert');
  return text;
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const path = join(OUT, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`dashboard screenshot: ${path}`);
}

describe.skipIf(!chromium)(`dashboard: deployment actions in chromium${chromium ? '' : ` (skipped: ${CHROMIUM_MISSING})`}`, () => {
  let setup: FleetWithApi | undefined;
  beforeAll(async () => {
    setup = await fleetWithApi({ name: 'dash-act', versions: ['1.0.0', '2.0.0'], devices: 3, token: TOKEN });
    ({ fleet, mgr, base } = setup);
  }, 240_000);
  afterAll(() => setup?.close());

  it('pauses, resumes and rolls back a baking canary from the page', async () => {
    await canary('to-v2', '1.0.0', '2.0.0');
    await waitUntil(() => phase('to-v2') === 'baking', 60_000, 'to-v2 baking');
    const browser = await launchChromium(chromium!);
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await open(page, 'to-v2');
      await phaseIs(page, 'baking');
      expect(await enabled(page)).toEqual({ pause: true, resume: false, promote: true, rollback: true });
      expect(await page.getAttribute('#act-resume', 'title')).toBe('cannot resume: only a paused deployment can be resumed');

      // Pause, from the keyboard; the request is held so the busy state can be seen: every button disabled.
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      await page.route('**/api/deployments/to-v2/pause', async (route: Route) => {
        await held;
        await route.continue();
      });
      await page.focus('#act-pause');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#deployment-actions[aria-busy="true"]', { timeout: 5_000 });
      expect(await enabled(page)).toEqual({ pause: false, resume: false, promote: false, rollback: false });
      expect(await page.textContent('#action-status')).toBe('pausing…');
      release();
      await phaseIs(page, 'paused');
      await page.waitForSelector('#deployment-actions[aria-busy="false"]', { timeout: 10_000 });
      expect(await eventTexts(page, 'paused')).toHaveLength(1);
      expect(await page.textContent('#deployment-status')).toMatch(/^paused \(was baking step 1/);
      expect(await page.textContent('#action-status')).toMatch(/^paused at \d\d:\d\d:\d\d$/);
      expect(await enabled(page)).toEqual({ pause: false, resume: true, promote: true, rollback: true });
      expect(await apiPhase('to-v2')).toBe('paused');
      expect(await page.isVisible('#action-error')).toBe(false);
      await page.unroute('**/api/deployments/to-v2/pause');

      // Resume.
      await page.click('#act-resume');
      await phaseIs(page, 'baking');
      expect(await eventTexts(page, 'resumed')).toHaveLength(1);
      expect(await apiPhase('to-v2')).toBe('baking');
      expect(await enabled(page)).toEqual({ pause: true, resume: false, promote: true, rollback: true });

      // Roll back asks first; Escape cancels and gives the focus back to the button.
      await page.click('#act-rollback');
      await page.waitForSelector('#action-confirm:not([hidden])');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('confirm-reason');
      expect(await page.getAttribute('#act-rollback', 'aria-expanded')).toBe('true');
      await page.keyboard.press('Escape');
      await page.waitForSelector('#action-confirm', { state: 'hidden' });
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('act-rollback');
      expect(phase('to-v2')).toBe('baking');

      // Roll back with a reason: typed, kept across the 2 s refreshes, sent with Enter.
      await page.keyboard.press('Enter');
      await page.waitForSelector('#action-confirm:not([hidden])');
      expect(await page.textContent('#confirm-text')).toBe('Roll back to-v2? The 2 device(s) that took 2.0.0 go back to 1.0.0, and the deployment ends.');
      await page.keyboard.type('p99 looks off on edge-0');
      await page.waitForTimeout(2500);
      expect(await page.inputValue('#confirm-reason')).toBe('p99 looks off on edge-0');
      await screenshot(page, 'dashboard-actions.png');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#action-confirm', { state: 'hidden', timeout: 10_000 });
      await waitUntil(() => phase('to-v2') === 'rolled-back', 60_000, 'to-v2 rolled back');
      await phaseIs(page, 'rolled-back');
      expect(await eventTexts(page, 'rollback-requested')).toEqual([expect.stringMatching(/rolling back: manual: p99 looks off on edge-0 \(devices: /)]);
      expect(await eventTexts(page, 'rolled-back')).toEqual([expect.stringMatching(/rolled back: manual: p99 looks off on edge-0$/)]);
      expect(await page.textContent('#deployment-status')).toMatch(/rolled back at .*: manual: p99 looks off on edge-0/);
      expect(await apiPhase('to-v2')).toBe('rolled-back');
      expect(await enabled(page)).toEqual({ pause: false, resume: false, promote: false, rollback: false });
      await page.waitForFunction(() => document.querySelector('#action-status')?.textContent === 'no actions: the deployment is rolled-back', undefined, {
        timeout: 5_000,
      });
      // Every device runs the old version again, as the gateway hears it from them.
      await waitUntil(() => reportedVersions().every((v) => v === '1.0.0'), 30_000, 'devices back on 1.0.0');
    } finally {
      await browser.close();
    }
  }, 180_000);

  it('shows refusals inline in red: a 409, a network failure, a refused token, and a stale page after the deployment finished', async () => {
    await canary('again-v2', '1.0.0', '2.0.0');
    await waitUntil(() => phase('again-v2') === 'baking', 60_000, 'again-v2 baking');
    const browser = await launchChromium(chromium!);
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await open(page, 'again-v2');
      await phaseIs(page, 'baking');

      // A 409 from the cloud: its message, inline; the confirm stays open to retry or cancel.
      await page.route('**/api/deployments/again-v2/promote', (route) =>
        route.fulfill({
          status: 409,
          contentType: 'application/json',
          body: JSON.stringify({ error: 'conflict', message: "device(s) edge-1 are in active deployment 'other' of cnn" }),
        }),
      );
      await page.click('#act-promote');
      await page.waitForSelector('#action-confirm:not([hidden])');
      expect(await page.isVisible('#confirm-reason')).toBe(false); // the cloud keeps no reason for a promote
      expect(await page.textContent('#confirm-text')).toBe('Promote cnn 2.0.0 to all 3 device(s) now? The remaining steps, bakes and gates are skipped.');
      await page.click('#confirm-ok');
      expect(await inlineError(page)).toBe("Could not promote again-v2: device(s) edge-1 are in active deployment 'other' of cnn (HTTP 409).");
      await page.waitForSelector('#deployment-actions[aria-busy="false"]', { timeout: 10_000 });
      expect(await page.isVisible('#action-confirm')).toBe(true);
      await page.click('#confirm-cancel');
      await page.unroute('**/api/deployments/again-v2/promote');

      // The network fails.
      await page.route('**/api/deployments/again-v2/pause', (route) => route.abort('connectionrefused'));
      await page.click('#act-pause');
      expect(await inlineError(page)).toMatch(/^Could not pause again-v2: the cloud did not answer: Failed to fetch\.$/);
      await page.unroute('**/api/deployments/again-v2/pause');

      // The cloud refuses the token (the real server's 401 and message).
      await page.route('**/api/deployments/again-v2/pause', (route) =>
        route.continue({ headers: { ...route.request().headers(), authorization: 'Bearer not-the-operator-token' } }),
      );
      await page.click('#act-pause');
      await page.waitForFunction(() => document.querySelector('#action-error')?.textContent?.includes('401'), undefined, { timeout: 10_000 });
      expect(await inlineError(page)).toBe('Could not pause again-v2: the operator token is not valid (HTTP 401).');
      await page.unroute('**/api/deployments/again-v2/pause');
      expect(phase('again-v2')).toBe('baking');

      // A stale page: its GETs keep answering what they answered while the canary was baking...
      const frozen = new Map<string, string>();
      await page.route(/\/api\/deployments(\/again-v2)?$/, async (route) => {
        const url = route.request().url();
        if (!frozen.has(url)) frozen.set(url, await (await route.fetch()).text());
        await route.fulfill({ status: 200, contentType: 'application/json', body: frozen.get(url)! });
      });
      await waitUntil(() => frozen.size === 2, 10_000, 'the stale page froze its deployment');
      // ...while a second page promotes it: confirmed, then the view follows the promote through.
      const other = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await open(other, 'again-v2');
      await other.click('#act-promote');
      await other.click('#confirm-ok');
      await phaseIs(other, 'promoted');
      expect(await eventTexts(other, 'promote-requested')).toHaveLength(1);
      expect(await eventTexts(other, 'promoted')).toEqual([expect.stringMatching(/promoted: 2\.0\.0 on 3 device\(s\)/)]);
      expect(await apiPhase('again-v2')).toBe('promoted');
      await waitUntil(() => reportedVersions().every((v) => v === '2.0.0'), 30_000, 'devices on 2.0.0');

      // The stale page still offers Pause; the cloud records it as ignored, and the page says so.
      expect(await page.textContent('#deployment-phase')).toBe('baking');
      await page.click('#act-pause');
      expect(await inlineError(page)).toBe('The cloud did not pause again-v2: the deployment is finished (it is promoted).');
      expect(phase('again-v2')).toBe('promoted');
      expect(
        mgr
          .get('again-v2')!
          .events.filter((e) => e.event === 'command-ignored')
          .map((e) => e.detail),
      ).toEqual([{ command: 'pause', phase: 'promoted', why: 'the deployment is finished' }]);
      await screenshot(page, 'dashboard-actions-refused.png');
      // Once the page sees the promote, nothing is enabled and the error stays until the next action.
      await page.unroute(/\/api\/deployments(\/again-v2)?$/);
      await phaseIs(page, 'promoted');
      expect(await enabled(page)).toEqual({ pause: false, resume: false, promote: false, rollback: false });
      expect(await page.isVisible('#action-error')).toBe(true);
    } finally {
      await browser.close();
    }
  }, 180_000);
});
