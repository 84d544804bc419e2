/**
 * kill -9 of an agent in the middle of draining a full outbox, then a restart: every record reaches
 * the cloud exactly once, and the outbox ends empty (rows go only on the cloud's ack).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeviceGateway } from '../../src/cloud/gateway/index.js';
import { Agent } from '../../src/edge-agent/agent.js';
import { kilnHome, tempDir } from '../edge-agent/helpers.js';
import { BROKERS, gatewayFor, uniqueId, waitUntil } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/sync-child.ts', import.meta.url));
const N = 2000;

function startChild(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before ready: ${err.slice(-2000)}`)));
  });
}
const exited = (c: ChildProcess) =>
  new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve())));

for (const b of BROKERS) {
  describe(`agent kill -9 with a full outbox (${b.name})`, () => {
    let gw: DeviceGateway;
    let dir: string;
    const children: ChildProcess[] = [];
    afterAll(async () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await gw?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it(`${N} records: nothing lost, nothing doubled`, async () => {
      dir = tempDir('kiln-sync-kill-');
      gw = await gatewayFor(b, dir);
      const dev = gw.addDevice('edge', { id: uniqueId('kill') });
      const dataDir = join(dir, 'agent');
      const ids = new Set<string>();
      const filler = new Agent({ dataDir, kilnHome, preload: false, runJobs: false });
      await filler.start();
      for (let i = 0; i < N; i++) ids.add(filler.outbox.add('test.count', { i }));
      await filler.close();
      const count = () => gw.registry.telemetryCount(dev.id, 'test.count');
      const args = [dataDir, gw.brokerUrl, dev.id, dev.secret, kilnHome];

      const first = await startChild(args);
      children.push(first);
      await waitUntil(() => count() >= 100, 60_000, 'the drain to start');
      first.kill('SIGKILL');
      await exited(first);
      const atKill = count();
      expect(atKill).toBeLessThan(N); // killed in the middle

      const second = await startChild(args);
      children.push(second);
      await waitUntil(() => count() === N, 60_000, `all ${N} records`);
      // Let the last acks land, then stop cleanly and look at the outbox.
      const reader = new Agent({ dataDir, kilnHome, exclusive: false, preload: false });
      await waitUntil(() => reader.outbox.count('test.count') === 0, 30_000, 'the outbox to empty');
      await reader.close();
      second.kill('SIGTERM');
      await exited(second);

      expect(count()).toBe(N);
      const stored = gw.registry.telemetry(dev.id, 'test.count').map((r) => r.id);
      expect(new Set(stored)).toEqual(ids);
      expect(stored.length).toBe(N);
    });
  });
}
