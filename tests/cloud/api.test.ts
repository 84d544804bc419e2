/**
 * The cloud HTTP API over a real port: real fastify, a real gateway (embedded aedes on port 0), a
 * real model registry in a temp dir with real signed artifacts (x86_64 and wasm builds of a small CNN).
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateToken } from '../../src/cloud/api/index.js';
import { startGateway, type DeviceGateway } from '../../src/cloud/gateway/gateway.js';
import { openModelRegistry, type ModelRegistry } from '../../src/cloud/registry/registry.js';
import { deviceTopics, SYNC_PROTOCOL_VERSION, type DesiredState } from '../../src/protocol/sync.js';
import { callApi, listenCloudApi, type CallOptions, type CloudApp } from './api-helpers.js';
import { build, tempDir } from './registry-helpers.js';

const TOKEN = 'test-operator-token-0123456789';
let dir: string;
let gateway: DeviceGateway;
let registry: ModelRegistry;
let app: CloudApp;
let base: string;
let pi: { id: string; secret: string };
let laptop: { id: string; secret: string };
/** The compiler's .tgz of cnn 2.0.0 for wasm: what a download must return byte for byte. */
let v2wasmTgz: string;

/** A request with the operator token (options.token: null sends none). */
const call = (method: string, path: string, options: CallOptions = {}) => callApi(base, method, path, { token: TOKEN, ...options });

beforeAll(async () => {
  dir = tempDir('kiln-api-');
  const db = join(dir, 'cloud.db');
  gateway = await startGateway({ dbPath: db, port: 0 });
  registry = await openModelRegistry({ dbPath: db });
  const v1x86 = await build(dir, 'cnn', '1.0.0', 'x86_64', 1);
  const v1wasm = await build(dir, 'cnn', '1.0.0', 'wasm', 1);
  const v2wasm = await build(dir, 'cnn', '2.0.0', 'wasm', 2);
  v2wasmTgz = v2wasm.tgz;
  for (const b of [v1x86, v1wasm, v2wasm]) await registry.pushArtifact(b.tgz);
  pi = gateway.addDevice('pi-kitchen', { group: 'home', id: 'pi-kitchen' });
  laptop = gateway.addDevice('laptop', { group: 'office', id: 'laptop' });
  // The pi reports its target (as an agent does); the laptop has never reported.
  gateway.registry.setReported(pi.id, { v: SYNC_PROTOCOL_VERSION, desiredVersion: null, models: {}, target: 'wasm', at: new Date().toISOString() });
  gateway.registry.setOnline(pi.id, true);
  ({ app, base } = await listenCloudApi({ gateway, registry, token: TOKEN }));
}, 180_000);

