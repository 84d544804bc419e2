/**
 * Bearer token auth: every endpoint but the health checks needs the token once one is set, and a
 * non-loopback address cannot be served without one.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { KilnError } from '../../src/errors.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir } from './helpers.js';

let agent: Agent;
let server: AgentServer;
const TOKEN = 'correct-horse-battery';

beforeAll(async () => {
  const root = tempDir();
  const art = await makeArtifact(root, 'cnn', '1');
  agent = new Agent({ dataDir: join(root, 'data'), models: [art.dir], kilnHome });
  await agent.start();
  server = await serveAgent(agent, { port: 0, token: TOKEN });
});
afterAll(async () => {
  await server?.close();
  await agent?.close();
});

describe('token auth', () => {
  const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(randomInput(3072)) }] });

  it('health checks are open; everything else needs the bearer token', async () => {
    expect((await http(`${server.url}/v2/health/live`)).status).toBe(200);
    expect((await http(`${server.url}/v2/health/ready`)).status).toBe(200);
    for (const path of ['/v2', '/v2/models/cnn', '/metrics', '/v2/jobs']) {
      const res = await http(`${server.url}${path}`);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
    const none = await http(`${server.url}/v2/models/cnn/infer`, { body });
    expect(none.status).toBe(401);
    expect(none.json().error).toMatch(/missing or wrong bearer token/);
    expect((await http(`${server.url}/v2/models/cnn/infer`, { body, headers: { Authorization: 'Bearer wrong-token-xx' } })).status).toBe(401);
    expect((await http(`${server.url}/v2/models/cnn/infer`, { body, headers: { Authorization: TOKEN } })).status).toBe(401);
    const ok = await http(`${server.url}/v2/models/cnn/infer`, { body, headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect((await http(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('BAD CALL: a non-loopback address without a token is refused before anything listens', async () => {
    const err = await serveAgent(agent, { host: '0.0.0.0', port: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('AGENT_CONFIG');
    expect((err as Error).message).toMatch(/refusing to listen on 0\.0\.0\.0 without a token/);
  });
});
