/**
 * The agent runs each artifact on the runtime its target names, through src/runtime's registry:
 * x86_64 on onnxruntime-node's CPU provider, wasm on onnxruntime-web, gpu-cuda on onnxruntime-node
 * with CUDA where the host has it — else refused by default, or served on the CPU with
 * allowCpuFallback and reported as "gpu-cuda artifact on CPU" in the log, /v2/models/NAME metadata,
 * /metrics and the install telemetry. Threads are reported the same way.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent } from '../../src/edge-agent/http/server.js';
import { createLogger } from '../../src/logger.js';
import { OUTBOX_KINDS } from '../../src/edge-agent/outbox.js';
import { KilnError } from '../../src/errors.js';
import { createOrtNodeBackend } from '../../src/runtime/ort-node-backend.js';
import { createBackendRegistry, defaultBackendRegistry } from '../../src/runtime/registry.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir, type TestArtifact } from './helpers.js';

const root = tempDir();
let cpu: TestArtifact;
let gpu: TestArtifact;
let wasm: TestArtifact;
/** Whether this host runs onnxruntime-node's CUDA provider (the GPU branch runs only there). */
const hasCuda = (await defaultBackendRegistry().check('ort-node', { executionProviders: ['cuda'] })).ok;

beforeAll(async () => {
  cpu = await makeArtifact(root, 'rt-cpu', '1', { seed: 3 });
  gpu = await makeArtifact(root, 'rt-gpu', '1', { seed: 3, target: 'gpu-cuda' });
  wasm = await makeArtifact(root, 'rt-wasm', '1', { seed: 3, target: 'wasm' });
}, 120_000);

const input = { input: { type: 'float32', dims: [1, 3, 32, 32], data: randomInput(3 * 32 * 32, 7) } };

function agentFor(dir: string, models: string[], extra: Partial<ConstructorParameters<typeof Agent>[0]> = {}, lines: string[] = []): Agent {
  return new Agent({ dataDir: `${root}/${dir}`, models, kilnHome, logger: createLogger((l) => lines.push(l)), ...extra });
}