afterAll(async () => {
  await app?.close();
  await registry?.close();
  await gateway?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('operator token', () => {
  it('refuses /api/* without a token, with a clear JSON error and WWW-Authenticate', async () => {
    for (const path of ['/api/devices', '/api/devices/pi-kitchen', '/api/models', '/api/models/cnn/versions', '/api/stats']) {
      const r = await call('GET', path, { token: null });
      expect(r.status, path).toBe(401);
      expect(r.body.error).toBe('unauthorized');
      expect(r.body.message).toMatch(/Authorization: Bearer/);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const post = await call('POST', '/api/devices/laptop/desired', { token: null, body: { models: { cnn: '1.0.0' } } });
    expect(post.status).toBe(401);
    expect(gateway.device('laptop')?.desired).toBeNull();
  });

  it('refuses a wrong token and a malformed header', async () => {
    const wrong = await call('GET', '/api/devices', { token: 'x'.repeat(TOKEN.length) });
    expect(wrong.status).toBe(401);
    expect(wrong.body.message).toMatch(/not valid/);
    const res = await fetch(`${base}/api/devices`, { headers: { authorization: `Basic ${TOKEN}` } });
    expect(res.status).toBe(401);
  });

  it('is generated once beside the database with mode 0600, then reused; a given token wins', () => {
    const db = join(dir, 'tok', 'cloud.db');
    const first = loadOrCreateToken(db);
    expect(first.created).toBe(true);
    expect(first.file).toBe(join(dir, 'tok', 'api-token'));
    expect(statSync(first.file!).mode & 0o777).toBe(0o600);
    expect(first.token.length).toBeGreaterThanOrEqual(32);
    const again = loadOrCreateToken(db);
    expect(again).toMatchObject({ token: first.token, created: false });
    expect(loadOrCreateToken(db, 'given-token-abcdefghij')).toEqual({ token: 'given-token-abcdefghij', created: false });
    expect(() => loadOrCreateToken(db, 'short')).toThrow(RangeError);
  });
});

describe('devices', () => {
  it('GET /api/devices lists the fleet without secrets, filterable by group', async () => {
    const r = await call('GET', '/api/devices');
    expect(r.status).toBe(200);
    const byId = Object.fromEntries(r.body.devices.map((d: any) => [d.id, d]));
    expect(byId['pi-kitchen']).toMatchObject({ name: 'pi-kitchen', group: 'home', target: 'wasm', online: true, desired: null });
    expect(byId.laptop).toMatchObject({ group: 'office', target: null, online: false });
    expect(JSON.stringify(r.body)).not.toContain(pi.secret);
    const home = await call('GET', '/api/devices?group=home');
    expect(home.body.devices.map((d: any) => d.id)).toEqual(['pi-kitchen']);
  });

  it('GET /api/devices/:id shows one device; 404 for an unknown one, 400 for a malformed id', async () => {
    const r = await call('GET', '/api/devices/pi-kitchen');
    expect(r.status).toBe(200);
    expect(r.body.device).toMatchObject({ id: 'pi-kitchen', target: 'wasm', reported: { target: 'wasm' } });
    expect((await call('GET', '/api/devices/nope')).status).toBe(404);
    const bad = await call('GET', `/api/devices/${encodeURIComponent('-bad id')}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'bad-request' });
    expect(bad.body.message).toMatch(/params\/id must match pattern/);
  });

  it('400 on a bad query', async () => {
    const r = await call('GET', '/api/devices?tag=nokeyvalue');
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/querystring\/tag/);
  });
});

describe('models', () => {
  it('GET /api/models and /api/models/:name/versions with verification figures and sizes', async () => {
    const m = await call('GET', '/api/models');
    expect(m.status).toBe(200);
    expect(m.body.models).toEqual([expect.objectContaining({ name: 'cnn', versions: ['1.0.0', '2.0.0'], latest: '2.0.0' })]);
    const v = await call('GET', '/api/models/cnn/versions');
    expect(v.status).toBe(200);
    expect(v.body.versions.map((x: any) => [x.version, x.targets])).toEqual([
      ['1.0.0', ['wasm', 'x86_64']],
      ['2.0.0', ['wasm']],
    ]);
    const a = v.body.versions[0].artifacts.find((x: any) => x.target === 'x86_64');
    expect(a.sizeBytes).toBeGreaterThan(0);
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(a.sizes.sourceBytes).toBeGreaterThan(0);
    expect(a.verification).toMatchObject({ passed: true });
    expect(a.verification.outputs[0].cosine).toBeGreaterThan(0.99);
    expect((await call('GET', '/api/models/nope/versions')).status).toBe(404);
  });
});

describe('POST /api/devices/:id/desired', () => {
  it("resolves the artifact for the device's reported target and reaches the device as retained desired state", async () => {
    const r = await call('POST', '/api/devices/pi-kitchen/desired', { body: { models: { cnn: '2.0.0' }, target: 'x86_64' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ deviceId: 'pi-kitchen', target: 'wasm', targetFrom: 'reported' });
    const wasm = (await registry.artifactFor('cnn', '2.0.0', 'wasm'))!;
    const stored = gateway.device('pi-kitchen')!.desired!;
    expect(stored.models.cnn).toMatchObject({
      version: '2.0.0',
      artifact: { sha256: wasm.sha256, sizeBytes: wasm.sizeBytes, url: `${base}/artifacts/${wasm.sha256}.tgz` },
    });
    expect(r.body.desired.version).toBe(stored.version);

    // The device, connecting with its own credentials, gets it retained.
    const c = mqtt.connect(gateway.brokerUrl, { protocolVersion: 4, clientId: pi.id, username: pi.id, password: pi.secret, reconnectPeriod: 0 });
    try {
      const got = await new Promise<DesiredState>((ok, bad) => {
        c.once('error', bad);
        c.on('message', (_t, payload) => ok(JSON.parse(payload.toString()) as DesiredState));
        c.once('connect', () => c.subscribe(deviceTopics(pi.id).desired, { qos: 1 }));
      });
      expect(got.version).toBe(stored.version);
      expect(got.models.cnn.artifact.sha256).toBe(wasm.sha256);
    } finally {
      c.end(true);
    }

    // The URL in the desired state serves the artifact without a token.
    const dl = await fetch(stored.models.cnn.artifact.url);
    expect(dl.status).toBe(200);
    expect(Buffer.from(await dl.arrayBuffer()).equals(readFileSync(v2wasmTgz))).toBe(true);
  });

  it("uses the body's target for a device that never reported, else x86_64", async () => {
    const r = await call('POST', '/api/devices/laptop/desired', { body: { models: { cnn: '1.0.0' } } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ target: 'x86_64', targetFrom: 'default' });
    expect(gateway.device('laptop')!.desired!.models.cnn.artifact.sha256).toBe((await registry.artifactFor('cnn', '1.0.0', 'x86_64'))!.sha256);
    const w = await call('POST', '/api/devices/laptop/desired', { body: { models: { cnn: '1.0.0' }, target: 'wasm' } });
    expect(w.status).toBe(200);
    expect(w.body).toMatchObject({ target: 'wasm', targetFrom: 'request' });
    expect(gateway.device('laptop')!.desired!.models.cnn.artifact.sha256).toBe((await registry.artifactFor('cnn', '1.0.0', 'wasm'))!.sha256);
  });

  it('409 listing what is missing when the version has no artifact for the target; nothing is written', async () => {
    const before = gateway.device('laptop')!.desired;
    const r = await call('POST', '/api/devices/laptop/desired', { body: { models: { cnn: '2.0.0', other: '1.0.0' }, target: 'x86_64' } });
    expect(r.status).toBe(409);
    expect(r.body.error).toBe('no-artifact');
    expect(r.body.missing).toEqual([
      { model: 'cnn', version: '2.0.0', target: 'x86_64', has: ['wasm'] },
      { model: 'other', version: '1.0.0', target: 'x86_64', has: [] },
    ]);
    expect(r.body.message).toMatch(/cnn 2\.0\.0 for target 'x86_64' \(has: wasm\)/);
    expect(gateway.device('laptop')!.desired).toEqual(before);
  });

  it('400 with the schema message on bad bodies; 404 for an unknown device', async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /must have required property 'models'/],
      [{ models: {} }, /body\/models must NOT have fewer than 1 properties/],
      [{ models: { cnn: 2 } }, /body\/models\/cnn must be string/],
      [{ models: { cnn: '1.0.0' }, extra: true }, /must NOT have additional properties/],
      [{ models: { cnn: '1.0.0' }, target: '' }, /body\/target must NOT have fewer than 1 characters/],
    ];
    for (const [body, message] of cases) {
      const r = await call('POST', '/api/devices/laptop/desired', { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error).toBe('bad-request');
      expect(r.body.message).toMatch(message);
    }
    const notJson = await call('POST', '/api/devices/laptop/desired', { body: '{not json' });
    expect(notJson.status).toBe(400);
    expect((await call('POST', '/api/devices/ghost/desired', { body: { models: { cnn: '1.0.0' } } })).status).toBe(404);
  });
});

describe('stats, artifacts, dashboard', () => {
  it('GET /api/stats', async () => {
    const r = await call('GET', '/api/stats');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      devices: { total: 2, online: 1, groups: { home: { devices: 1, online: 1 }, office: { devices: 1, online: 0 } } },
      models: { total: 1, versions: 2 },
      broker: { url: gateway.brokerUrl, embedded: true },
      gateway: { telemetry: { records: 0 } },
    });
  });

  it('serves artifacts with ranges and no token; 404 for unknown ones', async () => {
    const a = (await registry.artifactFor('cnn', '1.0.0', 'x86_64'))!;
    const part = await fetch(`${base}/artifacts/${a.sha256}.tgz`, { headers: { range: 'bytes=0-9' } });
    expect(part.status).toBe(206);
    expect((await part.arrayBuffer()).byteLength).toBe(10);
    const head = await fetch(`${base}/artifacts/${a.sha256}.tgz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(a.sizeBytes));
    expect((await fetch(`${base}/artifacts/${'0'.repeat(64)}.tgz`)).status).toBe(404);
    expect((await fetch(`${base}/artifacts/nope`)).status).toBe(404);
  });

  it('serves the dashboard page and its script without a token', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('<table id="fleet">');
    const js = await fetch(`${base}/dashboard.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(await js.text()).toContain('/api/devices');
    expect(existsSync(join(dir, 'api-token'))).toBe(false); // a given token writes no file
  });
});
