/**
 * Deployments through the cloud HTTP API on a real port: real fastify, gateway, registry and
 * DeploymentManager, and real agents (deploy-helpers). A canary created with POST reaches promoted;
 * pause/resume by POST; 401 without the token, 400 on a bad body, 409 for a version with no artifact;
 * and `kiln deploy` + `kiln deployments show` (runMain) against the same API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentManager } from '../../src/cloud/deployments/index.js';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { callApi, fleetWithApi, kilnAgainst, type CallOptions, type FleetWithApi } from './api-helpers.js';
import { waitUntil, type Fleet } from './deploy-helpers.js';

const TOKEN = 'deploy-api-token-0123456789';
let fleet: Fleet;
let mgr: DeploymentManager;
let base: string;

/** A request with the operator token (options.token: null sends none). */
const call = (method: string, path: string, options: CallOptions = {}) => callApi(base, method, path, { token: TOKEN, ...options });
const kiln = (...argv: string[]) => kilnAgainst({ base, token: TOKEN, cwd: fleet.root }, argv);

let setup: FleetWithApi | undefined;
beforeAll(async () => {
  setup = await fleetWithApi({ name: 'dapi', versions: ['1.0.0', '2.0.0', '3.0.0'], devices: 2, token: TOKEN });
  ({ fleet, mgr, base } = setup);
}, 240_000);
afterAll(() => setup?.close());

const phase = async (id: string) => (await call('GET', `/api/deployments/${id}`)).body?.deployment?.state.status.phase;

