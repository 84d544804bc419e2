/**
 * The backend registry: priorities, resolution by name, by target profile and by model kind, the
 * error that lists why each candidate failed, and the replaceable default registry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadTarget } from '../../src/targets/profiles.js';
import type { Availability, BackendLoadOptions, InferenceBackend, ModelKind } from '../../src/runtime/backend.js';
import {
  createBackendRegistry,
  defaultBackendRegistry,
  getBackend,
  optionsForTarget,
  registerBackend,
  resolveBackend,
  setDefaultBackendRegistry,
} from '../../src/runtime/registry.js';
import { expectKilnError } from './helpers.js';

/** A backend that answers from a function and records what it was asked. */
function fake(name: string, answer: (o: BackendLoadOptions) => Availability, modelKind: ModelKind = 'onnx') {
  const asked: BackendLoadOptions[] = [];
  const backend: InferenceBackend = {
    name,
    modelKind,
    describe: () => `${name} (fake)`,
    async available(options = {}) {
      asked.push(options);
      return answer(options);
    },
    load: () => Promise.reject(new Error('not in this test')),
  };
  return { backend, asked };
}

const ok = (): Availability => ({ ok: true });
const no = (reason: string) => (): Availability => ({ ok: false, reason });

afterEach(() => {
  setDefaultBackendRegistry(undefined);
});

describe('register and get', () => {
  it('lists backends by priority, registration order among equals; a name registered again is replaced', () => {
    const r = createBackendRegistry();
    r.register(fake('b', ok).backend, 10);
    r.register(fake('a', ok).backend, 50);
    r.register(fake('c', ok).backend, 10);
    expect(r.list().map((e) => `${e.name}:${e.priority}`)).toEqual(['a:50', 'b:10', 'c:10']);
    const again = fake('b', ok).backend;
    r.register(again, 99);
    expect(r.list().map((e) => e.name)).toEqual(['b', 'a', 'c']);
    expect(r.get('b')).toBe(again);
  });

  it('BAD CALL: an unknown name lists the known ones, with a guess', async () => {
    const r = createBackendRegistry();
    r.register(fake('ort-node', ok).backend, 100);
    r.register(fake('ort-web', ok).backend, 50);
    await expectKilnError(() => r.get('ort-nod'), 'UNKNOWN_BACKEND', "unknown backend 'ort-nod' (did you mean 'ort-node'?)", 'backends: ort-node, ort-web');
    await expectKilnError(
      () => r.resolve({ name: 'onnxruntime', modelKind: 'onnx' }),
      'UNKNOWN_BACKEND',
      "unknown backend 'onnxruntime'",
      'backends: ort-node, ort-web',
    );
    // A provider name is not a backend: the hint says where it goes.
    await expectKilnError(() => r.get('cuda'), 'UNKNOWN_BACKEND', "unknown backend 'cuda'", 'execution provider', "ort-node with ['cuda']");
  });

  it('BAD CALL: something that is not a backend, or a bad priority, is a TypeError / RangeError', () => {
    const r = createBackendRegistry();
    expect(() => r.register({ name: 'x' } as unknown as InferenceBackend)).toThrow(TypeError);
    expect(() => r.register(fake('x', ok).backend, Number.NaN)).toThrow(RangeError);
  });
});

