import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildCnn } from '../../src/onnx/builder.js';
import { serializeModel } from '../../src/onnx/model.js';
import { startModelServer } from '../../src/runtime/model-server.js';
import { hostNode, type ChildLauncher } from '../../src/runtime/launcher.js';
import { emulatedArm64Runner } from '../../src/compiler/verify.js';
import { KilnError } from '../../src/errors.js';

/** This process's child processes, as `pid args` lines. */
const children = (): string[] => {
  try {
    return execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/\bps -o\b/.test(l));
  } catch {
    return []; // ps exits 1 when there are none
  }
};
const alive = (pid: number | undefined): boolean => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const script = (code: string): ChildLauncher => ({ command: process.execPath, args: ['-e', code] });
const tiny = () => serializeModel(buildCnn({ inputShape: [1, 3, 8, 8] }));
const feeds = () => ({ input: { type: 'float32' as const, dims: [1, 3, 8, 8], data: new Float32Array(192).fill(0.5) } });

describe('model server (a long-lived child process)', () => {
  it('loads a model once and streams samples in and outputs back, then leaves no process', async () => {
    const server = await startModelServer(hostNode(), { name: 'host node' });
    const pid = server.pid;
    expect(alive(pid)).toBe(true);
    expect(children()).toEqual([expect.stringMatching(new RegExp(`^${pid} .*serve-models\\.cjs$`))]);
    expect(server.info).toMatchObject({ arch: process.arch, node: process.version });
    const model = await server.load(tiny(), { threads: 1 });
    const a = await model.run(feeds());
    const b = await model.run(feeds());
    expect(a.output.dims).toEqual([1, 10]);
    expect(a.output.data).toBeInstanceOf(Float32Array);
    expect(Array.from(b.output.data as Float32Array)).toEqual(Array.from(a.output.data as Float32Array));
    await model.release();
    await server.close();
    await server.close(); // twice is fine
    expect(alive(pid)).toBe(false);
    expect(children()).toEqual([]);
  });

  it('BAD CALL - a model the runtime refuses: RUNTIME_LOAD, and the server keeps serving', async () => {
    const server = await startModelServer(hostNode(), { name: 'host node' });
    try {
      const err = await server.load(new Uint8Array([1, 2, 3])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KilnError);
      expect((err as KilnError).code).toBe('RUNTIME_LOAD');
      expect((err as KilnError).message).toMatch(/^host node: loading model 1 failed: /);
      const model = await server.load(tiny());
      expect((await model.run(feeds())).output.dims).toEqual([1, 10]);
    } finally {
      await server.close();
    }
  });

  it('a launcher that dies with SIGILL: RUNTIME_CRASH naming the runtime, the signal and what to do; no process left', async () => {
    const err = await startModelServer(script("process.kill(process.pid, 'SIGILL')"), {
      name: 'the arm64 runtime under qemu-aarch64-static',
      hint: 'pass --verify-on host',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('RUNTIME_CRASH');
    expect((err as KilnError).message).toMatch(
      /^the arm64 runtime under qemu-aarch64-static: the process died with SIGILL \(illegal instruction: .*QEMU_CPU.*\) during start — pass --verify-on host$/,
    );
    expect(children()).toEqual([]);
  });

  it('a launcher that never answers is killed after the time limit', async () => {
    const err = await startModelServer(script('setInterval(() => {}, 1000)'), { name: 'a silent runtime', startTimeoutMs: 300 }).catch((e: unknown) => e);
    expect((err as KilnError).code).toBe('RUNTIME_CRASH');
    expect((err as KilnError).message).toMatch(/no answer to start within 300 ms; the process was killed/);
    expect(children()).toEqual([]);
  });

  it('a child killed mid-use (as the OOM killer would): the next sample fails clearly, and later ones too', async () => {
    const server = await startModelServer(hostNode(), { name: 'host node' });
    const model = await server.load(tiny());
    process.kill(server.pid!, 'SIGKILL');
    const err = await model.run(feeds()).catch((e: unknown) => e);
    expect((err as KilnError).code).toBe('RUNTIME_CRASH');
    expect((err as KilnError).message).toMatch(/host node: the process died with SIGKILL \(killed: out of memory, or by kiln after a timeout\)/);
    await expect(model.run(feeds())).rejects.toThrow(/died with SIGKILL/);
    expect(server.pid).toBeUndefined();
    await server.close();
    expect(children()).toEqual([]);
  });

  it('the emulated runner with a broken launcher: the error names the emulator and the way out', async () => {
    const runner = emulatedArm64Runner({
      ok: true,
      qemu: '/usr/bin/qemu-aarch64-static',
      sysroot: '/nowhere',
      node: '/nowhere/usr/bin/node',
      cpu: 'cortex-a76',
      launcher: script("process.kill(process.pid, 'SIGILL')"),
    });
    expect(runner).toMatchObject({
      native: false,
      emulated: true,
      label: expect.stringMatching(/^onnxruntime-node \S+ \(cpu, arm64 under qemu cortex-a76\)$/),
    });
    const err = await runner.load(tiny()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).message).toMatch(
      /^onnxruntime-node's arm64 runtime under \/usr\/bin\/qemu-aarch64-static \(cortex-a76, sysroot \/nowhere\): the process died with SIGILL/,
    );
    expect((err as KilnError).message).toMatch(/scripts\/setup-arm64-emulation\.sh, or pass --verify-on host/);
    await runner.close!();
    expect(children()).toEqual([]);
  });
});