describe('deployments over the HTTP API', () => {
  it('refuses without the token (401), a bad body (400) and a version with no artifact (409)', async () => {
    expect((await call('GET', '/api/deployments', { token: null })).status).toBe(401);
    const noAuth = await call('POST', '/api/deployments', {
      token: null,
      body: { model: 'cnn', version: '2.0.0', group: 'fleet', strategy: { kind: 'canary' } },
    });
    expect(noAuth.status).toBe(401);
    const bad = await call('POST', '/api/deployments', { body: { model: 'cnn', version: '2.0.0', group: 'fleet', strategy: { kind: 'sideways' } } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'bad-request', message: expect.stringMatching(/strategy/) });
    const noGroup = await call('POST', '/api/deployments', { body: { model: 'cnn', version: '2.0.0', strategy: { kind: 'canary' } } });
    expect(noGroup.status).toBe(400);
    expect(noGroup.body.message).toMatch(/group/);
    const badBake = await call('POST', '/api/deployments', {
      body: { model: 'cnn', version: '2.0.0', group: 'fleet', strategy: { kind: 'canary', bake: 'soon' } },
    });
    expect(badBake.status).toBe(400);
    expect(badBake.body.message).toMatch(/not a duration/);
    const missing = await call('POST', '/api/deployments', {
      body: { model: 'cnn', version: '9.9.9', group: 'fleet', fromVersion: '1.0.0', strategy: { kind: 'all-at-once' } },
    });
    expect(missing.status).toBe(409);
    expect(missing.body).toMatchObject({ error: 'no-artifact', message: expect.stringMatching(/no artifact[\s\S]*x86_64/) });
    expect((await call('GET', '/api/deployments/nope')).status).toBe(404);
    expect((await call('GET', '/api/deployments')).body.deployments).toEqual([]);
  });

  it('a canary created with POST reaches promoted; pause and resume by POST', async () => {
    const created = await call('POST', '/api/deployments', {
      body: { id: 'api-v2', model: 'cnn', version: '2.0.0', group: 'fleet', fromVersion: '1.0.0', strategy: { kind: 'canary', steps: [50, 100], bake: '2s' } },
    });
    expect(created.status).toBe(201);
    expect(created.body.deployment).toMatchObject({ id: 'api-v2', summary: { phase: 'rolling', devices: 2, fromVersion: '1.0.0', toVersion: '2.0.0' } });
    const paused = await call('POST', '/api/deployments/api-v2/pause', { body: { reason: 'look first' } });
    expect(paused.status).toBe(200);
    expect(paused.body.deployment.state.status).toMatchObject({ phase: 'paused', reason: 'look first' });
    // Paused: it stays paused.
    await new Promise((r) => setTimeout(r, 300));
    expect(await phase('api-v2')).toBe('paused');
    const conflict = await call('POST', '/api/deployments', {
      body: { model: 'cnn', version: '3.0.0', group: 'fleet', fromVersion: '1.0.0', strategy: { kind: 'all-at-once' } },
    });
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toMatch(/active deployment 'api-v2'/);
    const resumed = await call('POST', '/api/deployments/api-v2/resume', { body: {} });
    expect(resumed.status).toBe(200);
    expect(resumed.body.deployment.state.status.phase).not.toBe('paused');
    await waitUntil(async () => (await phase('api-v2')) === 'promoted', 90_000, 'api-v2 promoted');
    const list = await call('GET', '/api/deployments');
    expect(list.body.deployments).toEqual([expect.objectContaining({ id: 'api-v2', phase: 'promoted', tookNew: 2 })]);
    const events = (await call('GET', '/api/deployments/api-v2')).body.deployment.events.map((e: any) => e.event);
    expect(events).toEqual(expect.arrayContaining(['created', 'paused', 'resumed', 'promoted']));
    for (const a of fleet.agents) await waitUntil(() => fleet.gw.device(a.id)?.reported?.models.cnn?.serving === '2.0.0', 30_000, `${a.id} serving 2.0.0`);
    expect((await call('POST', '/api/deployments/nope/pause', { body: {} })).status).toBe(404);
  }, 120_000);

  it('kiln deploy and kiln deployments show|list over the API', async () => {
    const r = await kiln(
      'deploy',
      '--model',
      'cnn',
      '--version',
      '3.0.0',
      '--group',
      'fleet',
      '--from',
      '2.0.0',
      '--id',
      'cli-v3',
      '--strategy',
      'canary',
      '--steps',
      '50,100',
      '--bake',
      '500ms',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/deployment cli-v3: cnn 2\.0\.0 → 3\.0\.0, canary 50 → 100%, bake 500ms/);
    await waitUntil(async () => (await phase('cli-v3')) === 'promoted', 90_000, 'cli-v3 promoted');
    const show = await kiln('deployments', 'show', 'cli-v3');
    expect(show.code).toBe(0);
    expect(show.out).toMatch(/phase:\s+promoted at/);
    expect(show.out).toMatch(/STEP\s+PERCENT\s+DEVICES\s+STATE/);
    expect(show.out).toMatch(/1\s+50%\s+1\s+passed/);
    for (const a of fleet.agents) expect(show.out).toMatch(new RegExp(`${a.id}\\s+3\\.0\\.0\\s+rollout`));
    expect(show.out).toMatch(/step-passed/);
    const list = await kiln('deployments', 'list');
    expect(list.out).toMatch(/cli-v3\s+cnn\s+2\.0\.0\s+3\.0\.0\s+canary\s+promoted\s+2\/2/);
    const refused = await kiln('deploy', '--model', 'cnn', '--version', '9.9.9', '--group', 'fleet', '--from', '3.0.0', '--strategy', 'all-at-once');
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/409 no-artifact/);
    const noToken = await runMain(['deployments', 'list', '--cloud-url', base, '--token', 'wrong-token-0123456789'], captureIo({ cwd: fleet.root }));
    expect(noToken).not.toBe(0);
  }, 120_000);

  it('kiln deploy --strategy ab --percent with --alarm flags: weights on every device, the alarms in the spec, then rolled back', async () => {
    const bad = await kiln('deploy', '--model', 'cnn', '--version', '2.0.0', '--group', 'fleet', '--from', '3.0.0', '--strategy', 'ab', '--percent', '150');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/percent/);
    const r = await kiln(
      'deploy',
      '--model',
      'cnn',
      '--version',
      '2.0.0',
      '--group',
      'fleet',
      '--from',
      '3.0.0',
      '--id',
      'cli-ab',
      '--strategy',
      'ab',
      '--percent',
      '20',
      '--alarm',
      'error-rate=0.5',
      '--alarm-min-requests',
      '1000000',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const d = (await call('GET', '/api/deployments/cli-ab')).body.deployment;
    expect(d.spec.strategy).toEqual({ kind: 'ab', percent: 20 });
    expect(d.spec.guardrails.alarms).toEqual([{ metric: 'error-rate', threshold: 0.5, minRequests: 1000000 }]);
    for (const a of fleet.agents) await waitUntil(() => fleet.gw.device(a.id)?.desired?.models.cnn?.weights?.['2.0.0'] === 20, 30_000, `${a.id} weights`);
    expect(fleet.gw.device(fleet.agents[0].id)?.desired?.models.cnn?.weights).toEqual({ '3.0.0': 80, '2.0.0': 20 });
    const back = await kiln('deployments', 'rollback', 'cli-ab');
    expect(back.code).toBe(0);
    await waitUntil(async () => (await phase('cli-ab')) === 'rolled-back', 60_000, 'cli-ab rolled back');
    for (const a of fleet.agents)
      await waitUntil(
        () => fleet.gw.device(a.id)?.desired?.models.cnn?.version === '3.0.0' && !fleet.gw.device(a.id)?.desired?.models.cnn?.weights,
        30_000,
        `${a.id} back on 3.0.0 alone`,
      );
  }, 120_000);
});
