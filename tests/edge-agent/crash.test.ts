/**
 * kill -9 at every step of an install, then a restart: the agent serves the last good version
 * (or the new one once it was promoted), its state DB is sound, and no half-installed files remain.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import type { InstallStep } from '../../src/edge-agent/store/model-store.js';
import { kilnHome, makeArtifact, randomInput, tempDir, type TestArtifact } from './helpers.js';

const CHILD = join(import.meta.dirname, 'fixtures', 'install-child.ts');
let root: string;
let v1: TestArtifact;
let v2: TestArtifact;
let seeded: string;

beforeAll(async () => {
  root = tempDir();
  v1 = await makeArtifact(root, 'cnn', '1', { seed: 1 });
  v2 = await makeArtifact(root, 'cnn', '2', { seed: 2 });
  seeded = join(root, 'seeded');
  const agent = new Agent({ dataDir: seeded, models: [v1.dir], kilnHome, preload: false });
  await agent.start();
  await agent.close();
});

/** Run the child until it pauses at `step`, then SIGKILL it. */
function killAt(dataDir: string, artifact: string, step: InstallStep): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, artifact, kilnHome, step], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child never paused at ${step}: ${out} ${err}`));
    }, 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes(`paused:${step}`)) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && out.includes(`paused:${step}`)) resolve();
      else reject(new Error(`child ended without pausing at ${step} (signal ${signal}): ${out} ${err}`));
    });
  });
}

const STEPS: [InstallStep, string][] = [
  ['check', '1'],
  ['unpack', '1'],
  ['synced', '1'],
  ['renamed', '1'],
  ['recorded', '1'],
  ['loaded', '1'],
  ['warmed', '1'],
  ['promoted', '2'],
  ['pruned', '2'],
];

describe('kill -9 during an install', () => {
  it.each(STEPS)('killed at %s → restart serves version %s, state sound, no leftovers', async (step, serving) => {
    const dataDir = join(root, `kill-${step}`);
    cpSync(seeded, dataDir, { recursive: true });
    await killAt(dataDir, v2.tgz, step);

    const agent = new Agent({ dataDir, kilnHome });
    try {
      await agent.start();
      expect(agent.isReady).toBe(true);
      expect(agent.db.integrityCheck()).toBe('ok');
      const res = await agent.infer('cnn', { input: { type: 'float32', dims: [1, 3, 32, 32], data: randomInput(3072) } });
      expect(res.version).toBe(serving);
      expect(res.outputs.output.dims).toEqual([1, 10]);
      // Nothing half-installed: no staging folders, no staged rows, only good versions' folders on disk.
      expect(readdirSync(join(dataDir, 'models', '.staging'))).toEqual([]);
      expect(agent.db.installs({ states: ['staged'] })).toEqual([]);
      const good = agent.db.installs({ states: ['good'] });
      expect(readdirSync(join(dataDir, 'models', 'cnn')).sort()).toEqual(good.map((r) => r.dir.split('/').pop()).sort());
      for (const r of good) expect(existsSync(join(dataDir, r.dir, 'model.onnx'))).toBe(true);
      // And the install can simply be done again.
      const again = await agent.install(v2.tgz);
      expect(again.version).toBe('2');
      expect((await agent.infer('cnn', { input: { type: 'float32', dims: [1, 3, 32, 32], data: randomInput(3072) } })).version).toBe('2');
    } finally {
      await agent.close();
    }
  });
});
