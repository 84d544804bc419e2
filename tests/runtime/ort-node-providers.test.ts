/**
 * ort-node's execution providers: CUDA and TensorRT are found by their libraries next to the binding
 * (none here), then probed once with a tiny session; a missing accelerator is a reason, never a silent
 * CPU run. A fake runtime stands in for a machine with the CUDA libraries.
 */
import { describe, expect, it } from 'vitest';
import type { NamedTensors } from '../../src/runtime/backend.js';
import { createOrtNodeBackend, type OrtNodeRuntime } from '../../src/runtime/ort-node-backend.js';
import { missingProviderLibraries, providerLibraryNames } from '../../src/runtime/ort-node.js';
import { expectKilnError } from './helpers.js';

const NO_CUDA = 'no CUDA provider installed (install with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install)';

describe('on this host (no CUDA libraries)', () => {
  const backend = createOrtNodeBackend();

  it('answers cuda with how to install it', async () => {
    expect(await backend.available({ executionProviders: ['cuda'] })).toEqual({ ok: false, reason: NO_CUDA });
    expect(missingProviderLibraries('cuda')).toEqual(providerLibraryNames('cuda'));
    expect(providerLibraryNames('cuda', 'linux')).toEqual(['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so']);
    expect(providerLibraryNames('cuda', 'win32')).toEqual(['onnxruntime_providers_shared.dll', 'onnxruntime_providers_cuda.dll']);
  });

  it('lists every missing accelerator of a GPU target, and does not fall back to the CPU', async () => {
    const answer = await backend.available({ executionProviders: ['tensorrt', 'cuda', 'cpu'] });
    expect(answer.ok).toBe(false);
    expect(answer.ok ? '' : answer.reason).toMatch(/^no TensorRT provider installed .*; no CUDA provider installed/);
    await expectKilnError(() => backend.load(new Uint8Array(), { executionProviders: ['cuda', 'cpu'] }), 'BACKEND_UNAVAILABLE', NO_CUDA);
  });

  it('names a provider this onnxruntime does not have, with the ones it has', async () => {
    const answer = await backend.available({ executionProviders: ['xnnpack'] });
    expect(answer.ok ? '' : answer.reason).toMatch(/has no 'xnnpack' execution provider on \w+\/\w+ \(it knows cpu, .*cuda/);
  });

  it('cpu works', async () => {
    expect(await backend.available({ executionProviders: ['cpu'] })).toEqual({ ok: true });
  });
});

/** A runtime where the given providers' libraries are installed; `broken` ones fail their probe. */
function fakeRuntime(installed: string[], broken: string[] = []) {
  const sessions: string[][] = [];
  const runtime: OrtNodeRuntime = {
    version: () => '9.9.9',
    supportedProviders: () => [
      { name: 'cpu', bundled: true },
      { name: 'cuda', bundled: false },
      { name: 'tensorrt', bundled: false },
    ],
    missingLibraries: (p) => (installed.includes(p) ? [] : [`libonnxruntime_providers_${p}.so`]),
    async createSession(_model, options) {
      sessions.push([...options.executionProviders]);
      const bad = options.executionProviders.find((p) => broken.includes(p));
      if (bad)
        throw new Error(`/src/provider_bridge.cc:1 Failed to load library libonnxruntime_providers_${bad}.so: libcudnn.so.9: cannot open shared object file`);
      return {
        inputNames: ['x'],
        outputNames: ['y'],
        inputMetadata: [{ name: 'x', isTensor: true, type: 'float32', shape: [1] }],
        outputMetadata: [{ name: 'y', isTensor: true, type: 'float32', shape: [1] }],
        run: async (feeds: NamedTensors) => ({ y: feeds.x }),
        release: async () => {},
      };
    },
  };
  return { runtime, sessions };
}

describe('with a fake runtime', () => {
  it('uses CUDA where its libraries are installed, dropping a missing TensorRT', async () => {
    const { runtime, sessions } = fakeRuntime(['cuda']);
    const backend = createOrtNodeBackend({ runtime: async () => runtime });
    expect(await backend.available({ executionProviders: ['tensorrt', 'cuda', 'cpu'] })).toEqual({ ok: true });
    const handle = await backend.load(new Uint8Array([1]), { executionProviders: ['tensorrt', 'cuda', 'cpu'] });
    expect(handle.provider).toBe('cuda, cpu');
    expect(sessions.at(-1)).toEqual(['cuda', 'cpu']);
    expect(await handle.run({ x: { type: 'float32', dims: [1], data: new Float32Array([3]) } })).toEqual({
      y: { type: 'float32', dims: [1], data: new Float32Array([3]) },
    });
  });

  it('probes each provider once', async () => {
    const { runtime, sessions } = fakeRuntime(['cuda']);
    const backend = createOrtNodeBackend({ runtime: async () => runtime });
    await backend.available({ executionProviders: ['cuda'] });
    await backend.available({ executionProviders: ['cuda'] });
    await backend.available({ executionProviders: ['cuda', 'cpu'] });
    expect(sessions).toEqual([['cuda']]);
  });

  it('reports installed libraries that cannot start (no cuDNN, no GPU)', async () => {
    const { runtime } = fakeRuntime(['cuda'], ['cuda']);
    const answer = await createOrtNodeBackend({ runtime: async () => runtime }).available({ executionProviders: ['cuda'] });
    expect(answer).toEqual({
      ok: false,
      reason:
        'CUDA provider installed but it cannot start: Failed to load library libonnxruntime_providers_cuda.so: libcudnn.so.9: cannot open shared object file',
    });
  });

  it('reports a runtime that does not load at all', async () => {
    const backend = createOrtNodeBackend({ runtime: () => Promise.reject(new Error('no binding for linux/riscv64')) });
    expect(await backend.available()).toEqual({ ok: false, reason: 'onnxruntime-node cannot load here: no binding for linux/riscv64' });
    await expectKilnError(() => backend.load(new Uint8Array([1])), 'BACKEND_UNAVAILABLE', 'no binding for linux/riscv64');
  });
});