describe('resolve', () => {
  it('without a name or target: the highest priority backend of the model kind that is available', async () => {
    const r = createBackendRegistry();
    r.register(fake('tf', ok, 'tfjs').backend, 200);
    r.register(fake('native', no('library missing')).backend, 100);
    r.register(fake('wasm', ok).backend, 50);
    const resolved = await r.resolve({ modelKind: 'onnx', options: { threads: 2 } });
    expect(resolved.backend.name).toBe('wasm');
    expect(resolved.options).toEqual({ threads: 2 });
    expect(resolved.skipped).toEqual([{ name: 'native', reason: 'library missing' }]);
    expect(r.lastStatus('native')).toEqual({ ok: false, reason: 'library missing' });
    expect((await r.resolve({ modelKind: 'tfjs' })).backend.name).toBe('tf');
  });

  it("by target: the profile's backend with its providers, threads and optimization level (request options win)", async () => {
    const r = createBackendRegistry();
    const node = fake('ort-node', ok);
    r.register(node.backend, 100);
    r.register(fake('ort-web', ok).backend, 50);
    const x86 = loadTarget('x86_64');
    const resolved = await r.resolve({ target: x86, modelKind: 'onnx', options: { threads: 1 } });
    expect(resolved.backend.name).toBe('ort-node');
    expect(resolved.options).toEqual({ executionProviders: ['cpu'], threads: 1, optimization: 'all' });
    expect(optionsForTarget(loadTarget('wasm'))).toEqual({ executionProviders: ['wasm'], threads: 1, optimization: 'all' });
    expect((await r.resolve({ target: loadTarget('wasm'), modelKind: 'onnx' })).backend.name).toBe('ort-web');
  });

  it('by target without its provider: an error naming the target and the reason; fallback tries the CPU, then the others', async () => {
    const r = createBackendRegistry();
    const node = fake('ort-node', (o) =>
      o.executionProviders?.some((p) => p === 'cuda' || p === 'tensorrt') ? { ok: false, reason: 'no CUDA provider installed' } : { ok: true },
    );
    r.register(node.backend, 100);
    r.register(fake('ort-web', ok).backend, 50);
    const gpu = loadTarget('gpu-cuda');
    await expectKilnError(
      () => r.resolve({ target: gpu, modelKind: 'onnx' }),
      'BACKEND_UNAVAILABLE',
      "no backend can run target 'gpu-cuda' (ort-node [tensorrt, cuda, cpu]) on this host; tried 1:",
      '• ort-node [tensorrt, cuda, cpu]: no CUDA provider installed',
      'fallback: true',
    );
    const resolved = await r.resolve({ target: gpu, modelKind: 'onnx', fallback: true });
    expect(resolved.backend.name).toBe('ort-node');
    expect(resolved.options.executionProviders).toEqual(['cpu']);
    expect(resolved.skipped).toEqual([{ name: 'ort-node', executionProviders: ['tensorrt', 'cuda', 'cpu'], reason: 'no CUDA provider installed' }]);
  });

  it('when none works, the error lists every candidate and why', async () => {
    const r = createBackendRegistry();
    r.register(fake('a', no('reason A')).backend, 2);
    r.register(fake('b', () => Promise.reject(new Error('boom')) as never).backend, 1);
    const err = await expectKilnError(
      () => r.resolve({ modelKind: 'onnx' }),
      'BACKEND_UNAVAILABLE',
      'no backend can run an ONNX model on this host; tried 2:',
      '• a: reason A',
      '• b: available() failed: boom',
    );
    expect(err.exitCode).toBe(1);
  });

  it('BAD CALL: a backend of the wrong model kind, by name or by target', async () => {
    const r = createBackendRegistry();
    r.register(fake('ort-node', ok).backend, 100);
    r.register(fake('tfjs', ok, 'tfjs').backend, 50);
    await expectKilnError(() => r.resolve({ name: 'tfjs', modelKind: 'onnx' }), 'WRONG_BACKEND', "backend 'tfjs' loads tfjs models, not onnx", 'use ort-node');
    await expectKilnError(
      () => r.resolve({ target: loadTarget('x86_64'), modelKind: 'tfjs' }),
      'WRONG_BACKEND',
      "target 'x86_64' runs on ort-node",
      'use tfjs',
    );
    await expectKilnError(() => r.resolve({ modelKind: 'pytorch' as ModelKind }), 'BAD_OPTION', "modelKind must be 'onnx' or 'tfjs'");
    await expectKilnError(() => createBackendRegistry().resolve({ modelKind: 'onnx' }), 'BACKEND_UNAVAILABLE', 'no registered backend loads onnx models');
  });

  it('a name wins over the target; the target options apply only to its own backend', async () => {
    const r = createBackendRegistry();
    r.register(fake('ort-node', ok).backend, 100);
    r.register(fake('ort-web', ok).backend, 50);
    const resolved = await r.resolve({ name: 'ort-web', target: loadTarget('x86_64'), modelKind: 'onnx' });
    expect(resolved.backend.name).toBe('ort-web');
    expect(resolved.options).toEqual({});
  });
});

describe('the default registry', () => {
  it('holds ort-node, ort-web and tfjs, and asking it for CUDA lists why each ONNX backend failed', async () => {
    expect(
      defaultBackendRegistry()
        .list()
        .map((e) => `${e.name}:${e.priority}:${e.modelKind}`),
    ).toEqual(['ort-node:100:onnx', 'ort-web:50:onnx', 'tfjs:50:tfjs']);
    await expectKilnError(
      () => resolveBackend({ modelKind: 'onnx', options: { executionProviders: ['cuda'] } }),
      'BACKEND_UNAVAILABLE',
      '• ort-node [cuda]: no CUDA provider installed (install with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install)',
      "• ort-web [cuda]: onnxruntime-web in Node runs only the 'wasm' provider (asked for cuda)",
    );
    expect((await resolveBackend({ modelKind: 'onnx' })).backend.name).toBe('ort-node');
  });

  it('can be replaced in tests, and comes back fresh', async () => {
    const mine = createBackendRegistry();
    const previous = setDefaultBackendRegistry(mine);
    registerBackend(fake('only', ok).backend, 1);
    expect(getBackend('only').name).toBe('only');
    expect(mine.list().map((e) => e.name)).toEqual(['only']);
    expect((await resolveBackend({ modelKind: 'onnx' })).backend.name).toBe('only');
    setDefaultBackendRegistry(previous);
    expect(defaultBackendRegistry().has('only')).toBe(false);
    expect(defaultBackendRegistry().has('ort-node')).toBe(true);
  });
});
