/**
 * Declarative deployments against a real cloud: fastify API on a real port, gateway, registry,
 * DeploymentManager and three real agents (deploy-helpers), plus a simulated device that publishes
 * its own reported state over MQTT. Through the CLI (runMain): `kiln plan` prints the change set
 * (and its problems with their lines, exit 1), `kiln apply` refuses without a terminal or --yes, and
 * when the fleet changed since the plan (fingerprint), creates the deployment, and changes nothing
 * when applied again; `kiln drift` finds a failed install and a version mismatch (exit 1);
 * `kiln devices list|show` over the API.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentManager, Plan } from '../../src/cloud/deployments/index.js';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { deviceTopics, encodeMessage } from '../../src/protocol/sync.js';
import { callApi, kilnAgainst, listenCloudApi, type CloudApp } from './api-helpers.js';
import { buildArtifact, startFleet, tempDir, waitUntil, type Fleet } from './deploy-helpers.js';

const TOKEN = 'plan-apply-token-0123456789';
let fleet: Fleet;
let mgr: DeploymentManager;
let app: CloudApp;
let base: string;
let ids: string[];

const kiln = (argv: string[], prompt?: (q: string) => Promise<string>) => kilnAgainst({ base, token: TOKEN, cwd: fleet.root }, argv, prompt);
const call = (method: string, path: string, body?: unknown) => callApi(base, method, path, { token: TOKEN, body });
const write = (name: string, text: string) => {
  writeFileSync(join(fleet.root, name), text);
  return name;
};
const phase = async (id: string) => (await call('GET', `/api/deployments/${id}`)).body?.deployment?.state.status.phase;

const DEPLOY = `# the fleet goes to 2.0.0
deployments:
  - model: cnn
    version: 2.0.0
    from: 1.0.0
    group: fleet
    strategy:
      kind: canary
      steps: [50, 100]
      bake: 300ms
    guardrails:
      abort: {failedPercent: 50, minDevices: 2}
`;

beforeAll(async () => {
  const root = tempDir('kiln-plan-apply-');
  const v1 = await buildArtifact(root, 'cnn', '1.0.0', 1);
  const v2 = await buildArtifact(root, 'cnn', '2.0.0', 2);
  fleet = await startFleet({ root, artifacts: [v1, v2], v1Tgz: v1.tgz, devices: 3, prefix: `plan-${process.pid}` });
  ids = fleet.ids();
  fleet.gw.addDevice('bench-spare', { id: `idle-${process.pid}`, group: 'idle' }); // never connects: no target, no models
  await waitUntil(
    () => ids.every((id) => fleet.gw.device(id)?.online && fleet.gw.device(id)?.reported?.models.cnn?.serving === '1.0.0'),
    60_000,
    'devices online, serving 1.0.0',
  );
  mgr = fleet.manager();
  ({ app, base } = await listenCloudApi({ gateway: fleet.gw, registry: fleet.reg, token: TOKEN, deployments: mgr }));
}, 240_000);
afterAll(async () => {
  await app?.close();
  await fleet?.close();
});

describe('kiln plan / apply', () => {
  it('plan prints the change set aligned: per device from → to and its canary step; --json has the fingerprint', async () => {
    const file = write('deploy.yaml', DEPLOY);
    const r = await kiln(['plan', file]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Plan for deploy\.yaml \(fingerprint [0-9a-f]{12}\)\n/);
    expect(r.out).toContain('+ create cnn-2.0.0-fleet: cnn 1.0.0 → 2.0.0 on group fleet, canary 50 → 100%, bake 300ms');
    expect(r.out).toContain('    guardrails: abort when 50% of ≥2 installs fail');
    expect(r.out).toContain('    steps: 1: 50% (2 devices), bake 300ms · 2: 100% (1 device), bake 300ms');
    expect(r.out).toMatch(/ {4}DEVICE\s+TARGET\s+STATE\s+REPORTED\s+SERVING\s+DESIRED\s+CHANGE\s+STEP \/ WHY\n/);
    const rows = r.out.split('\n').filter((l) => ids.some((id) => l.startsWith(`    ${id}`)));
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row).toMatch(/x86_64\s+online\s+current 1\.0\.0\s+1\.0\.0\s+-\s+1\.0\.0 → 2\.0\.0\s+step [12] of 2 \((50|100)%\)$/);
    // The columns line up: CHANGE starts at the same column in every row.
    expect(new Set(rows.map((l) => l.indexOf('1.0.0 → 2.0.0'))).size).toBe(1);
    expect(rows.filter((l) => l.endsWith('step 1 of 2 (50%)'))).toHaveLength(2);
    expect(r.out).toContain('Summary: 1 deployment to create (3 devices change), 0 unchanged; 0 devices stay as they are.');
    expect(r.out).toMatch(/To apply exactly this plan: kiln apply deploy\.yaml --fingerprint [0-9a-f]{12}\n$/);

    const j = await kiln(['--json', 'plan', file]);
    expect(j.code).toBe(0);
    const plan = JSON.parse(j.out) as Plan;
    expect(plan.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(r.out).toContain(plan.fingerprint.slice(0, 12));
    expect(plan.summary).toEqual({ create: 1, unchanged: 0, devicesChanging: 3, devicesUnchanged: 0 });
    expect(plan.deployments[0]).toMatchObject({
      id: 'cnn-2.0.0-fleet',
      action: 'create',
      from: '1.0.0',
      to: '2.0.0',
      spec: { fromVersion: '1.0.0', toVersion: '2.0.0', devices: expect.arrayContaining(ids) },
    });
    expect(plan.problems).toEqual([]);
    // Nothing was created by planning.
    expect((await call('GET', '/api/deployments')).body.deployments).toEqual([]);
  });

  it('BAD CALL: a plan the fleet cannot take lists every problem with its line (exit 1); a bad file exits 2', async () => {
    const file = write(
      'bad-fleet.yaml',
      `deployments:
  - model: cnn
    version: 9.9.9
    group: fleet
    strategy: all-at-once
  - model: cnn
    version: 2.0.0
    group: flet
    strategy: all-at-once
  - model: cnn
    version: 2.0.0
    group: idle
    strategy: all-at-once
  - model: cnn
    version: 2.0.0
    devices: [${ids[0]}, ${ids[0]}x]
    strategy: all-at-once
`,
    );
    const r = await kiln(['plan', file]);
    expect(r.err).toBe('');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/The plan cannot be applied \(6 problems\):/);
    expect(r.out).toMatch(
      /bad-fleet\.yaml:3: deployments\[0\]\.version: cnn 9\.9\.9 has no artifact for target 'x86_64' \(plan-\d+-0, plan-\d+-1, plan-\d+-2\); it has: none/,
    );
    expect(r.out).toMatch(/bad-fleet\.yaml:8: deployments\[1\]\.group: group 'flet' has no devices \(did you mean 'fleet'\?\); groups: fleet, idle/);
    expect(r.out).toMatch(/bad-fleet\.yaml:10: deployments\[2\]: the devices run no version of cnn \(\(none\): idle-\d+\)/);
    expect(r.out).toMatch(/bad-fleet\.yaml:10: deployments\[2\]: no known target for device\(s\) idle-\d+ \(they have not reported one\)/);
    expect(r.out).toContain(`bad-fleet.yaml:16: deployments[3].devices[1]: no device '${ids[0]}x' (did you mean '${ids[0]}'?)`);
    expect(r.out).toContain(
      `bad-fleet.yaml:14: deployments[3]: device(s) ${ids[0]} are also in deployments[0] (cnn-9.9.9-fleet), which deploys cnn too: one deployment per device and model`,
    );
    expect(r.out).not.toContain('To apply');

    const bad = await kiln([
      'plan',
      write(
        'bad.yaml',
        'deployments:\n  - model: cnn\n    version: 2.0.0\n    group: fleet\n    strategy:\n      kind: canary\n      steps: [50, 20]\n      bake: soon\n',
      ),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.out).toBe('');
    expect(bad.err).toMatch(/^kiln: bad\.yaml is invalid \(3 problems\):\n {2}bad\.yaml:7: deployments\[0\]\.strategy\.steps: must be strictly increasing/);
    expect(bad.err).toMatch(/bad\.yaml:8: deployments\[0\]\.strategy\.bake: 'soon' is not a duration/);
    const yaml = await kiln(['plan', write('tabs.yaml', 'deployments:\n\t- model: cnn\n')]);
    expect(yaml.code).toBe(2);
    expect(yaml.err).toMatch(/tabs\.yaml:2: not valid YAML: tabs are not allowed/);
    const none = await kiln(['plan', 'nope.yaml']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/nope\.yaml: no such file/);
    // The API checks the same file: 400 with every problem at its path.
    const api = await call('POST', '/api/plan', { deployments: [{ model: 'cnn', group: 'fleet', strategy: 'sideways' }] });
    expect(api.status).toBe(400);
    expect(api.body.problems).toEqual([
      { path: 'deployments[0].version', message: 'missing: a version' },
      { path: 'deployments[0].strategy', message: expect.stringMatching(/^'sideways' is unknown; valid: /) },
    ]);
  });

  it('apply asks first (no terminal: exit 2; "no": cancelled), refuses when the fleet changed since the plan, then creates the deployment', async () => {
    const file = 'deploy.yaml';
    const noTty = await kiln(['apply', file]);
    expect(noTty.code).toBe(2);
    expect(noTty.err).toMatch(/no terminal to confirm on: pass --yes/);
    const asked: string[] = [];
    const no = await kiln(['apply', file], async (q) => (asked.push(q), 'no'));
    expect(no.code).toBe(1);
    expect(asked[0]).toMatch(/Apply this plan \(1 deployment to create\)\? Type yes to apply: $/);
    expect(no.out).toMatch(/Cancelled: nothing was applied\.\n$/);

    const shown = (JSON.parse((await kiln(['--json', 'plan', file])).out) as Plan).fingerprint;
    // The fleet changes: a device gets a desired state (the version it serves already).
    const changed = await call('POST', `/api/devices/${ids[0]}/desired`, { models: { cnn: '1.0.0' } });
    expect(changed.status).toBe(200);
    const stale = await kiln(['apply', file, '--fingerprint', shown.slice(0, 12)]);
    expect(stale.code).toBe(1);
    expect(stale.err).toMatch(
      new RegExp(`the fleet changed since the plan ${shown.slice(0, 12)} was shown: the plan now is [0-9a-f]{12} \\(above\\); nothing was applied`),
    );
    // The cloud checks too, whatever the client does.
    const direct = await call('POST', '/api/apply', {
      file: {
        deployments: [
          {
            model: 'cnn',
            version: '2.0.0',
            from: '1.0.0',
            group: 'fleet',
            strategy: { kind: 'canary', steps: [50, 100], bake: '300ms' },
            guardrails: { abort: { failedPercent: 50, minDevices: 2 } },
          },
        ],
      },
      fingerprint: shown,
    });
    expect(direct.status).toBe(409);
    expect(direct.body).toMatchObject({
      error: 'plan-changed',
      message: expect.stringMatching(/the fleet changed since the plan was shown/),
      plan: { fingerprint: expect.not.stringMatching(shown) },
    });
    expect((await call('GET', '/api/deployments')).body.deployments).toEqual([]);

    const r = await kiln(['apply', file, '--yes']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\+ create cnn-2\.0\.0-fleet: cnn 1\.0\.0 → 2\.0\.0/);
    expect(r.out).toMatch(new RegExp(`    ${ids[0]}\\s+x86_64\\s+online\\s+current 1\\.0\\.0\\s+1\\.0\\.0\\s+1\\.0\\.0\\s+1\\.0\\.0 → 2\\.0\\.0`));
    expect(r.out).toMatch(/created deployment cnn-2\.0\.0-fleet: cnn 1\.0\.0 → 2\.0\.0 on 3 devices \((rolling|baking)\)/);
    expect(r.out).toMatch(/Follow it with: kiln deployments show cnn-2\.0\.0-fleet/);
    const list = (await call('GET', '/api/deployments')).body.deployments;
    expect(list).toEqual([expect.objectContaining({ id: 'cnn-2.0.0-fleet', fromVersion: '1.0.0', toVersion: '2.0.0', devices: 3 })]);
  }, 60_000);

  it('applying the same file again changes nothing and says so, while running and once promoted', async () => {
    const again = await kiln(['apply', 'deploy.yaml', '--yes']);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/= unchanged cnn-2\.0\.0-fleet: deployment cnn-2\.0\.0-fleet (is in progress \((rolling|baking)\)|is done)/);
    expect(again.out).toMatch(/Nothing to apply: every deployment in deploy\.yaml exists already or has nothing to change\./);
    await waitUntil(async () => (await phase('cnn-2.0.0-fleet')) === 'promoted', 90_000, 'promoted');
    for (const id of ids)
      await waitUntil(
        () => fleet.gw.device(id)?.reported?.models.cnn?.serving === '2.0.0' && fleet.gw.device(id)?.reported?.models.cnn?.status === 'current',
        30_000,
        `${id} on 2.0.0`,
      );
    const done = await kiln(['apply', 'deploy.yaml', '--yes']);
    expect(done.code).toBe(0);
    expect(done.out).toMatch(/= unchanged cnn-2\.0\.0-fleet: deployment cnn-2\.0\.0-fleet is done \(promoted at /);
    expect((await call('GET', '/api/deployments')).body.deployments).toHaveLength(1);
    // Another id for the same version: every device runs it already.
    const other = await kiln(['plan', write('same.yaml', DEPLOY.replace('from: 1.0.0', 'id: cnn-2-again'))]);
    expect(other.code).toBe(0);
    expect(other.out).toContain('= unchanged cnn-2-again: every device already runs cnn 2.0.0');
    expect(other.out).toMatch(/already on 2\.0\.0/);
    expect(other.out).toContain('Nothing to apply');
  }, 150_000);
});

describe('kiln drift and kiln devices', () => {
  it('no drift once converged (exit 0); a failed install and a version mismatch are drift (exit 1)', async () => {
    const clean = await kiln(['drift', '--group', 'fleet']);
    expect(clean.code).toBe(0);
    expect(clean.out).toBe('No drift: 3 managed devices report their desired state (3 devices in group fleet).\n');

    // A failed install on a real agent: the desired artifact's checksum is wrong.
    const bad = ids[1];
    const rec = fleet.gw.device(bad)!;
    const entry = rec.desired!.models.cnn;
    await fleet.gw.setDesiredState(bad, { cnn: { ...entry, version: '3.0.0', artifact: { ...entry.artifact, sha256: 'f'.repeat(64) } } });
    await waitUntil(() => fleet.gw.device(bad)?.reported?.models.cnn?.status === 'failed', 30_000, 'install failed');

    // A version mismatch: a simulated device reports 1.0.0 where 2.0.0 is desired.
    const sim = fleet.gw.addDevice('sim', { id: `sim-${process.pid}`, group: 'lab' });
    const client = await mqtt.connectAsync(fleet.gw.brokerUrl, { clientId: sim.id, username: sim.id, password: sim.secret, reconnectPeriod: 0 });
    try {
      const t = deviceTopics(sim.id);
      await client.publishAsync(t.presence, encodeMessage('presence', { v: 1, state: 'online', at: new Date().toISOString() }), { qos: 1, retain: true });
      const desired = await fleet.gw.setDesiredState(sim.id, { cnn: entry });
      await client.publishAsync(
        t.reported,
        encodeMessage('reported', {
          v: 1,
          desiredVersion: desired.version,
          models: { cnn: { status: 'current', version: '1.0.0', serving: '1.0.0' } },
          target: 'x86_64',
          at: new Date().toISOString(),
        }),
        { qos: 1 },
      );
      await waitUntil(
        () => fleet.gw.device(sim.id)?.online === true && fleet.gw.device(sim.id)?.reported?.models.cnn?.version === '1.0.0',
        10_000,
        'simulated report',
      );

      const r = await kiln(['drift']);
      expect(r.code).toBe(1);
      const lines = r.out.split('\n');
      expect(lines[0]).toMatch(/^DEVICE\s+GROUP\s+MODEL\s+DRIFT\s+DESIRED\s+REPORTED\s+SERVING\s+DEPLOYMENT\s+DETAIL$/);
      expect(r.out).toMatch(
        new RegExp(
          `\\n${bad}\\s+fleet\\s+cnn\\s+failed\\s+3\\.0\\.0\\s+3\\.0\\.0\\s+2\\.0\\.0\\s+-\\s+cnn 3\\.0\\.0 failed to install: download failed after \\d attempts?: sha256 mismatch[^\\n]*…\\n`,
        ),
      );
      expect(r.out).toContain('(details cut short: --verbose or --json shows them whole)');
      expect((await kiln(['drift', '--verbose'])).out).toMatch(
        /sha256 mismatch: the artifact at \S+ hashes to [0-9a-f]{64}, the desired state says f{64}; serving 2\.0\.0\n/,
      );
      expect(r.out).toMatch(
        new RegExp(
          `${sim.id}\\s+lab\\s+cnn\\s+version-mismatch\\s+2\\.0\\.0\\s+1\\.0\\.0\\s+1\\.0\\.0\\s+-\\s+cnn: reports 1\\.0\\.0 \\(current\\), desired 2\\.0\\.0`,
        ),
      );
      expect(r.out).toMatch(/\n\n2 of 4 managed devices drift \(5 devices\)\.\n/);
      const j = await kiln(['--json', 'drift']);
      expect(j.code).toBe(1);
      const report = JSON.parse(j.out);
      expect(report.entries.map((e: { deviceId: string; kind: string }) => `${e.deviceId} ${e.kind}`).sort()).toEqual(
        [`${bad} failed`, `${sim.id} version-mismatch`].sort(),
      );
      expect(report.entries.find((e: { kind: string }) => e.kind === 'failed').reason).toMatch(/sha256/);

      // kiln devices list|show over the API; kiln cloud devices list still reads the database.
      const list = await kiln(['devices', 'list']);
      expect(list.code).toBe(0);
      expect(list.out.split('\n')[0]).toMatch(/^ID\s+NAME\s+GROUP\s+TARGET\s+STATE\s+LAST SEEN\s+MODELS$/);
      expect(list.out).toMatch(new RegExp(`${ids[0]}\\s+edge-0\\s+fleet\\s+x86_64\\s+online\\s+\\d+s ago\\s+cnn 2\\.0\\.0 \\(current\\)`));
      expect(list.out).toMatch(new RegExp(`${sim.id}\\s+sim\\s+lab\\s+x86_64\\s+online\\s+.*cnn 1\\.0\\.0 \\(current, desired 2\\.0\\.0\\)`));
      expect(list.out).toMatch(new RegExp(`idle-\\d+\\s+bench-spare\\s+idle\\s+-\\s+offline\\s+never\\s+-`));
      const show = await kiln(['devices', 'show', bad]);
      expect(show.code).toBe(0);
      expect(show.out).toMatch(new RegExp(`^device ${bad} \\(edge-1\\)\\n`));
      expect(show.out).toMatch(/ {2}group:\s+fleet\n/);
      expect(show.out).toMatch(/ {4}MODEL\s+DESIRED\s+REPORTED\s+STATUS\s+SERVING\s+REASON\n/);
      expect(show.out).toMatch(/ {4}cnn\s+3\.0\.0\s+3\.0\.0\s+failed\s+2\.0\.0\s+.*sha256 mismatch/);
      const missing = await kiln(['devices', 'show', 'nope']);
      expect(missing.code).toBe(2);
      expect(missing.err).toMatch(/the cloud refused \(404 not-found\): no device 'nope'/);
      const db = await runMain(['--json', 'cloud', 'devices', 'list', '--db', fleet.dbPath], captureIo({ cwd: fleet.root }));
      expect(db).toBe(0);
    } finally {
      await client.endAsync();
    }
  }, 90_000);
});
