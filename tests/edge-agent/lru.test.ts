/**
 * Several models on one agent: loaded on first use, least-recently-used unloaded when the memory
 * budget is exceeded, never one with a request in flight.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { kilnHome, makeArtifact, randomInput, tempDir } from './helpers.js';

let agent: Agent;
afterAll(async () => agent?.close());

describe('multi-model loading', () => {
  it('loads on first use and unloads the least recently used past the budget', async () => {
    const root = tempDir();
    const arts = [
      await makeArtifact(root, 'a', '1', { seed: 1 }),
      await makeArtifact(root, 'b', '1', { seed: 2 }),
      await makeArtifact(root, 'c', '1', { seed: 3 }),
    ];
    const probe = new Agent({ dataDir: join(root, 'probe'), models: [arts[0].dir], kilnHome, preload: false });
    await probe.start();
    const size = probe.versions('a')[0].sizeBytes;
    await probe.close();

    agent = new Agent({ dataDir: join(root, 'data'), models: arts.map((a) => a.dir), kilnHome, preload: false, memoryBudgetBytes: 2 * size });
    await agent.start();
    const loaded = () =>
      agent.pool
        .loadedIds()
        .map((id) => agent.db.install(id)!.model)
        .sort();
    // Probation loaded each at install; the budget already pushed the oldest out.
    expect(loaded()).toEqual(['b', 'c']);
    const run = (m: string) => agent.infer(m, { input: { type: 'float32', dims: [1, 3, 32, 32], data: randomInput(3072) } });

    await run('a');
    expect(loaded()).toEqual(['a', 'c']);
    await run('c');
    await run('b');
    expect(loaded()).toEqual(['b', 'c']);
    expect(agent.metrics.unloads.get({ model: 'a', version: '1', reason: 'evicted' })).toBe(2);
    expect(agent.pool.loadedBytes).toBeLessThanOrEqual(2 * size);

    // A model with a request in flight is not unloaded, even over budget.
    const lease = await agent.lease(agent.lookup('b'));
    await run('a');
    await run('c');
    expect(loaded()).toContain('b');
    lease.release();
    expect((await run('b')).outputs.output.dims).toEqual([1, 10]);
  });
});
