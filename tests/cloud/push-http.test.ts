/**
 * `kiln push --cloud-url` and POST /api/artifacts: a real cloud API on a real port (fastify, a gateway
 * on an embedded aedes, a SQLite registry in a temp dir) and real signed artifacts uploaded over HTTP,
 * then listed by the registry and served back by the artifact route byte for byte.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type DeviceGateway } from '../../src/cloud/gateway/gateway.js';
import { openModelRegistry, type ModelRegistry } from '../../src/cloud/registry/registry.js';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { packEntries } from '../../src/protocol/archive.js';
import { kilnAgainst, listenCloudApi, type CloudApp } from './api-helpers.js';
import { build, tempDir, type Built } from './registry-helpers.js';

const TOKEN = 'test-operator-token-push-0123456789';
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let dir: string;
let gateway: DeviceGateway;
let registry: ModelRegistry;
const apps: CloudApp[] = [];
let base: string;
/** The same registry behind a 4 KiB upload limit, and behind a trust list that holds a stranger's key only. */
let smallBase: string;
let strictBase: string;
let mediumBase: string;
let x86: Built;
let wasm: Built;
let v2: Built;
let other: Built;

const upload = async (b: string, path: string, body: Uint8Array | undefined, o: { token?: string | null; type?: string } = {}) => {
  const headers: Record<string, string> = { 'content-type': o.type ?? 'application/gzip' };
  if (o.token !== null) headers.authorization = `Bearer ${o.token ?? TOKEN}`;
  const res = await fetch(`${b}${path}`, { method: 'POST', headers, body: body as Uint8Array<ArrayBuffer> | undefined });
  return { status: res.status, body: (await res.json()) as any };
};
const kiln = (argv: string[]) => kilnAgainst({ base, token: TOKEN, cwd: dir }, argv);
const uploadsLeft = () => readdirSync(tmpdir()).filter((n) => n.startsWith('kiln-upload-'));
const targetsOf = async (model: string, version: string) => (await registry.artifactsOf(model, version)).map((a) => a.target);

beforeAll(async () => {
  dir = tempDir('kiln-push-http-');
  const db = join(dir, 'cloud', 'cloud.db');
  gateway = await startGateway({ dbPath: db, port: 0 });
  registry = await openModelRegistry({ dbPath: db });
  x86 = await build(dir, 'cnn', '1.0.0', 'x86_64', 1);
  wasm = await build(dir, 'cnn', '1.0.0', 'wasm', 1);
  v2 = await build(dir, 'cnn', '2.0.0', 'x86_64', 2);
  other = await build(dir, 'cnn', '1.0.0', 'x86_64', 3);
  const stranger = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
  for (const extra of [{}, { maxUploadBytes: 4096 }, { trustedKeys: [stranger] }, { maxUploadBytes: 2 * 2 ** 20 }]) {
    const l = await listenCloudApi({ gateway, registry, token: TOKEN, ...extra });
    apps.push(l.app);
  }
  [base, smallBase, strictBase, mediumBase] = apps.map((a) => `http://127.0.0.1:${(a.server.address() as { port: number }).port}`);
}, 240_000);

