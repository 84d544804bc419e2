/**
 * `kiln cloud devices add|list` against a temp registry (in-process, runMain), bad input refused
 * with exit 2, and `kiln cloud start` as a real process: a device provisioned by the CLI connects to
 * its embedded broker with the printed credentials, shows online, and SIGTERM stops it cleanly.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { deviceTopics, encodeMessage } from '../../src/protocol/sync.js';
import { waitUntil } from '../sync/helpers.js';

const BIN = resolve(import.meta.dirname, '../../bin/kiln.js');
const dir = mkdtempSync(join(tmpdir(), 'kiln-cloud-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function kiln(...argv: string[]) {
  const io = captureIo({ cwd: dir });
  const code = await runMain(argv, io);
  return { code, out: io.out, err: io.err };
}

describe('kiln cloud devices', () => {
  it('add prints the id, the secret once and the agent line; list shows the devices', async () => {
    const db = join(dir, 'a', 'cloud.db');
    const r = await kiln('cloud', 'devices', 'add', 'camera-7', '--db', db, '--group', 'store-12', '--tag', 'site=store-12', '--tag', 'arch=x86');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const id = /id (dev-[0-9a-f]+)/.exec(r.out)?.[1];
    const secret = /secret: (\S+)/.exec(r.out)?.[1];
    expect(id).toBeDefined();
    expect(secret!.length).toBeGreaterThanOrEqual(40);
    expect(r.out).toContain(`kiln agent start --model ARTIFACT --cloud mqtt://127.0.0.1:1883 --device-id ${id} --device-secret ${secret}\n`);

    const j = await kiln('--json', 'cloud', 'devices', 'add', 'camera-8', '--db', db, '--id', 'cam-8', '--cloud', 'mqtt://cloud.example:1883');
    expect(j.code).toBe(0);
    const d = JSON.parse(j.out) as { id: string; secret: string; group: string; tags: string[]; agentCommand: string };
    expect(d).toMatchObject({
      id: 'cam-8',
      group: 'default',
      tags: [],
      agentCommand: `kiln agent start --model ARTIFACT --cloud mqtt://cloud.example:1883 --device-id cam-8 --device-secret ${d.secret}`,
    });

    const list = await kiln('--json', 'cloud', 'devices', 'list', '--db', db);
    expect(list.code).toBe(0);
    const devices = JSON.parse(list.out) as {
      id: string;
      name: string;
      group: string;
      tags: string[];
      online: boolean;
      lastSeen: string | null;
      models: object;
    }[];
    expect(devices.map((x) => x.name).sort()).toEqual(['camera-7', 'camera-8']);
    expect(devices.find((x) => x.id === id)).toMatchObject({
      name: 'camera-7',
      group: 'store-12',
      tags: ['site=store-12', 'arch=x86'],
      online: false,
      lastSeen: null,
      models: {},
    });
    expect(JSON.stringify(devices)).not.toContain(secret!); // the secret is never listed

    const text = await kiln('cloud', 'devices', 'list', '--db', db, '--group', 'store-12');
    expect(text.code).toBe(0);
    expect(text.out.split('\n')[0]).toMatch(/^ID\s+NAME\s+GROUP\s+STATE\s+LAST SEEN\s+MODELS$/);
    expect(text.out).toContain('camera-7');
    expect(text.out).not.toContain('camera-8');
    expect((await kiln('cloud', 'devices', 'list', '--db', join(dir, 'none', 'cloud.db'))).out).toMatch(/^no devices/);
  });

  it('BAD CALL: a bad --tag, a taken --id, a bad --id and a bad --cloud exit 2 with a clear message', async () => {
    const db = join(dir, 'b', 'cloud.db');
    for (const [argv, msg] of [
      [['--tag', 'site'], /--tag 'site': expected KEY=VALUE/],
      [['--tag', 'a=b c'], /--tag 'a=b c': expected KEY=VALUE/],
      [['--tag', '=x'], /expected KEY=VALUE/],
      [['--id', 'a/b'], /--id 'a\/b': use 1–64/],
      [['--cloud', 'http://x'], /--cloud 'http:\/\/x': expected an mqtt:\/\//],
    ] as const) {
      const r = await kiln('cloud', 'devices', 'add', 'x', '--db', db, ...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.out).toBe('');
    }
    expect((await kiln('cloud', 'devices', 'add', 'x', '--db', db, '--id', 'dup-1')).code).toBe(0);
    const dup = await kiln('cloud', 'devices', 'add', 'y', '--db', db, '--id', 'dup-1');
    expect(dup.code).toBe(2);
    expect(dup.err).toMatch(/a device with id 'dup-1' exists already/);
    const list = JSON.parse((await kiln('--json', 'cloud', 'devices', 'list', '--db', db)).out) as unknown[];
    expect(list).toHaveLength(1);
    const port = await kiln('cloud', 'start', '--db', db, '--mqtt-port', '99999');
    expect(port.code).toBe(2);
    expect(port.err).toMatch(/--mqtt-port '99999': expected a TCP port/);
  });
});

describe('kiln cloud start', () => {
  it('serves the embedded broker to a CLI-provisioned device until SIGTERM', async () => {
    const db = join(dir, 'c', 'cloud.db');
    const child = spawn(process.execPath, [BIN, '--json', 'cloud', 'start', '--db', db, '--mqtt-port', '0', '--http-port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      await waitUntil(() => out.includes('\n'), 60_000, 'the cloud to start');
      const { brokerUrl } = JSON.parse(out.split('\n')[0]) as { brokerUrl: string };
      expect(brokerUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
      // devices add while the cloud runs: the agent line names the running broker.
      const add = await kiln('--json', 'cloud', 'devices', 'add', 'edge-1', '--db', db);
      const dev = JSON.parse(add.out) as { id: string; secret: string; agentCommand: string };
      expect(dev.agentCommand).toContain(`--cloud ${brokerUrl} `);
      const c = mqtt.connect(brokerUrl, { protocolVersion: 4, clientId: dev.id, username: dev.id, password: dev.secret, reconnectPeriod: 0 });
      await new Promise<void>((ok, bad) => (c.once('connect', () => ok()), c.once('error', bad)));
      await new Promise<void>((ok) =>
        c.publish(deviceTopics(dev.id).presence, encodeMessage('presence', { v: 1, state: 'online' }), { qos: 1, retain: true }, () => ok()),
      );
      await waitUntil(
        async () => (JSON.parse((await kiln('--json', 'cloud', 'devices', 'list', '--db', db)).out) as { online: boolean }[])[0]?.online === true,
        10_000,
        'online',
      );
      const text = await kiln('cloud', 'devices', 'list', '--db', db);
      expect(text.out).toMatch(new RegExp(`${dev.id}\\s+edge-1\\s+default\\s+online\\s+\\d{4}-`));
      c.end(true);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      expect(child.exitCode).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});
