/**
 * The device install, for real: `npm pack`, then in an empty folder
 * `npm install --omit=dev --omit=optional ./kiln-*.tgz` (the README's device command), then:
 * node_modules ≤ 400 MB with none of the optional packages in it, `kiln --help` without an npm
 * warning, `kiln agent start --model ARTIFACT --threads 1` serving the same answers as the dev
 * tree, and a verb that needs an optional package failing in one line that names it (exit 2).
 *
 * It needs the npm registry (or npm's cache holding every package): where `npm ping` fails the test
 * is skipped, and its name says so. onnxruntime-node's install script would fetch its CUDA provider
 * from NuGet on linux/x64, so the install runs with ONNXRUNTIME_NODE_INSTALL=skip as the README says.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { OPTIONAL_PACKAGES } from '../../src/optional-packages.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir, type TestArtifact } from '../edge-agent/helpers.js';

const exec = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..');
const npmEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false' };

const registryReachable = await exec('npm', ['ping', '--fetch-timeout=8000', '--fetch-retries=0'], { env: npmEnv, timeout: 20_000 }).then(
  () => true,
  () => false,
);

/** Bytes under a folder (files and links, not following links). */
function folderBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    n += st.isDirectory() ? folderBytes(p) : st.size;
  }
  return n;
}

const root = tempDir('kiln-device-install-');
const app = join(root, 'app');
let art: TestArtifact;
let wasmArt: TestArtifact;

describe.skipIf(!registryReachable)(`device install from npm pack${registryReachable ? '' : ' (skipped: the npm registry is unreachable)'}`, () => {
  beforeAll(async () => {
    art = await makeArtifact(root, 'dev-cnn', '1', { seed: 5 });
    wasmArt = await makeArtifact(root, 'dev-wasm', '1', { seed: 5, target: 'wasm' });
    const { stdout } = await exec('npm', ['pack', '--pack-destination', root, '--silent'], { cwd: REPO, env: npmEnv });
    const tgz = join(root, stdout.trim().split('\n').pop()!);
    mkdirSync(app);
    await exec('npm', ['init', '-y'], { cwd: app, env: npmEnv });
    await exec('npm', ['install', '--omit=dev', '--omit=optional', '--no-audit', '--no-fund', tgz], { cwd: app, env: npmEnv, timeout: 540_000 });
  }, 600_000);

  const kiln = (args: string[]) =>
    exec(join(app, 'node_modules', '.bin', 'kiln'), args, { cwd: app, env: { ...process.env, KILN_HOME: kilnHome } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('node_modules ≤ 400 MB, none of the optional packages installed', () => {
    const nm = join(app, 'node_modules');
    const mb = folderBytes(nm) / 1e6;
    expect(mb).toBeGreaterThan(50); // onnxruntime-node is in it
    expect(mb).toBeLessThanOrEqual(400);
    for (const pkg of Object.keys(OPTIONAL_PACKAGES)) expect(existsSync(join(nm, pkg)), pkg).toBe(false);
    expect(statSync(join(nm, 'onnxruntime-node')).isDirectory()).toBe(true);
  });

  it('kiln --help prints its help and no npm warning', async () => {
    const r = await exec('npx', ['kiln', '--help'], { cwd: app, env: process.env });
    expect(r.stdout).toMatch(/^kiln — compile ONNX models/);
    expect(r.stderr).not.toMatch(/npm warn/i);
  });

  it('kiln agent start --model ARTIFACT --threads 1 serves it, with the threads in the ready line', async () => {
    const child = spawn(
      join(app, 'node_modules', '.bin', 'kiln'),
      ['agent', 'start', '--model', art.dir, '--threads', '1', '--port', '0', '--data-dir', join(root, 'data'), '--json'],
      {
        cwd: app,
        env: { ...process.env, KILN_HOME: kilnHome },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d;
          if (out.includes('\n')) resolve(out.split('\n')[0]);
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
      });
      const ready = JSON.parse(line) as { url: string; threads: number; interOpThreads: number | null; models: unknown[] };
      expect(ready).toMatchObject({ threads: 1, models: [{ name: 'dev-cnn', version: '1', runtime: 'ort-node cpu' }] });
      const input = randomInput(3 * 32 * 32, 11);
      const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(input) }] });
      const res = await http(`${ready.url}/v2/models/dev-cnn/infer`, { body });
      expect(res.status).toBe(200);
      const meta = (await http(`${ready.url}/v2/models/dev-cnn`)).json();
      expect(meta.runtime).toMatchObject({ backend: 'ort-node', provider: 'cpu', threads: 1, interOpThreads: 1 });
      // The same answer the dev tree's onnxruntime gives.
      const ort = await import('onnxruntime-node');
      const s = await ort.InferenceSession.create(join(art.dir, 'model.onnx'));
      const expected = (await s.run({ input: new ort.Tensor('float32', input, [1, 3, 32, 32]) })).output.data as Float32Array;
      await s.release();
      const got = Float32Array.from(res.json().outputs[0].data as number[]);
      expect(got.length).toBe(expected.length);
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - expected[i])).toBeLessThan(1e-5);
    } finally {
      const exit = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      await exit;
    }
  });

  it('BAD CALL: verbs that need a missing optional package fail in one line naming it, exit 2', async () => {
    const compile = await kiln(['compile', join(art.dir, 'model.onnx'), '-t', 'wasm', '-o', join(root, 'wasm-out')]);
    expect(compile.code).toBe(2);
    expect(compile.stderr).toMatch(/onnxruntime-web.*npm install onnxruntime-web/);
    // The zoo needs sharp (and its model packages): left out of a device install.
    const zoo = await kiln(['models', 'list']);
    expect(zoo.code).toBe(2);
    expect(zoo.stderr.trim().split('\n')).toHaveLength(1);
    expect(zoo.stderr).toMatch(/^kiln: this needs the optional package sharp \(.*\), which is not installed — npm install sharp$/m);
    // The agent asked to serve a wasm artifact says what to install.
    const agent = await kiln(['agent', 'infer', '--model', wasmArt.dir, '--input', join(root, 'missing.json'), '--data-dir', join(root, 'wasm-data')]);
    expect(agent.code).not.toBe(0);
    expect(agent.stderr).toMatch(/npm install onnxruntime-web/);
  });
});