afterAll(async () => {
  for (const a of apps) await a.close();
  await registry?.close();
  await gateway?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('POST /api/artifacts', () => {
  it('stores an uploaded .tgz (201), the registry lists it and /artifacts serves the same bytes; the same upload again is 200 created:false', async () => {
    const uploadsBefore = uploadsLeft();
    const tgz = readFileSync(wasm.tgz);
    const r = await upload(base, '/api/artifacts?model=cnn&version=1.0.0', tgz);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ created: true, artifact: { model: 'cnn', version: '1.0.0', target: 'wasm', sha256: sha(tgz), keyId: wasm.keyId } });
    expect(await targetsOf('cnn', '1.0.0')).toEqual(['wasm']);
    const served = new Uint8Array(await (await fetch(`${base}/artifacts/${r.body.artifact.sha256}.tgz`)).arrayBuffer());
    expect(sha(served)).toBe(sha(tgz));

    const again = await upload(base, '/api/artifacts', tgz, { type: 'application/octet-stream' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ created: false, artifact: { sha256: sha(tgz), pushedAt: r.body.artifact.pushedAt } });
    expect(uploadsLeft()).toEqual(uploadsBefore);
  });

  it('BAD CALL: no token is 401 and stores nothing', async () => {
    const r = await upload(base, '/api/artifacts', readFileSync(v2.tgz), { token: null });
    expect(r.status).toBe(401);
    expect(r.body.error).toBe('unauthorized');
    expect(await registry.listVersions('cnn')).toHaveLength(1);
  });

  it('BAD CALL: a different artifact for the same model, version and target is 409 artifact-conflict', async () => {
    expect((await upload(base, '/api/artifacts', readFileSync(x86.tgz))).status).toBe(201);
    const r = await upload(base, '/api/artifacts', readFileSync(other.tgz));
    expect(r.status).toBe(409);
    expect(r.body.error).toBe('artifact-conflict');
    expect(r.body.message).toMatch(/cnn 1\.0\.0 already has a different artifact for target 'x86_64'/);
    expect((await registry.artifactFor('cnn', '1.0.0', 'x86_64'))!.sha256).toBe(sha(readFileSync(x86.tgz)));
  });

  it('BAD CALL: model/version other than the signed manifest are 400 and nothing is stored', async () => {
    const r = await upload(base, '/api/artifacts?model=resnet&version=9.9.9', readFileSync(v2.tgz));
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('bad-request');
    expect(r.body.message).toMatch(/--model 'resnet': the artifact is model 'cnn'; --version '9\.9\.9': the artifact is version '2\.0\.0'/);
    expect(r.body.message).not.toMatch(/kiln-upload-/);
    expect(await registry.listVersions('resnet')).toEqual([]);
    expect(await targetsOf('cnn', '2.0.0')).toEqual([]);
  });

  it('BAD CALL: a tampered artifact is 400 bad-artifact listing its problems, and nothing is stored', async () => {
    const { packDir } = await import('../../src/protocol/archive.js');
    const t = join(dir, 'tampered');
    cpSync(v2.dir, t, { recursive: true });
    const model = readFileSync(join(t, 'model.onnx'));
    model[model.length - 5] ^= 0xff;
    writeFileSync(join(t, 'model.onnx'), model);
    const r = await upload(base, '/api/artifacts', packDir(t));
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('bad-artifact');
    expect(r.body.problems.length).toBeGreaterThan(0);
    expect(r.body.problems.join('\n')).toMatch(/model\.onnx/);
    expect(await targetsOf('cnn', '2.0.0')).toEqual([]);

    const junk = await upload(base, '/api/artifacts', Buffer.from('not a tarball at all'));
    expect(junk.status).toBe(400);
    expect(junk.body.error).toBe('bad-artifact');
    expect(junk.body.problems[0]).toMatch(/not a valid kiln archive/);
  });

  it('BAD CALL: a signer the cloud does not trust is 400, whatever the uploader says', async () => {
    const r = await upload(strictBase, '/api/artifacts', readFileSync(v2.tgz));
    expect(r.status).toBe(400);
    expect(r.body.problems.join('\n')).toMatch(/not among the trusted keys/);
    expect(await targetsOf('cnn', '2.0.0')).toEqual([]);
  });

  it('BAD CALL: an upload over the limit is 413 (by Content-Length, and while streaming without one), an empty body 400, another type 415', async () => {
    const big = readFileSync(v2.tgz);
    const r = await upload(smallBase, '/api/artifacts', big);
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ error: 'too-large', limitBytes: 4096 });
    expect(r.body.message).toMatch(/over this cloud's limit of 0\.004 MiB/);

    // 16 MiB in 64 KiB chunks with no Content-Length: refused once the limit is passed, without reading the rest.
    let sent = 0;
    const chunked = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 16 * 2 ** 20) return c.close();
        sent += 2 ** 16;
        c.enqueue(new Uint8Array(2 ** 16));
      },
    });
    const res = await fetch(`${smallBase}/api/artifacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/gzip' },
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('too-large');
    expect(sent).toBeLessThan(16 * 2 ** 20);
    expect(await targetsOf('cnn', '2.0.0')).toEqual([]);

    const empty = await upload(base, '/api/artifacts', new Uint8Array(0));
    expect(empty.status).toBe(400);
    expect((await upload(base, '/api/artifacts', big, { type: 'application/json' })).status).toBe(400);
    expect((await upload(base, '/api/artifacts', big, { type: 'text/csv' })).status).toBe(415);
  });

  it('BAD CALL: a small upload that unpacks to far more than the cloud takes (a gzip bomb) is 400 and stores nothing', async () => {
    const bomb = packEntries([{ path: 'model.onnx', data: new Uint8Array(100 * 2 ** 20) }]);
    expect(bomb.byteLength).toBeLessThan(2 * 2 ** 20);
    const r = await upload(mediumBase, '/api/artifacts', bomb);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({
      error: 'bad-artifact',
      message: expect.stringMatching(/not a valid kiln archive \(it unpacks to more than 64 MiB, the most accepted here\)/),
    });
    expect(uploadsLeft()).toEqual([]);
  });
});

describe('kiln push --cloud-url', () => {
  it('uploads a directory and prints what it stored; again prints already there; --json gives the record', async () => {
    const p = await kiln(['push', v2.dir, '--model', 'cnn', '--version', '2.0.0']);
    expect(p.err).toBe('');
    expect(p.code).toBe(0);
    expect(p.out).toMatch(/^pushed: cnn 2\.0\.0 for x86_64 \(none, [\d.]+ MiB, signed by [0-9a-f]{16}\)\n  sha256 [0-9a-f]{64}\n$/);
    const stored = (await registry.artifactFor('cnn', '2.0.0', 'x86_64'))!;
    // The directory was packed the way the registry stores it: the same bytes as the compiler's .tgz.
    expect(stored.sha256).toBe(sha(readFileSync(v2.tgz)));
    const served = new Uint8Array(await (await fetch(`${base}/artifacts/${stored.sha256}.tgz`)).arrayBuffer());
    expect(sha(served)).toBe(stored.sha256);

    const again = await kiln(['push', v2.tgz]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/^already there: cnn 2\.0\.0 for x86_64/);
    const j = await kiln(['--json', 'push', v2.tgz]);
    expect(JSON.parse(j.out)).toMatchObject({ created: false, artifact: { sha256: stored.sha256, target: 'x86_64' } });
  });

  it('KILN_CLOUD_URL alone selects the upload', async () => {
    const io = captureIo({ cwd: dir, env: { KILN_CLOUD_URL: base, KILN_CLOUD_TOKEN: TOKEN } });
    expect(await runMain(['push', wasm.dir], io)).toBe(0);
    expect(io.out).toMatch(/^already there: cnn 1\.0\.0 for wasm/);
  });

  it('BAD CALL: a conflict, a tampered artifact, wrong --model and an oversize upload each exit 2 with one clear message', async () => {
    const c = await kiln(['push', other.dir]);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/the cloud refused it: cnn 1\.0\.0 already has a different artifact for target 'x86_64'.*new version/);

    const t = await kiln(['push', join(dir, 'tampered')]);
    expect(t.code).toBe(2);
    expect(t.err).toMatch(/tampered: the cloud refused it, the artifact did not pass its checks \(nothing was stored\):\n {2}- .*model\.onnx/);

    const m = await kiln(['push', x86.tgz, '--model', 'resnet']);
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/the cloud refused it: --model 'resnet': the artifact is model 'cnn'/);

    const io = captureIo({ cwd: dir, env: { KILN_CLOUD_TOKEN: TOKEN } });
    expect(await runMain(['push', other.tgz, '--cloud-url', smallBase], io)).toBe(2);
    expect(io.err).toMatch(/the cloud refused it \(413\): .*limit of 0\.004 MiB.*--max-upload-mib/);
  });

  it('BAD CALL: a wrong token is 401, no token at all and an unreachable cloud exit 2 saying what to do; --trust is refused', async () => {
    const bad = captureIo({ cwd: dir, env: { KILN_CLOUD_TOKEN: 'not-the-token-0123456789' } });
    expect(await runMain(['push', x86.tgz, '--cloud-url', base], bad)).toBe(2);
    expect(bad.err).toMatch(/refused the operator token \(401\).*pass --token, set KILN_CLOUD_TOKEN/);

    const none = captureIo({ cwd: dir, env: {} });
    expect(await runMain(['push', x86.tgz, '--cloud-url', base, '--db', join(dir, 'nowhere', 'cloud.db')], none)).toBe(2);
    expect(none.err).toMatch(/no operator token: pass --token/);

    const down = captureIo({ cwd: dir, env: { KILN_CLOUD_TOKEN: TOKEN } });
    expect(await runMain(['push', x86.tgz, '--cloud-url', 'http://127.0.0.1:1'], down)).toBe(1);
    expect(down.err).toMatch(/cannot reach the cloud API at http:\/\/127\.0\.0\.1:1.*start it with kiln cloud start/);

    const trust = await kiln(['push', x86.tgz, '--trust', 'AAAA']);
    expect(trust.code).toBe(2);
    expect(trust.err).toMatch(/--trust: over --cloud-url the cloud decides/);

    const missing = await kiln(['push', join(dir, 'no-such.tgz')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/no-such\.tgz: no such artifact/);
  });
});
