/**
 * `kiln agent start --cloud … --device-id … --device-secret …` as a user runs it (a real process):
 * the device comes online at the gateway, reports its state, its telemetry arrives, and a desired
 * version written while it runs is installed and served. Bad sync flags are refused with exit 2.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceGateway } from '../../src/cloud/gateway/index.js';
import { resolveAgentConfig } from '../../src/edge-agent/config.js';
import { http, kilnHome, makeArtifact, tempDir, type TestArtifact } from '../edge-agent/helpers.js';
import { ArtifactServer, BROKERS, gatewayFor, uniqueId, waitUntil } from './helpers.js';

const BIN = resolve(import.meta.dirname, '../../bin/kiln.js');
let root: string;
let v1: TestArtifact;
let v2: TestArtifact;
const server = new ArtifactServer();
beforeAll(async () => {
  root = tempDir('kiln-sync-cli-');
  v1 = await makeArtifact(root, 'cnn', '1.0.0', { seed: 1 });
  v2 = await makeArtifact(root, 'cnn', '2.0.0', { seed: 2 });
  await server.start();
}, 120_000);
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('kiln agent start --cloud', () => {
  it('BAD CALL: --cloud without a device id and secret, or a non-MQTT URL, is a config error', () => {
    expect(() => resolveAgentConfig({ cwd: root, flags: { cloud: 'mqtt://127.0.0.1:1883' } })).toThrow(/needs a device id and secret/);
    expect(() => resolveAgentConfig({ cwd: root, flags: { cloud: 'http://x', deviceId: 'd1', deviceSecret: 'secret-secret' } })).toThrow(
      /--cloud: expected an mqtt:\/\//,
    );
    expect(() => resolveAgentConfig({ cwd: root, flags: { cloud: 'mqtt://x:1', deviceId: 'a/b', deviceSecret: 'secret-secret' } })).toThrow(
      /--device-id: expected a device id/,
    );
    const ok = resolveAgentConfig({
      cwd: root,
      env: { KILN_AGENT_CLOUD: 'mqtt://x:1', KILN_AGENT_DEVICE_ID: 'd1', KILN_AGENT_DEVICE_SECRET: 'secret-secret' },
    });
    expect(ok).toMatchObject({ cloud: 'mqtt://x:1', deviceId: 'd1', deviceSecret: 'secret-secret' });
  });

  for (const b of BROKERS) {
    it(`syncs with the cloud (${b.name})`, async () => {
      const dir = tempDir('kiln-sync-cli-run-');
      const gw: DeviceGateway = await gatewayFor(b, dir);
      const dev = gw.addDevice('cli', { id: uniqueId('cli') });
      const child = spawn(
        process.execPath,
        [
          BIN,
          'agent',
          'start',
          '--model',
          v1.tgz,
          '--port',
          '0',
          '--data-dir',
          join(dir, 'agent'),
          '--json',
          '--cloud',
          gw.brokerUrl,
          '--device-id',
          dev.id,
          '--device-secret',
          dev.secret,
        ],
        {
          env: { ...process.env, KILN_HOME: kilnHome },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      try {
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        // The --json start line; anything else a dependency may print on stdout is skipped.
        const startLine = (): { url: string } | undefined => {
          for (const line of out.split('\n')) {
            try {
              const doc = JSON.parse(line) as { url?: string };
              if (typeof doc.url === 'string') return doc as { url: string };
            } catch {
              /* not the start line */
            }
          }
          return undefined;
        };
        await waitUntil(() => startLine() !== undefined, 60_000, "the agent's --json start line on stdout");
        const { url } = startLine()!;
        await waitUntil(() => gw.device(dev.id)?.online === true, 20_000, 'online');
        await waitUntil(() => gw.registry.telemetryCount(dev.id, 'install.result') === 1, 20_000, 'the install result');
        const keyId = (JSON.parse(readFileSync(join(v2.dir, 'signature.json'), 'utf8')) as { keyId: string }).keyId;
        const f = server.add(`cli-${dev.id}.tgz`, v2.tgz);
        await gw.setDesiredState(dev.id, { cnn: { version: '2.0.0', artifact: { ...f, signature: { algorithm: 'ed25519', keyId } } } });
        await waitUntil(
          () => gw.device(dev.id)?.reported?.models.cnn?.status === 'current' && gw.device(dev.id)?.reported?.models.cnn?.version === '2.0.0',
          30_000,
          'v2 current',
        );
        expect((await http(`${url}/v2/models/cnn`)).json()).toMatchObject({ name: 'cnn', versions: expect.arrayContaining(['2.0.0']) });
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
        expect(child.exitCode).toBe(0);
        await waitUntil(() => gw.device(dev.id)?.online === false, 10_000, 'offline after a clean stop');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
        await gw.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
