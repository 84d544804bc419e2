/**
 * Installed files that stop checking out (a flipped bit on disk, a hand edit): the agent does not
 * serve them; it marks that version failed and serves the previous good one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { OUTBOX_KINDS } from '../../src/edge-agent/outbox.js';
import { kilnHome, makeArtifact, randomInput, tempDir } from './helpers.js';

const input = { input: { type: 'float32', dims: [1, 3, 32, 32], data: randomInput(3072) } };

describe('corrupted installed files', () => {
  it.each(['model.onnx', 'manifest.json'])('a corrupted installed %s → the previous good version serves', async (file) => {
    const root = tempDir();
    const dataDir = join(root, 'data');
    const v1 = await makeArtifact(root, 'cnn', '1', { seed: 1 });
    const v2 = await makeArtifact(root, 'cnn', '2', { seed: 2 });
    const first = new Agent({ dataDir, models: [v1.dir, v2.dir], kilnHome });
    await first.start();
    const v2dir = first.store.dirOf(first.versions('cnn')[0]);
    await first.close();

    const bytes = readFileSync(join(v2dir, file));
    bytes[bytes.length - 3] ^= 0x01;
    writeFileSync(join(v2dir, file), bytes);

    const agent = new Agent({ dataDir, kilnHome });
    try {
      await agent.start();
      expect((await agent.infer('cnn', input)).version).toBe('1');
      expect(agent.db.current('cnn')!.version).toBe('1');
      expect(agent.db.installs({ model: 'cnn', states: ['failed'] }).map((r) => r.version)).toEqual(['2']);
      const results = agent.outbox.peek(10, OUTBOX_KINDS.install).map((r) => r.payload as { result: string; version: string });
      expect(results.at(-1)).toMatchObject({ result: 'rolled-back', version: '2' });
    } finally {
      await agent.close();
    }
  });
});
