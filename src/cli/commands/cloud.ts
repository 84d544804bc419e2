/**
 * `kiln cloud start` and `kiln cloud devices add|list`: the cloud's device gateway (src/cloud),
 * loaded only when these run. Thin: flags in, src/cloud/admin.ts does the work, text or JSON out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineCommand } from '../framework.js';
import { DEFAULTS } from '../../defaults.js';

const dbOption = { type: 'string', valueName: 'FILE', description: 'the device registry (SQLite) (default: ./.kiln-cloud/cloud.db)' } as const;
const dbPath = (cwd: string, db: string | undefined) => resolve(cwd, db ?? '.kiln-cloud/cloud.db');

export const cloudStart = defineCommand({
  name: 'cloud start',
  summary: 'run the cloud: MQTT broker, device registry, telemetry ingestion, model registry, HTTP API and dashboard',
  description:
    'Starts the cloud side of sync: an embedded MQTT broker (aedes, on 127.0.0.1 unless --host) that authenticates each device ' +
    'and lets it use only its own topics, the device registry, and telemetry ingestion into the database. With --broker, an ' +
    'external MQTT broker (Mosquitto, EMQX, …) is used instead (its ACLs do the per-device access control; see docs/sync.md); ' +
    'its credentials come from --broker-user and KILN_CLOUD_BROKER_PASSWORD. One HTTP port (127.0.0.1:8300 unless --http-host/--http-port) ' +
    'serves the operator API under /api (token required: --token, KILN_CLOUD_TOKEN, or the api-token file beside the database, ' +
    'generated on first start), the dashboard at /, and signed artifacts at /artifacts/. `kiln push ARTIFACT --cloud-url URL` uploads ' +
    'artifacts to POST /api/artifacts (up to --max-upload-mib; signers limited by --trust). The model registry lives in the database ' +
    '(artifacts in artifacts/ beside it) unless --database-url (or KILN_DATABASE_URL) names a PostgreSQL database: then it lives there, ' +
    "artifacts' bytes included, and several cloud instances can share it. Runs until SIGINT or SIGTERM.",
  options: {
    db: dbOption,
    'mqtt-port': { type: 'string', valueName: 'PORT', description: `embedded broker TCP port, 0 for a free one (default: ${DEFAULTS.mqttPort})` },
    host: { type: 'string', valueName: 'HOST', description: 'embedded broker address (default: 127.0.0.1)' },
    broker: { type: 'string', valueName: 'URL', description: 'an external broker (mqtt://host:port) instead of the embedded one' },
    'broker-user': { type: 'string', valueName: 'USER', description: 'username on the external broker (password: KILN_CLOUD_BROKER_PASSWORD)' },
    'ingest-connections': {
      type: 'string',
      valueName: 'N',
      description: 'connections sharing the telemetry subscription ($share/…) on the external broker; 1 for a broker without shared subscriptions (default: 4)',
    },
    'share-group': {
      type: 'string',
      valueName: 'NAME',
      description:
        "the shared subscription's group: the same for every instance of one fleet, another for another cloud on the broker (default: this instance's own)",
    },
    'http-port': { type: 'string', valueName: 'PORT', description: 'HTTP port of the API, dashboard and artifacts, 0 for a free one (default: 8300)' },
    'http-host': { type: 'string', valueName: 'HOST', description: 'HTTP address (default: 127.0.0.1)' },
    'public-url': { type: 'string', valueName: 'URL', description: 'the base URL devices download artifacts from (default: http://HTTP-HOST:HTTP-PORT)' },
    token: {
      type: 'string',
      valueName: 'TOKEN',
      description: 'the operator token for /api (default: KILN_CLOUD_TOKEN, else generated once into api-token beside the database, mode 0600)',
    },
    'database-url': {
      type: 'string',
      valueName: 'URL',
      description:
        'keep the model registry in PostgreSQL, postgres://USER[:PASSWORD]@HOST[:PORT]/DB, shared by cloud instances (default: KILN_DATABASE_URL, else in --db)',
    },
    'max-upload-mib': { type: 'string', valueName: 'N', description: 'the largest artifact `kiln push --cloud-url` may upload, in MiB (default: 512)' },
    trust: {
      type: 'string',
      multiple: true,
      valueName: 'KEY|FILE',
      description: 'only accept uploaded artifacts signed by this public key (base64) or the key in this file; repeatable (default: any valid signature)',
    },
  },
  examples: [
    { command: 'cloud start', description: 'embedded broker on mqtt://127.0.0.1:1883, registry in ./.kiln-cloud/cloud.db' },
    { command: 'cloud start --mqtt-port 0 --db /var/lib/kiln/cloud.db' },
    { command: 'cloud start --broker mqtt://mosquitto:1883 --broker-user kiln-cloud' },
    { command: 'cloud start --database-url postgres://kiln@db.internal/kiln', description: 'the model registry in PostgreSQL, shared with other instances' },
  ],
  async run({ options, io, json, print, usageError }) {
    const port = options['mqtt-port'] === undefined ? DEFAULTS.mqttPort : Number(options['mqtt-port']);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--mqtt-port '${options['mqtt-port']}': expected a TCP port 0–65535`);
    if (options.broker !== undefined && !/^mqtts?:\/\/[^\s]+$/.test(options.broker))
      throw usageError(`--broker '${options.broker}': expected an mqtt:// or mqtts:// URL`);
    if (options.broker !== undefined && (options['mqtt-port'] !== undefined || options.host !== undefined))
      throw usageError('--broker: the embedded broker options --mqtt-port and --host do not apply to an external broker');
    const httpPort = options['http-port'] === undefined ? 8300 : Number(options['http-port']);
    if (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535) throw usageError(`--http-port '${options['http-port']}': expected a TCP port 0–65535`);
    if (options['public-url'] !== undefined && !/^https?:\/\/[^\s]+$/.test(options['public-url']))
      throw usageError(`--public-url '${options['public-url']}': expected an http:// or https:// URL`);
    const token = options.token ?? io.env.KILN_CLOUD_TOKEN;
    if (token !== undefined && token !== '' && (token.length < 16 || /\s/.test(token)))
      throw usageError('--token: the operator token must be at least 16 characters without spaces');
    const maxUpload = options['max-upload-mib'] === undefined ? undefined : Number(options['max-upload-mib']);
    if (maxUpload !== undefined && !(Number.isFinite(maxUpload) && maxUpload > 0 && maxUpload <= 65536))
      throw usageError(`--max-upload-mib '${options['max-upload-mib']}': expected a number of MiB, more than 0 and at most 65536`);
    const trustedKeys = (options.trust ?? []).map((k) => {
      const f = resolve(io.cwd, k);
      return existsSync(f) ? readFileSync(f, 'utf8').trim() : k;
    });
    const ingest = options['ingest-connections'] === undefined ? undefined : Number(options['ingest-connections']);
    if (ingest !== undefined && !(Number.isInteger(ingest) && ingest >= 1 && ingest <= 64))
      throw usageError(`--ingest-connections '${options['ingest-connections']}': expected an integer 1–64`);
    if (options['share-group'] !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(options['share-group']))
      throw usageError(`--share-group '${options['share-group']}': use 1–64 of A-Z a-z 0-9 . _ -`);
    if (options.broker === undefined && (ingest !== undefined || options['share-group'] !== undefined))
      throw usageError('--ingest-connections and --share-group apply to an external broker (--broker); the embedded one has no shared subscriptions');
    const db = dbPath(io.cwd, options.db);
    const databaseUrl = options['database-url'] || io.env.KILN_DATABASE_URL || undefined;
    const { startCloud } = await import('../../cloud/admin.js');
    const log = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
      io.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
    const cloud = await startCloud({
      dbPath: db,
      ...(options.broker
        ? {
            brokerUrl: options.broker,
            username: options['broker-user'],
            password: io.env.KILN_CLOUD_BROKER_PASSWORD,
            ingestConnections: ingest,
            shareGroup: options['share-group'],
          }
        : { port, host: options.host }),
      logger: { debug() {}, info: log('info'), warn: log('warn'), error: log('error') },
      http: {
        host: options['http-host'],
        port: httpPort,
        token: token || undefined,
        publicUrl: options['public-url'],
        databaseUrl,
        ...(maxUpload !== undefined ? { maxUploadBytes: Math.floor(maxUpload * 2 ** 20) } : {}),
        ...(trustedKeys.length ? { trustedKeys } : {}),
      },
    });
    const http = cloud.http!;
    const tokenAt = http.tokenFile ?? (options.token ? '--token' : 'KILN_CLOUD_TOKEN');
    if (json)
      print(
        JSON.stringify({
          brokerUrl: cloud.brokerUrl,
          embedded: cloud.gateway.isEmbedded,
          db,
          registry: http.registry.location,
          httpUrl: http.url,
          apiUrl: `${http.url}/api`,
          dashboardUrl: http.dashboardUrl,
          tokenFile: http.tokenFile ?? null,
        }),
      );
    else {
      print(
        `kiln cloud: ${cloud.gateway.isEmbedded ? 'embedded broker' : 'broker'} ${cloud.brokerUrl}, registry ${http.registry.location}${databaseUrl ? `, devices ${db}` : ''}`,
      );
      print(`  dashboard:      ${http.dashboardUrl}?token=…   (operator token: ${tokenAt}${http.tokenCreated ? ', generated now' : ''})`);
      print(`  API:            ${http.url}/api   (Authorization: Bearer TOKEN)`);
      print(`  artifacts:      ${http.url}/artifacts/`);
      print(`  add a device:   kiln cloud devices add NAME${options.db ? ` --db ${db}` : ''}`);
      print(`  start its agent: kiln agent start --model ARTIFACT --cloud ${cloud.brokerUrl} --device-id ID --device-secret SECRET`);
    }
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        done();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await cloud.close();
    if (!json) print('kiln cloud: stopped');
  },
});

export const cloudDevicesAdd = defineCommand({
  name: 'cloud devices add',
  summary: 'provision a device: prints its id and secret (shown once) and its agent command',
  description:
    'Adds a device to the registry and prints its id and secret. The secret is shown only now (the registry keeps a salted hash). ' +
    'Also prints the exact `kiln agent start` line for the device, with the broker URL of the running `kiln cloud start` for this ' +
    'database (or --cloud).',
  options: {
    db: dbOption,
    group: { type: 'string', valueName: 'G', description: 'the device group (default: default)' },
    tag: { type: 'string', multiple: true, valueName: 'KEY=VALUE', description: 'a tag, e.g. site=store-12' },
    id: { type: 'string', valueName: 'ID', description: 'a chosen device id (default: a random one)' },
    cloud: { type: 'string', valueName: 'URL', description: "broker URL for the agent line (default: the running cloud's, else mqtt://127.0.0.1:1883)" },
  },
  positionals: [{ name: 'name', description: 'a name for the device' }],
  examples: [{ command: 'cloud devices add camera-7 --group store-12 --tag site=store-12 --tag arch=x86' }],
  async run({ options, args, io, json, print, printJson, usageError }) {
    const { provisionDevice } = await import('../../cloud/admin.js');
    let d;
    try {
      d = provisionDevice(dbPath(io.cwd, options.db), args.name, { group: options.group, tags: options.tag ?? [], id: options.id, cloud: options.cloud });
    } catch (err) {
      if (err instanceof RangeError || err instanceof TypeError) throw usageError(err.message.replace(/^addDevice: /, ''));
      throw err;
    }
    if (json) return printJson(d);
    print(`device ${d.name}: id ${d.id}, group ${d.group}${d.tags.length ? `, tags ${d.tags.join(' ')}` : ''}`);
    print(`  secret: ${d.secret}   (shown once: keep it now)`);
    print(`  start its agent:`);
    print(`  ${d.agentCommand}`);
  },
});

export const cloudDevicesList = defineCommand({
  name: 'cloud devices list',
  summary: 'list devices: id, name, group, online, last seen, reported models',
  options: {
    db: dbOption,
    group: { type: 'string', valueName: 'G', description: 'only this group' },
    tag: { type: 'string', valueName: 'KEY=VALUE', description: 'only devices with this tag' },
  },
  async run({ options, io, json, print, printJson }) {
    const { listDevices } = await import('../../cloud/admin.js');
    const devices = listDevices(dbPath(io.cwd, options.db), { group: options.group, tag: options.tag });
    if (json) return printJson(devices);
    if (!devices.length) return print('no devices (add one with: kiln cloud devices add NAME)');
    const rows = devices.map((d) => [
      d.id,
      d.name,
      d.group,
      d.online ? 'online' : 'offline',
      d.lastSeen ?? '-',
      Object.entries(d.models)
        .map(([m, r]) => `${m} ${r.version} (${r.status}${r.serving && r.serving !== r.version ? `, serving ${r.serving}` : ''})`)
        .join(', ') || '-',
    ]);
    const head = ['ID', 'NAME', 'GROUP', 'STATE', 'LAST SEEN', 'MODELS'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [head, ...rows]) print(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
  },
});
