/**
 * Hot swap under concurrent HTTP load: new versions are loaded beside the old, traffic switches,
 * the old is released once its in-flight requests end — and not one request fails.
 */
import { join } from 'node:path';
import { Agent as HttpAgent } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent } from '../../src/edge-agent/http/server.js';
import { encodeBinaryRequest, decodeBinaryResponse } from '../../src/edge-agent/http/oip.js';
import { kilnHome, makeArtifact, randomInput, tempDir } from './helpers.js';
import { request } from 'node:http';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

describe('hot swap', () => {
  it('zero failed requests while two new versions are swapped in under load', async () => {
    const root = tempDir();
    const [v1, v2, v3] = [
      await makeArtifact(root, 'cnn', '1', { seed: 1 }),
      await makeArtifact(root, 'cnn', '2', { seed: 2 }),
      await makeArtifact(root, 'cnn', '3', { seed: 3 }),
    ];
    const agent = new Agent({ dataDir: join(root, 'data'), models: [v1.dir], kilnHome });
    await agent.start();
    const server = await serveAgent(agent, { port: 0 });
    closers.push(
      () => agent.close(),
      () => server.close(),
    );
    const swaps: string[] = [];
    agent.on('model-swapped', (e) => swaps.push(`${e.from}->${e.to}`));
    const v1Id = agent.versions('cnn')[0].id;

    const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 8 });
    const { body, headerLength } = encodeBinaryRequest({ input: { type: 'float32', dims: [1, 3, 32, 32], data: randomInput(3072) } }, { binaryOutputs: true });
    const once = () =>
      new Promise<{ status: number; version: string }>((resolve, reject) => {
        const req = request(
          `${server.url}/v2/models/cnn/infer`,
          { method: 'POST', agent: keepAlive, headers: { 'Inference-Header-Content-Length': headerLength } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const buf = Buffer.concat(chunks);
              if (res.statusCode !== 200) return resolve({ status: res.statusCode ?? 0, version: buf.toString() });
              const { doc } = decodeBinaryResponse(buf, Number(res.headers['inference-header-content-length']));
              resolve({ status: 200, version: doc.model_version as string });
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });

    const results: { status: number; version: string }[] = [];
    let stop = false;
    const deadline = Date.now() + 20_000;
    const client = async () => {
      while (!stop && Date.now() < deadline) results.push(await once().catch((e: Error) => ({ status: -1, version: e.message })));
    };
    const clients = Array.from({ length: 8 }, client);
    await new Promise((r) => setTimeout(r, 300));
    const r2 = await agent.install(v2.tgz);
    await new Promise((r) => setTimeout(r, 300));
    const r3 = await agent.install(v3.dir);
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(clients);
    keepAlive.destroy();

    expect(r2).toMatchObject({ state: 'promoted', version: '2', replaced: '1' });
    expect(r3).toMatchObject({ state: 'promoted', version: '3', replaced: '2' });
    expect(swaps).toEqual(['1->2', '2->3']);
    const failed = results.filter((r) => r.status !== 200);
    expect(failed).toEqual([]);
    expect(results.length).toBeGreaterThan(50);
    const seen = new Set(results.map((r) => r.version));
    expect([...seen].sort()).toEqual(['1', '2', '3']);
    // The last answers come from the new version, and old versions were released.
    expect(results.at(-1)!.version).toBe('3');
    expect(agent.pool.isLoaded(v1Id)).toBe(false);
    expect(agent.pool.loadedIds()).toEqual([agent.versions('cnn')[0].id]);
  });
});
