/**
 * End to end: a version pushed into the registry reaches a real agent. The gateway (embedded aedes),
 * the registry's artifact server and an agent's SyncClient; the desired state comes from
 * desiredEntryFor, and the agent downloads, checks and serves the pushed version.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type DeviceGateway } from '../../src/cloud/gateway/index.js';
import { openModelRegistry, startArtifactServer, type ArtifactServer, type ModelRegistry } from '../../src/cloud/registry/index.js';
import { Agent } from '../../src/edge-agent/agent.js';
import { SyncClient } from '../../src/edge-agent/sync/index.js';
import { waitUntil } from '../sync/helpers.js';
import { build, kilnHome, tempDir, type Built } from './registry-helpers.js';

let root: string;
let v1: Built;
let v2: Built;
let gw: DeviceGateway;
let reg: ModelRegistry;
let srv: ArtifactServer;

beforeAll(async () => {
  root = tempDir('kiln-registry-e2e-');
  v1 = await build(root, 'cnn', '1.0.0', 'x86_64', 1);
  v2 = await build(root, 'cnn', '2.0.0', 'x86_64', 2);
  gw = await startGateway({ dbPath: join(root, 'cloud', 'cloud.db'), port: 0 });
  reg = await openModelRegistry({ dbPath: join(root, 'cloud', 'cloud.db') });
  srv = await startArtifactServer(reg);
}, 180_000);
afterAll(async () => {
  await srv?.close();
  await reg?.close();
  await gw?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('registry → gateway → agent', () => {
  it('a device converges to the version pushed into the registry', async () => {
    await reg.pushArtifact(v1.dir);
    await reg.pushArtifact(v2.tgz);
    const dev = gw.addDevice('edge', { id: 'reg-e2e-1' });
    const agent = new Agent({ dataDir: join(root, 'agent'), models: [v1.tgz], kilnHome });
    await agent.start();
    const sync = new SyncClient(agent, {
      url: gw.brokerUrl,
      deviceId: dev.id,
      deviceSecret: dev.secret,
      reconnectMinMs: 100,
      reconnectMaxMs: 800,
      downloadRetryMs: 50,
    });
    sync.start();
    try {
      const target = 'x86_64';
      expect(await reg.missingTargets('cnn', '2.0.0', [{ deviceId: dev.id, target }])).toEqual([]);
      const doc = await gw.setDesiredState(dev.id, { cnn: await reg.desiredEntryFor('cnn', '2.0.0', target, srv.url) });
      await waitUntil(
        () => gw.device(dev.id)?.reported?.desiredVersion === doc.version && gw.device(dev.id)?.reported?.models.cnn?.status === 'current',
        60_000,
        'the device reports 2.0.0 current',
      );
      expect(gw.device(dev.id)?.reported?.models.cnn).toMatchObject({ version: '2.0.0', status: 'current', serving: '2.0.0' });
      expect(agent.versions('cnn')[0].version).toBe('2.0.0');
    } finally {
      await sync.stop();
      await agent.close();
    }
  });
});