describe('per-target runtimes', () => {
  it('an x86_64 artifact runs on onnxruntime-node cpu with the threads asked for, reported in metadata', async () => {
    const agent = agentFor('cpu', [cpu.dir], { threads: 1, interOpThreads: 1 });
    await agent.start();
    const server = await serveAgent(agent, { port: 0 });
    try {
      const meta = (await http(`${server.url}/v2/models/rt-cpu`)).json();
      expect(meta.runtime).toEqual({ target: 'x86_64', backend: 'ort-node', provider: 'cpu', threads: 1, interOpThreads: 1 });
      expect(meta.inputs[0].name).toBe('input');
    } finally {
      await server.close();
      await agent.close();
    }
  });

  it('a wasm artifact runs on onnxruntime-web, with the same answers as onnxruntime-node', async () => {
    const agent = agentFor('wasm', [wasm.dir, cpu.dir], { threads: 1 });
    await agent.start();
    try {
      const served = agent.lookup('rt-wasm');
      expect(agent.runtimeOf(served.record)).toMatchObject({ target: 'wasm', backend: 'ort-web', provider: 'wasm (1 thread)', threads: 1 });
      expect(agent.runtimeOf(served.record)?.interOpThreads).toBeUndefined();
      const a = (await agent.infer('rt-wasm', input)).outputs;
      const b = (await agent.infer('rt-cpu', input)).outputs;
      const [x, y] = [Object.values(a)[0].data as Float32Array, Object.values(b)[0].data as Float32Array];
      expect(x.length).toBe(y.length);
      for (let i = 0; i < x.length; i++) expect(Math.abs(x[i] - y[i])).toBeLessThan(1e-4);
    } finally {
      await agent.close();
    }
  });

  it('a gpu-cuda artifact: on CUDA where the host has it, else refused by default with what to do', async () => {
    const agent = agentFor('gpu-refused', [gpu.dir]);
    try {
      if (hasCuda) {
        await agent.start();
        expect(agent.runtimeOf(agent.lookup('rt-gpu').record)?.provider).toMatch(/cuda/);
        return;
      }
      const err = await agent.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KilnError);
      expect((err as KilnError).message).toMatch(
        /a gpu-cuda artifact runs on ort-node \[tensorrt, cuda, cpu\], which cannot run here: .*no CUDA provider installed/,
      );
      expect((err as KilnError).message).toMatch(/--allow-cpu-fallback/);
      expect(agent.modelNames()).toEqual([]);
      const install = agent.outbox.peek(10, OUTBOX_KINDS.install).map((r) => r.payload as { result: string });
      expect(install.map((r) => r.result)).toEqual(['failed']);
    } finally {
      await agent.close();
    }
  });

  it.runIf(!hasCuda)(
    'a gpu-cuda artifact with allowCpuFallback serves on the CPU and says "gpu-cuda artifact on CPU" in log, metadata, metrics and telemetry',
    async () => {
      const lines: string[] = [];
      const agent = agentFor('gpu-fallback', [gpu.dir], { allowCpuFallback: true, threads: 1 }, lines);
      await agent.start();
      const server = await serveAgent(agent, { port: 0 });
      try {
        const meta = (await http(`${server.url}/v2/models/rt-gpu`)).json();
        expect(meta.runtime).toMatchObject({ target: 'gpu-cuda', backend: 'ort-node', provider: 'cpu', threads: 1 });
        expect(meta.runtime.fallback).toMatch(/^gpu-cuda artifact on CPU \(onnxruntime-node\): .*no CUDA provider installed/);
        const warn = lines.map((l) => JSON.parse(l)).find((l) => l.level === 40 && String(l.msg).startsWith('gpu-cuda artifact on CPU'));
        expect(warn).toMatchObject({ model: 'rt-gpu', version: '1' });
        const metrics = (await http(`${server.url}/metrics`)).body.toString();
        expect(metrics).toContain('kiln_agent_model_runtime{model="rt-gpu",version="1",target="gpu-cuda",backend="ort-node",provider="cpu",fallback="cpu"} 1');
        const install = agent.outbox.peek(10, OUTBOX_KINDS.install).map((r) => r.payload as { result: string; runtime?: { fallback?: string } });
        expect(install).toHaveLength(1);
        expect(install[0].result).toBe('promoted');
        expect(install[0].runtime?.fallback).toMatch(/^gpu-cuda artifact on CPU/);
        const out = await agent.infer('rt-gpu', input);
        expect(Object.keys(out.outputs)).toHaveLength(1);
      } finally {
        await server.close();
        await agent.close();
      }
    },
  );

  it('a wasm artifact where onnxruntime-web is not installed (stand-in ort-web that cannot load) is refused naming the package', async () => {
    const registry = createBackendRegistry();
    registry.register(createOrtNodeBackend());
    registry.register({
      name: 'ort-web',
      describe: () => 'onnxruntime-web (not installed: stand-in)',
      available: async () => ({ ok: false, reason: "onnxruntime-web cannot load here: Cannot find package 'onnxruntime-web'" }),
      load: async () => {
        throw new Error('not installed');
      },
    });
    const refused = agentFor('wasm-missing', [wasm.dir], { registry });
    await expect(refused.start()).rejects.toThrow(/a wasm artifact runs on ort-web \[wasm\], which cannot run here: onnxruntime-web cannot load here/);
    await refused.close();
    // Allowed to fall back, the same artifact runs on onnxruntime-node and says so.
    const fallback = agentFor('wasm-fallback', [wasm.dir], { registry, allowCpuFallback: true });
    await fallback.start();
    try {
      expect(fallback.runtimeOf(fallback.lookup('rt-wasm').record)?.fallback).toMatch(/^wasm artifact on CPU \(onnxruntime-node\)/);
    } finally {
      await fallback.close();
    }
  });
});
