/**
 * The dashboard in headless Chromium (Debian's chromium with playwright-core): the page served by the
 * cloud API, opened with ?token=, shows the fleet from the real gateway and the registry's models.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChromium, launchChromium } from '../../src/bench/chromium.js';
import { startGateway, type DeviceGateway } from '../../src/cloud/gateway/gateway.js';
import { openModelRegistry, type ModelRegistry } from '../../src/cloud/registry/registry.js';
import { SYNC_PROTOCOL_VERSION } from '../../src/protocol/sync.js';
import { listenCloudApi, type CloudApp } from './api-helpers.js';
import { build, tempDir } from './registry-helpers.js';

const chromium = findChromium();
const TOKEN = 'dashboard-test-token-0123456789';

describe.skipIf(!chromium)('cloud dashboard in chromium', () => {
  let dir: string;
  let gateway: DeviceGateway;
  let registry: ModelRegistry;
  let app: CloudApp;
  let base: string;

  beforeAll(async () => {
    dir = tempDir('kiln-dash-');
    const db = join(dir, 'cloud.db');
    gateway = await startGateway({ dbPath: db, port: 0 });
    registry = await openModelRegistry({ dbPath: db });
    await registry.pushArtifact((await build(dir, 'digits', '1.0.0', 'x86_64', 1)).tgz);
    await registry.pushArtifact((await build(dir, 'digits', '2.0.0', 'x86_64', 2)).tgz);
    await registry.pushArtifact((await build(dir, 'digits', '2.0.0', 'wasm', 2)).tgz);
    const now = new Date().toISOString();
    const fleet: [string, string, string, string, 'current' | 'downloading' | 'failed', boolean][] = [
      ['pi-kitchen', 'home', 'x86_64', '2.0.0', 'current', true],
      ['pi-garage', 'home', 'x86_64', '2.0.0', 'downloading', true],
      ['browser-kiosk', 'store-12', 'wasm', '1.0.0', 'current', false],
    ];
    for (const [name, group, target, version, status, online] of fleet) {
      const { id } = gateway.addDevice(name, { group, id: name });
      gateway.registry.setReported(id, {
        v: SYNC_PROTOCOL_VERSION,
        desiredVersion: 1,
        models: { digits: { status, version, ...(status === 'current' ? {} : { serving: '1.0.0' }) } },
        target,
        at: now,
      });
      gateway.registry.setOnline(id, online);
    }
    ({ app, base } = await listenCloudApi({ gateway, registry, token: TOKEN }));
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    await registry?.close();
    await gateway?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('chromium: loads with the token, shows the fleet rows and models, and refreshes', async () => {
    const browser = await launchChromium(chromium!);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
      await page.goto(`${base}/?token=${TOKEN}`);
      await page.waitForSelector('#fleet tbody tr[data-device="browser-kiosk"]', { timeout: 15_000 });
      const rows = await page.$$eval('#fleet tbody tr[data-device]', (trs) => trs.map((tr) => tr.getAttribute('data-device')));
      expect(rows.sort()).toEqual(['browser-kiosk', 'pi-garage', 'pi-kitchen']);
      const kiosk = await page.textContent('#fleet tbody tr[data-device="browser-kiosk"]');
      expect(kiosk).toMatch(/store-12[\s\S]*wasm[\s\S]*digits 1\.0\.0[\s\S]*offline/);
      expect(await page.textContent('#fleet tbody tr[data-device="pi-garage"]')).toMatch(/downloading[\s\S]*serving 1\.0\.0/);
      expect(await page.textContent('#models tbody')).toMatch(/digits[\s\S]*2\.0\.0[\s\S]*passed/);
      expect(page.url()).toBe(`${base}/`); // the token left the address bar (kept in localStorage)
      // Auto-refresh: a new device appears without a reload.
      gateway.addDevice('new-camera', { group: 'store-12', id: 'new-camera' });
      await page.waitForSelector('#fleet tbody tr[data-device="new-camera"]', { timeout: 5_000 });
      gateway.registry.setOnline('new-camera', true);
      await page.waitForFunction(
        () =>
          document.querySelector('tr[data-device="new-camera"]')?.textContent?.includes('online') &&
          !document.querySelector('tr[data-device="new-camera"]')?.textContent?.includes('offline'),
        undefined,
        { timeout: 5_000 },
      );
      const shot = join(process.env.KILN_DASHBOARD_SCREENSHOT_DIR ?? dir, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      const png = readFileSync(shot);
      expect(png.byteLength).toBeGreaterThan(1000);
      expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
      // A wrong token shows the sign-in form.
      const other = await browser.newPage();
      await other.goto(`${base}/?token=wrong-token-xxxxxxxxxxxx`);
      await other.waitForSelector('#login:not([hidden])', { timeout: 5_000 });
    } finally {
      await browser.close();
    }
  }, 60_000);
});
