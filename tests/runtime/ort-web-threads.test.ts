/**
 * onnxruntime-web's WASM thread count is fixed per process at its first init: the first load decides
 * (here 2 threads), a later request for another count is refused with a reason, an unset count takes
 * the process's. Its own file: vitest gives each file a fresh process.
 */
import { describe, expect, it } from 'vitest';
import { buildCnn } from '../../src/onnx/builder.js';
import { serializeModel } from '../../src/onnx/model.js';
import { createOrtNodeBackend } from '../../src/runtime/ort-node-backend.js';
import { createOrtWebBackend } from '../../src/runtime/ort-web-backend.js';
import { ortWebThreadConflict, ortWebThreads, resolveOrtWebThreads } from '../../src/runtime/ort-web.js';
import { expectKilnError, maxAbsDiff, randomTensor } from './helpers.js';

const bytes = serializeModel(buildCnn({ seed: 9 }));
const feeds = { input: randomTensor([1, 3, 32, 32], 3) };

describe('ort-web threads', () => {
  it('before the first load any count is possible', async () => {
    expect(ortWebThreads()).toBeUndefined();
    expect(ortWebThreadConflict(4)).toBeUndefined();
    expect(resolveOrtWebThreads(undefined)).toBe(1);
    expect(resolveOrtWebThreads(0)).toBeGreaterThanOrEqual(1);
    expect(await createOrtWebBackend().available({ threads: 2 })).toEqual({ ok: true });
  });

  it('the first load fixes the count (2 threads here) and computes the same as ort-node', async () => {
    const web = await createOrtWebBackend().load(bytes, { threads: 2 });
    const node = await createOrtNodeBackend().load(bytes, { threads: 1 });
    try {
      expect(web.provider).toBe('wasm (2 threads)');
      expect(ortWebThreads()).toBe(2);
      expect(maxAbsDiff(await node.run(feeds), await web.run(feeds))).toBeLessThanOrEqual(1e-4);
    } finally {
      await web.release();
      await node.release();
    }
  });

  it('a later request for another count is refused, with the reason', async () => {
    const backend = createOrtWebBackend();
    const answer = await backend.available({ threads: 1 });
    expect(answer.ok).toBe(false);
    expect(answer.ok ? '' : answer.reason).toContain('fixed per process at its first init: this process runs 2 threads, asked for 1 thread');
    await expectKilnError(() => backend.load(bytes, { threads: 1 }), 'BACKEND_UNAVAILABLE', 'this process runs 2 threads');
  });

  it('the same count, or none, loads', async () => {
    const backend = createOrtWebBackend();
    expect(await backend.available({ threads: 2 })).toEqual({ ok: true });
    for (const threads of [2, undefined]) {
      const handle = await backend.load(bytes, { threads });
      expect(handle.provider).toBe('wasm (2 threads)');
      await handle.release();
    }
  });

  it('providers other than wasm are refused by name', async () => {
    const answer = await createOrtWebBackend().available({ executionProviders: ['webgpu'] });
    expect(answer).toEqual({ ok: false, reason: "onnxruntime-web in Node runs only the 'wasm' provider (asked for webgpu)" });
  });
});
