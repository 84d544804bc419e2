/**
 * Serving stored artifacts over a real socket: whole file with Content-Length and ETag, byte ranges
 * (206 + Content-Range, suffix and open ranges), 416 past the end, If-None-Match / If-Range, HEAD,
 * and 404 / 405 for what is not an artifact.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModelRegistry, startArtifactServer, type ArtifactServer, type ModelRegistry } from '../../src/cloud/registry/index.js';
import { http } from '../edge-agent/helpers.js';
import { build, tempDir } from './registry-helpers.js';

let root: string;
let reg: ModelRegistry;
let srv: ArtifactServer;
let bytes: Buffer;
let url: string;
let sha: string;

beforeAll(async () => {
  root = tempDir('kiln-registry-http-');
  const a = await build(root, 'cnn', '1.0.0', 'x86_64');
  reg = await openModelRegistry({ dbPath: join(root, 'cloud', 'cloud.db') });
  sha = (await reg.pushArtifact(a.tgz)).artifact.sha256;
  bytes = readFileSync(a.tgz);
  srv = await startArtifactServer(reg);
  url = `${srv.url}/artifacts/${sha}.tgz`;
}, 120_000);
afterAll(async () => {
  await srv?.close();
  await reg?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('artifact HTTP serving', () => {
  it('GET serves the whole file with Content-Length, ETag and Accept-Ranges', async () => {
    const r = await http(url);
    expect(r.status).toBe(200);
    expect(r.body.equals(bytes)).toBe(true);
    expect(r.headers['content-length']).toBe(String(bytes.length));
    expect(r.headers.etag).toBe(`"${sha}"`);
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers['content-type']).toBe('application/gzip');
    expect((await reg.desiredEntryFor('cnn', '1.0.0', 'x86_64', srv.url)).artifact.url).toBe(url);
  });

  it('Range requests return exactly the bytes asked for (206, Content-Range)', async () => {
    const n = bytes.length;
    for (const [range, start, end] of [
      ['bytes=0-99', 0, 99],
      ['bytes=100-', 100, n - 1],
      ['bytes=-50', n - 50, n - 1],
      [`bytes=${n - 10}-${n + 1000}`, n - 10, n - 1],
    ] as const) {
      const r = await http(url, { headers: { range } });
      expect(r.status, range).toBe(206);
      expect(r.headers['content-range'], range).toBe(`bytes ${start}-${end}/${n}`);
      expect(r.headers['content-length'], range).toBe(String(end - start + 1));
      expect(r.body.equals(bytes.subarray(start, end + 1)), range).toBe(true);
    }
  });

  it('a range past the end is 416 with the size; a stale If-Range gets the whole file; If-None-Match gets 304', async () => {
    const r = await http(url, { headers: { range: `bytes=${bytes.length}-` } });
    expect(r.status).toBe(416);
    expect(r.headers['content-range']).toBe(`bytes */${bytes.length}`);
    const stale = await http(url, { headers: { range: 'bytes=10-', 'if-range': '"0000"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(bytes)).toBe(true);
    const fresh = await http(url, { headers: { range: 'bytes=10-', 'if-range': `"${sha}"` } });
    expect(fresh.status).toBe(206);
    expect((await http(url, { headers: { 'if-none-match': `"${sha}"` } })).status).toBe(304);
  });

  it('HEAD gives the headers only; unknown artifacts are 404, other paths 404, other methods 405', async () => {
    const h = await http(url, { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe(String(bytes.length));
    expect(h.body.length).toBe(0);
    expect((await http(`${srv.url}/artifacts/${'0'.repeat(64)}.tgz`)).status).toBe(404);
    expect((await http(`${srv.url}/artifacts/../cloud.db`)).status).toBe(404);
    expect((await http(`${srv.url}/artifacts/${sha.toUpperCase()}.tgz`)).status).toBe(404);
    expect((await http(url, { method: 'DELETE' })).status).toBe(405);
  });
});
