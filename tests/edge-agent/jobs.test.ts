/**
 * Async inference jobs over real HTTP: NDJSON and single-request payloads streamed to disk, run in
 * the background, results fetched later and equal to /infer; jobs survive a restart (queued and
 * interrupted ones run after it); error cases.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { encodeBinaryRequest } from '../../src/edge-agent/http/oip.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir, type TestArtifact } from './helpers.js';

let root: string;
let art: TestArtifact;
const running: { agent: Agent; server: AgentServer }[] = [];

beforeAll(async () => {
  root = tempDir();
  art = await makeArtifact(root, 'cnn', '1');
});
afterAll(async () => {
  for (const r of running) {
    await r.server.close();
    await r.agent.close();
  }
});

async function start(dataDir: string, options: { runJobs?: boolean; maxJobBytes?: number } = {}) {
  const agent = new Agent({ dataDir, models: [art.dir], kilnHome, ...options });
  await agent.start();
  const server = await serveAgent(agent, { port: 0 });
  const r = { agent, server };
  running.push(r);
  return r;
}
async function stop(r: { agent: Agent; server: AgentServer }) {
  running.splice(running.indexOf(r), 1);
  await r.server.close();
  await r.agent.close();
}

const request = (seed: number, id?: string) =>
  JSON.stringify({ ...(id ? { id } : {}), inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(randomInput(3072, seed)) }] });

async function waitDone(url: string, id: string) {
  for (let i = 0; i < 600; i++) {
    const s = (await http(`${url}/v2/jobs/${id}`)).json();
    if (s.status === 'succeeded' || s.status === 'failed') return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${id} did not finish`);
}

describe('async jobs', () => {
  it('NDJSON: one answer line per request line, equal to /infer; a bad line gets an error line', async () => {
    const { server } = await start(join(root, 'a'));
    const lines = [request(1, 'r1'), request(2, 'r2'), '{"inputs": [{"name": "nope"}]}', request(3, 'r3')];
    const sub = await http(`${server.url}/v2/models/cnn/jobs`, { body: `${lines.join('\n')}\n`, headers: { 'Content-Type': 'application/x-ndjson' } });
    expect(sub.status).toBe(202);
    const job = sub.json();
    expect(sub.headers.location).toBe(`/v2/jobs/${job.id}`);
    expect(job).toMatchObject({ model: 'cnn', status: 'queued', format: 'ndjson' });
    const done = await waitDone(server.url, job.id);
    expect(done).toMatchObject({ status: 'succeeded', items: 4, itemErrors: 1, version: '1' });
    const result = await http(`${server.url}/v2/jobs/${job.id}/result`);
    expect(result.headers['content-type']).toBe('application/x-ndjson');
    const answers = result.body
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(answers).toHaveLength(4);
    expect(answers[2].error).toMatch(/line 3: model 'cnn' has no input 'nope'/);
    const direct = (await http(`${server.url}/v2/models/cnn/infer`, { body: request(2) })).json();
    expect(answers[1].id).toBe('r2');
    expect(answers[1].outputs[0].data).toEqual(direct.outputs[0].data);
  });

  it('a payload larger than the request limit streams to disk and runs line by line', async () => {
    const r = running[0];
    const line = request(7);
    const count = Math.ceil((7 * 2 ** 20) / line.length);
    const payload = `${Array.from({ length: count }, () => line).join('\n')}\n`;
    expect(payload.length).toBeGreaterThan(6 * 2 ** 20);
    expect((await http(`${r.server.url}/v2/models/cnn/infer`, { body: payload })).status).toBe(413);
    const sub = await http(`${r.server.url}/v2/models/cnn/jobs`, { body: payload, headers: { 'Content-Type': 'application/x-ndjson' } });
    expect(sub.status).toBe(202);
    expect(sub.json().inputBytes).toBe(payload.length);
    expect(await waitDone(r.server.url, sub.json().id)).toMatchObject({ status: 'succeeded', items: count, itemErrors: 0 });
    const answers = (await http(`${r.server.url}/v2/jobs/${sub.json().id}/result`)).body.toString().trim().split('\n');
    expect(answers).toHaveLength(count);
    expect(new Set(answers).size).toBe(1);
  });

  it('a single binary request as a job', async () => {
    const r = running[0];
    const { body, headerLength } = encodeBinaryRequest({ input: { type: 'float32', dims: [1, 3, 32, 32], data: randomInput(3072, 5) } });
    const sub = await http(`${r.server.url}/v2/models/cnn/versions/1/jobs`, { body, headers: { 'Inference-Header-Content-Length': headerLength } });
    expect(sub.status).toBe(202);
    expect(await waitDone(r.server.url, sub.json().id)).toMatchObject({ status: 'succeeded', format: 'binary', items: 1 });
    const doc = (await http(`${r.server.url}/v2/jobs/${sub.json().id}/result`)).json();
    expect(doc.outputs[0].shape).toEqual([1, 10]);
    expect((await http(`${r.server.url}/v2/jobs`)).json().jobs.length).toBe(3);
  });

  it('jobs survive a restart: queued ones run after it, an interrupted one runs again', async () => {
    const dataDir = join(root, 'b');
    const first = await start(dataDir, { runJobs: false });
    const ids: string[] = [];
    for (const seed of [1, 2]) ids.push((await http(`${first.server.url}/v2/models/cnn/jobs`, { body: request(seed) })).json().id);
    expect((await http(`${first.server.url}/v2/jobs/${ids[0]}`)).json().status).toBe('queued');
    // As if the agent had died in the middle of the second job.
    first.agent.db.startJob(ids[1], '1');
    await stop(first);

    const second = await start(dataDir);
    for (const id of ids) expect(await waitDone(second.server.url, id)).toMatchObject({ status: 'succeeded', items: 1 });
    expect((await http(`${second.server.url}/v2/jobs/${ids[1]}/result`)).json().outputs[0].shape).toEqual([1, 10]);
  });

  it('kill -9 while a job runs: after a restart the job runs again from the start and succeeds', async () => {
    const dataDir = join(root, 'killed');
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'agent-child.ts'), dataDir, kilnHome, art.dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise<string>((resolveUrl, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d;
        const m = /url:(\S+)\n/.exec(out);
        if (m) resolveUrl(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    // Enough lines that the job is surely still running when the process dies.
    const line = request(11);
    const count = 4000;
    const sub = await http(`${url}/v2/models/cnn/jobs`, {
      body: `${Array.from({ length: count }, () => line).join('\n')}\n`,
      headers: { 'Content-Type': 'application/x-ndjson' },
    });
    const id = sub.json().id as string;
    for (let i = 0; i < 200 && (await http(`${url}/v2/jobs/${id}`)).json().status !== 'running'; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await http(`${url}/v2/jobs/${id}`)).json().status).toBe('running');
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;

    const { server } = await start(dataDir);
    const done = await waitDone(server.url, id);
    expect(done).toMatchObject({ status: 'succeeded', items: count, itemErrors: 0 });
    const answers = (await http(`${server.url}/v2/jobs/${id}/result`)).body.toString().trim().split('\n');
    expect(answers).toHaveLength(count);
  });

  it('BAD CALL: unknown model or job, result not ready, payload over the limit, delete', async () => {
    const r = await start(join(root, 'c'), { runJobs: false, maxJobBytes: 1000 });
    expect((await http(`${r.server.url}/v2/models/nope/jobs`, { body: request(1) })).status).toBe(404);
    const missing = await http(`${r.server.url}/v2/jobs/does-not-exist`);
    expect(missing.status).toBe(404);
    expect(missing.json().error).toMatch(/no job 'does-not-exist'/);
    const big = await http(`${r.server.url}/v2/models/cnn/jobs`, { body: request(1) });
    expect(big.status).toBe(413);
    expect(big.json().error).toMatch(/larger than the limit of 1000 bytes \(maxJobBytes\)/);
    const small = await http(`${r.server.url}/v2/models/cnn/jobs`, { body: '{"inputs": []}' });
    const id = small.json().id;
    const early = await http(`${r.server.url}/v2/jobs/${id}/result`);
    expect(early.status).toBe(409);
    expect(early.json().error).toMatch(/is queued; poll/);
    expect((await http(`${r.server.url}/v2/jobs/${id}`, { method: 'DELETE' })).json()).toEqual({ deleted: id });
    expect((await http(`${r.server.url}/v2/jobs/${id}`)).status).toBe(404);
  });
});
