/**
 * The model store's lifecycle through the agent: tampered, untrusted and probation-failing
 * artifacts are refused while the old version keeps serving over HTTP; re-installing the same
 * content is a no-op; only the previous N versions are kept; rollback; install results go to the outbox.
 */
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { OUTBOX_KINDS } from '../../src/edge-agent/outbox.js';
import { KilnError } from '../../src/errors.js';
import { writeArtifact, MANIFEST_FILE } from '../../src/protocol/artifact.js';
import { kilnConfigDir } from '../../src/config-dir.js';
import { defaultSigningKey } from '../../src/protocol/signing.js';
import type { ArtifactManifest } from '../../src/protocol/manifest.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir, type TestArtifact } from './helpers.js';

let root: string;
let agent: Agent;
let server: AgentServer;
let v1: TestArtifact;

const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(randomInput(3072)) }] });
const servingVersion = async () => {
  const res = await http(`${server.url}/v2/models/cnn/infer`, { body });
  expect(res.status).toBe(200);
  return res.json().model_version as string;
};

beforeAll(async () => {
  root = tempDir();
  v1 = await makeArtifact(root, 'cnn', '1', { seed: 1 });
  agent = new Agent({ dataDir: join(root, 'data'), models: [v1.tgz], kilnHome, keepVersions: 2 });
  await agent.start();
  server = await serveAgent(agent, { port: 0 });
});

afterAll(async () => {
  await server?.close();
  await agent?.close();
});

const refused = async (path: string, pattern: RegExp) => {
  const err = await agent.install(path).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(KilnError);
  expect((err as KilnError).code).toBe('AGENT_INSTALL');
  expect((err as KilnError).message).toMatch(pattern);
};

describe('install lifecycle', () => {
  it('BAD CALL: a tampered model byte is refused; the old version keeps serving', async () => {
    const v2 = await makeArtifact(root, 'cnn', '2', { seed: 2 });
    const model = readFileSync(join(v2.dir, 'model.onnx'));
    model[model.length - 5] ^= 0xff;
    writeFileSync(join(v2.dir, 'model.onnx'), model);
    await refused(v2.dir, /model\.onnx does not match its sha256/);
    expect(await servingVersion()).toBe('1');
  });

  it('BAD CALL: a changed manifest, an untrusted signer, a truncated .tgz are refused', async () => {
    const v2 = await makeArtifact(root, 'cnn', '2b', { seed: 2 });
    const m = JSON.parse(readFileSync(join(v2.dir, MANIFEST_FILE), 'utf8'));
    m.model.version = '99';
    writeFileSync(join(v2.dir, MANIFEST_FILE), JSON.stringify(m));
    await refused(v2.dir, /signature does not match the manifest/);

    const stranger = defaultSigningKey(join(tempDir(), 'other'));
    const v3 = await makeArtifact(root, 'cnn', '3', { seed: 3 });
    const manifest = JSON.parse(readFileSync(join(v3.dir, MANIFEST_FILE), 'utf8')) as ArtifactManifest;
    const { files: _files, ...rest } = manifest;
    const foreign = writeArtifact(join(root, 'foreign'), rest, { 'model.onnx': readFileSync(join(v3.dir, 'model.onnx')) }, stranger);
    await refused(foreign.dir, /not among the trusted keys/);

    const tgz = readFileSync(v3.tgz);
    writeFileSync(join(root, 'truncated.tgz'), tgz.subarray(0, tgz.length >> 1));
    await refused(join(root, 'truncated.tgz'), /not a valid kiln archive/);
    await refused(join(root, 'does-not-exist'), /no such artifact/);
    expect(await servingVersion()).toBe('1');
  });

  it('BAD CALL: a signed artifact that fails its warm-up inference (probation) is not promoted', async () => {
    const v4 = await makeArtifact(root, 'cnn', '4', { seed: 4 });
    const manifest = JSON.parse(readFileSync(join(v4.dir, MANIFEST_FILE), 'utf8')) as ArtifactManifest;
    const { files: _files, ...rest } = manifest;
    // Validly signed, but the manifest promises an input the model does not have.
    const liar = writeArtifact(
      join(root, 'liar'),
      { ...rest, inputs: [{ name: 'pixels', dtype: 'float32', shape: [1, 3, 32, 32] }] },
      { 'model.onnx': readFileSync(join(v4.dir, 'model.onnx')) },
      defaultSigningKey(kilnConfigDir()),
    );
    await refused(liar.dir, /failed probation: the model has no input 'pixels'/);
    expect(await servingVersion()).toBe('1');
    const failed = agent.db.installs({ states: ['failed'] });
    expect(failed.map((r) => r.version)).toEqual(['4']);
    // Its files are gone; only v1's folder is on disk.
    expect(readdirSync(join(root, 'data', 'models', 'cnn'))).toHaveLength(1);
  });

  it('the same content again is a no-op; new versions promote; only 2 previous ones are kept; rollback', async () => {
    expect(await agent.install(v1.dir)).toMatchObject({ state: 'unchanged', version: '1' });
    for (const v of ['5', '6', '7', '8']) {
      const a = await makeArtifact(root, 'cnn', v, { seed: Number(v) });
      expect(await agent.install(a.tgz)).toMatchObject({ state: 'promoted', version: v });
      expect(await servingVersion()).toBe(v);
    }
    expect(agent.versions('cnn').map((r) => r.version)).toEqual(['8', '7', '6']);
    expect(readdirSync(join(root, 'data', 'models', 'cnn'))).toHaveLength(3);
    // An older kept version can be asked for by version, and rolled back to.
    const res = await http(`${server.url}/v2/models/cnn/versions/6/infer`, { body });
    expect(res.json().model_version).toBe('6');
    expect(agent.rollback('cnn').version).toBe('7');
    expect(await servingVersion()).toBe('7');
    expect(agent.db.current('cnn')!.version).toBe('7');
  });

  it('install results are in the outbox, with their own ids', () => {
    const rows = agent.outbox.peek(100, OUTBOX_KINDS.install);
    const results = rows.map((r) => (r.payload as { result: string }).result);
    expect(results.filter((r) => r === 'refused').length).toBe(5);
    expect(results.filter((r) => r === 'failed').length).toBe(1);
    expect(results.filter((r) => r === 'promoted').length).toBe(5);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    expect(rows[0].id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
