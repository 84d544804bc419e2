/**
 * Desired-state reconciliation against real brokers and a real HTTP artifact server: a device that
 * was offline when its desired state was written converges on reconnect; a download cut midway
 * resumes with Range; a truncated, tampered or wrongly signed artifact is rejected and reported
 * failed while the old version keeps serving.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceGateway } from '../../src/cloud/gateway/index.js';
import { Agent } from '../../src/edge-agent/agent.js';
import { SyncClient } from '../../src/edge-agent/sync/index.js';
import type { DesiredModel, ModelSyncStatus } from '../../src/protocol/index.js';
import { kilnHome, makeArtifact, randomInput, tempDir, type TestArtifact } from '../edge-agent/helpers.js';
import { ArtifactServer, BROKERS, gatewayFor, uniqueId, waitUntil, type ServeMode } from './helpers.js';

let root: string;
let v1: TestArtifact;
let v2: TestArtifact;
let keyId: string;
const server = new ArtifactServer();
const input = { input: { type: 'float32', dims: [1, 3, 32, 32], data: randomInput(3 * 32 * 32) } } as never;

beforeAll(async () => {
  root = tempDir('kiln-sync-desired-');
  v1 = await makeArtifact(root, 'cnn', '1.0.0', { seed: 1 });
  v2 = await makeArtifact(root, 'cnn', '2.0.0', { seed: 2 });
  keyId = (JSON.parse(readFileSync(join(v2.dir, 'signature.json'), 'utf8')) as { keyId: string }).keyId;
  await server.start();
}, 120_000);
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

const ref = (name: string, mode: ServeMode = 'ok', signer = keyId): DesiredModel => {
  const f = server.add(name, v2.tgz, mode);
  return { version: '2.0.0', artifact: { ...f, signature: { algorithm: 'ed25519', keyId: signer } } };
};

for (const b of BROKERS) {
  describe(`desired state (${b.name})`, () => {
    let gw: DeviceGateway;
    let dir: string;
    const cleanup: (() => Promise<void>)[] = [];
    beforeAll(async () => {
      dir = tempDir('kiln-sync-d-');
      gw = await gatewayFor(b, dir);
    });
    afterAll(async () => {
      for (const c of cleanup.reverse()) await c();
      await gw?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A provisioned device running an agent that serves v1 (not connected yet). */
    async function device() {
      const dev = gw.addDevice('edge', { id: uniqueId('des') });
      const agent = new Agent({ dataDir: join(dir, dev.id), models: [v1.tgz], kilnHome });
      await agent.start();
      const statuses: ModelSyncStatus[] = [];
      gw.on('reported', (r) => {
        const s = r.deviceId === dev.id ? r.state.models.cnn?.status : undefined;
        if (s && statuses.at(-1) !== s) statuses.push(s);
      });
      const connect = () => {
        const s = new SyncClient(agent, {
          url: gw.brokerUrl,
          deviceId: dev.id,
          deviceSecret: dev.secret,
          reconnectMinMs: 100,
          reconnectMaxMs: 800,
          downloadRetryMs: 50,
        });
        s.start();
        cleanup.push(() => s.stop());
        return s;
      };
      cleanup.push(() => agent.close());
      return { dev, agent, statuses, connect };
    }
    const reported = (id: string) => gw.device(id)?.reported?.models.cnn;

    it('a device offline when its desired state is written converges on reconnect', async () => {
      const { dev, agent, statuses, connect } = await device();
      const first = connect();
      await waitUntil(() => gw.device(dev.id)?.online === true, 15_000, 'online');
      await first.stop();
      await waitUntil(() => gw.device(dev.id)?.online === false, 15_000, 'offline');
      const doc = await gw.setDesiredState(dev.id, { cnn: { ...ref('v2.tgz'), weights: { '1.0.0': 1, '2.0.0': 3 } } });
      expect(agent.versions('cnn')[0].version).toBe('1.0.0');
      const sync = connect();
      await waitUntil(() => reported(dev.id)?.status === 'current' && gw.device(dev.id)?.reported?.desiredVersion === doc.version, 30_000, 'reported current');
      expect(agent.versions('cnn')[0].version).toBe('2.0.0');
      expect(reported(dev.id)).toMatchObject({ status: 'current', version: '2.0.0', serving: '2.0.0' });
      // First what it serves (reported on connect, before the desired state is worked on), then the install.
      expect(statuses).toEqual(['current', 'downloading', 'verifying', 'probation', 'current']);
      // Variants from the desired state apply: both versions are served by weight.
      const seen = new Set<string>();
      for (let k = 0; k < 40; k++) seen.add(agent.route('cnn', undefined, `key-${k}`).record.version);
      expect([...seen].sort()).toEqual(['1.0.0', '2.0.0']);
      expect(sync.stats().connects).toBe(1);

      // Back to v1, which the device keeps: converges without downloading anything.
      const before = server.requests.length;
      const back = await gw.setDesiredState(dev.id, {
        cnn: { version: '1.0.0', artifact: { ...server.add('v1.tgz', v1.tgz), signature: { algorithm: 'ed25519', keyId } } },
      });
      await waitUntil(
        () => gw.device(dev.id)?.reported?.desiredVersion === back.version && reported(dev.id)?.status === 'current' && reported(dev.id)?.version === '1.0.0',
        30_000,
        'back on v1',
      );
      expect(agent.versions('cnn')[0].version).toBe('1.0.0');
      expect(server.requests.length).toBe(before);
      expect(agent.route('cnn', undefined, 'any').record.version).toBe('1.0.0'); // the weights went with the document
    });

    it('a download cut midway resumes with Range', async () => {
      const { dev, agent, connect } = await device();
      const name = `cut-${dev.id}.tgz`;
      connect();
      await gw.setDesiredState(dev.id, { cnn: ref(name, 'drop-midway') });
      await waitUntil(() => reported(dev.id)?.status === 'current' && reported(dev.id)?.version === '2.0.0', 30_000, 'current after a resumed download');
      expect(agent.versions('cnn')[0].version).toBe('2.0.0');
      const reqs = server.requests.filter((r) => r.path === `/${name}`);
      expect(reqs[0]).toMatchObject({ status: 200, range: undefined });
      expect(reqs.some((r) => r.status === 206 && /^bytes=\d+-$/.test(r.range ?? ''))).toBe(true);
    });

    for (const [mode, reason] of [
      ['truncate', /got \d+ of \d+ bytes|sha256 mismatch|range not satisfiable/],
      ['tamper', /sha256 mismatch/],
      ['wrong-signer', /signed by key/],
    ] as const) {
      it(`BAD CALL: a ${mode} artifact is rejected, reported failed, and v1 keeps serving`, async () => {
        const { dev, agent, connect } = await device();
        const name = `${mode}-${dev.id}.tgz`;
        connect();
        await gw.setDesiredState(dev.id, { cnn: mode === 'wrong-signer' ? ref(name, 'ok', 'ffffffffffffffff') : ref(name, mode) });
        await waitUntil(() => reported(dev.id)?.status === 'failed', 30_000, 'reported failed');
        expect(reported(dev.id)).toMatchObject({ status: 'failed', version: '2.0.0', serving: '1.0.0', reason: expect.stringMatching(reason) });
        expect(agent.versions('cnn')[0].version).toBe('1.0.0');
        expect((await agent.infer('cnn', input)).version).toBe('1.0.0');
        // Bounded retries: at most 3 download attempts (each may resume once more with Range).
        if (mode !== 'wrong-signer') expect(server.requests.filter((r) => r.path === `/${name}`).length).toBeLessThanOrEqual(6);
      });
    }
  });
}
