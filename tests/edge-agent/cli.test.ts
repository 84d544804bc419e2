/**
 * `kiln agent start|infer|status` as a user runs them: start is a real process (bin/kiln.js) on an
 * ephemeral port, stopped by SIGTERM; infer and status through runMain with captured io.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { encodeNpy } from '../../src/numerics/npy.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir, type TestArtifact } from './helpers.js';

const BIN = resolve(import.meta.dirname, '../../bin/kiln.js');
let root: string;
let art: TestArtifact;
const input = randomInput(3072, 3);
let expected: Float32Array;

beforeAll(async () => {
  root = tempDir();
  art = await makeArtifact(root, 'cnn', '1');
  const s = await createOrtNodeSession(readFileSync(join(art.dir, 'model.onnx')));
  expected = (await s.run({ input: new ort.Tensor('float32', input, [1, 3, 32, 32]) })).output.data as Float32Array;
  await s.release();
});

const run = async (argv: string[]) => {
  const io = captureIo({ cwd: root, env: { KILN_HOME: kilnHome } });
  const code = await runMain(argv, io);
  return { code, out: io.out, err: io.err };
};

describe('kiln agent start', () => {
  it('serves the model under its manifest name until SIGTERM', async () => {
    const dataDir = join(root, 'start-data');
    const child = spawn(process.execPath, [BIN, 'agent', 'start', '--model', art.tgz, '--port', '0', '--data-dir', dataDir, '--json'], {
      env: { ...process.env, KILN_HOME: kilnHome },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    const line = await new Promise<string>((resolveLine, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d;
        if (out.includes('\n')) resolveLine(out.split('\n')[0]);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const ready = JSON.parse(line) as { url: string; models: { name: string; version: string }[]; readyMs: number };
    expect(ready.models).toEqual([{ name: 'cnn', version: '1', runtime: 'ort-node cpu' }]);
    expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await http(`${ready.url}/v2/health/ready`)).status).toBe(200);
    const res = await http(`${ready.url}/v2/models/cnn/infer`, {
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(input) }] }),
    });
    expect(Float32Array.from(res.json().outputs[0].data)).toEqual(expected);
    // One agent per data dir; status sees the running one.
    const second = await run(['agent', 'start', '--data-dir', dataDir, '--port', '0']);
    expect(second.code).toBe(1);
    expect(second.err).toMatch(new RegExp(`in use by another agent \\(pid ${child.pid}\\)`));
    expect(JSON.parse((await run(['agent', 'status', '--data-dir', dataDir, '--json'])).out)).toMatchObject({ running: true, pid: child.pid });
    const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    // Logs are JSON lines.
    const logs = err
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string });
    expect(logs.map((l) => l.msg)).toContain('agent ready');
    expect(logs.map((l) => l.msg)).toContain('agent stopped');
  });

  it('BAD CALL: a non-loopback host without a token, an unknown KILN_AGENT_ variable → exit 2, nothing started', async () => {
    const r = await run(['agent', 'start', '--model', art.dir, '--host', '0.0.0.0', '--data-dir', join(root, 'x')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/binding 0\.0\.0\.0 \(not loopback\) needs a token/);
    const io = captureIo({ cwd: root, env: { KILN_HOME: kilnHome, KILN_AGENT_PROT: '1' } });
    expect(await runMain(['agent', 'start', '--data-dir', join(root, 'x')], io)).toBe(2);
    expect(io.err).toMatch(/KILN_AGENT_PROT: unknown variable/);
  });
});

describe('kiln agent infer and status', () => {
  it('runs one inference from .npy and .json inputs; equals onnxruntime', async () => {
    const dataDir = join(root, 'infer-data');
    writeFileSync(join(root, 'in.npy'), encodeNpy({ dtype: 'float32', shape: [1, 3, 32, 32], data: input }));
    const first = await run(['agent', 'infer', '--model', art.dir, '--input', 'in.npy', '--data-dir', dataDir]);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const doc = JSON.parse(first.out);
    expect(doc).toMatchObject({ model_name: 'cnn', model_version: '1', outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 10] }] });
    expect(Float32Array.from(doc.outputs[0].data)).toEqual(expected);
    // By name now that it is installed; a flat JSON list takes the model's static shape.
    writeFileSync(join(root, 'in.json'), JSON.stringify({ input: Array.from(input) }));
    const second = await run(['agent', 'infer', '--model', 'cnn', '--input', 'in.json', '--data-dir', dataDir]);
    expect(Float32Array.from(JSON.parse(second.out).outputs[0].data)).toEqual(expected);

    const status = await run(['agent', 'status', '--data-dir', dataDir, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.out)).toMatchObject({
      running: false,
      models: [{ name: 'cnn', current: '1', kept: [] }],
      outbox: { rows: { 'install.result': 1 } },
    });
    const text = await run(['agent', 'status', '--data-dir', dataDir]);
    expect(text.out).toMatch(/cnn\s+1/);
  });

  it('BAD CALL: unknown model, wrong input shape, unsupported input file, no data dir → exit 2 with the reason', async () => {
    const dataDir = join(root, 'infer-data');
    writeFileSync(join(root, 'small.json'), JSON.stringify([[1, 2, 3]]));
    writeFileSync(join(root, 'in.txt'), '1 2 3');
    const unknown = await run(['agent', 'infer', '--model', 'nope', '--input', 'small.json', '--data-dir', dataDir]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown model 'nope'; this agent serves 'cnn'/);
    const shape = await run(['agent', 'infer', '--model', 'cnn', '--input', 'small.json', '--data-dir', dataDir]);
    expect(shape.code).toBe(2);
    expect(shape.err).toMatch(/input 'input' has 2 dimensions \[1, 3\], the model expects 4/);
    const txt = await run(['agent', 'infer', '--model', 'cnn', '--input', 'in.txt', '--data-dir', dataDir]);
    expect(txt.err).toMatch(/unsupported input file type '\.txt'/);
    const none = await run(['agent', 'status', '--data-dir', join(root, 'nothing-here')]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/not an agent data dir/);
  });
});
