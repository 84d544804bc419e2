/**
 * Operator actions behind `kiln cloud …`: provision and list devices in a registry file, and run the
 * gateway until told to stop. The CLI only parses flags and prints; the logic is here.
 *
 * `kiln cloud start` writes `cloud.json` next to the database (the broker URL devices connect to), so
 * `kiln cloud devices add` can print the exact `kiln agent start` line for that cloud.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEVICE_ID_PATTERN } from '../protocol/sync.js';
import { startGateway, type DeviceGateway, type GatewayOptions } from './gateway/gateway.js';
import { DeviceRegistry, type DeviceRecord } from './gateway/registry.js';
import type { ModelRegistry } from './registry/registry.js';
import type { FastifyInstance } from 'fastify';
import type { DeploymentManager } from './deployments/index.js';
import { DEFAULTS } from '../defaults.js';

export const DEFAULT_CLOUD_DB = '.kiln-cloud/cloud.db';
export const DEFAULT_MQTT_PORT = DEFAULTS.mqttPort;

/** Parse `k=v` tags (k: 1–64 of A-Z a-z 0-9 . _ -; v: 1–128 printable, no spaces). Throws RangeError with a clear message. */
export function parseTags(tags: readonly string[]): string[] {
  return tags.map((t) => {
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})=([^\s=][^\s]{0,127})$/.exec(t);
    if (!m) throw new RangeError(`--tag '${t}': expected KEY=VALUE (key: letters, digits, . _ -; value: no spaces), e.g. --tag site=store-12`);
    return `${m[1]}=${m[2]}`;
  });
}

/** Where `kiln cloud start` says its broker is (next to the database). */
const infoFile = (dbPath: string) => join(dirname(dbPath), 'cloud.json');

export function readCloudInfo(dbPath: string): { brokerUrl: string; pid: number } | undefined {
  try {
    const f = infoFile(dbPath);
    return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { brokerUrl: string; pid: number }) : undefined;
  } catch {
    return undefined;
  }
}

export interface ProvisionedDevice {
  id: string;
  name: string;
  group: string;
  tags: string[];
  secret: string;
  /** The broker URL the agent line uses. */
  cloud: string;
  /** The exact command to start the device's agent. */
  agentCommand: string;
}

/** Add a device to the registry at `dbPath`. `cloud`: the broker URL for the agent line (default: what `kiln cloud start` recorded, else mqtt://127.0.0.1:1883). */
export function provisionDevice(
  dbPath: string,
  name: string,
  options: { group?: string; tags?: readonly string[]; id?: string; cloud?: string } = {},
): ProvisionedDevice {
  if (!name.trim()) throw new RangeError('device name must not be empty');
  if (options.group !== undefined && !/^[^\s]{1,128}$/.test(options.group))
    throw new RangeError(`--group '${options.group}': expected 1–128 characters, no spaces`);
  if (options.id !== undefined && !DEVICE_ID_PATTERN.test(options.id))
    throw new RangeError(`--id '${options.id}': use 1–64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  const tags = parseTags(options.tags ?? []);
  const cloud = options.cloud ?? readCloudInfo(dbPath)?.brokerUrl ?? `mqtt://127.0.0.1:${DEFAULT_MQTT_PORT}`;
  if (!/^mqtts?:\/\/[^\s]+$/.test(cloud)) throw new RangeError(`--cloud '${cloud}': expected an mqtt:// or mqtts:// URL`);
  const registry = new DeviceRegistry(dbPath);
  try {
    const { id, secret } = registry.addDevice(name, { group: options.group, tags, id: options.id });
    const d = registry.get(id)!;
    return {
      id,
      name: d.name,
      group: d.group,
      tags: d.tags,
      secret,
      cloud,
      agentCommand: `kiln agent start --model ARTIFACT --cloud ${cloud} --device-id ${id} --device-secret ${secret}`,
    };
  } finally {
    registry.close();
  }
}

export interface DeviceSummary {
  id: string;
  name: string;
  group: string;
  tags: string[];
  online: boolean;
  lastSeen: string | null;
  /** Reported models: name → {version, status, serving?}. */
  models: Record<string, { version: string; status: string; serving?: string }>;
  desiredVersion: number | null;
}

export function listDevices(dbPath: string, filter: { group?: string; tag?: string } = {}): DeviceSummary[] {
  if (!existsSync(dbPath)) return [];
  const registry = new DeviceRegistry(dbPath);
  try {
    return registry.list(filter).map(summary);
  } finally {
    registry.close();
  }
}

const summary = (d: DeviceRecord): DeviceSummary => ({
  id: d.id,
  name: d.name,
  group: d.group,
  tags: d.tags,
  online: d.online,
  lastSeen: d.lastSeen,
  models: Object.fromEntries(
    Object.entries(d.reported?.models ?? {}).map(([m, r]) => [m, { version: r.version, status: r.status, ...(r.serving ? { serving: r.serving } : {}) }]),
  ),
  desiredVersion: d.desired?.version ?? null,
});

export const DEFAULT_HTTP_PORT = 8300;

export interface CloudHttpOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 for a free one. @default DEFAULT_HTTP_PORT */
  port?: number;
  /** The operator token (--token / KILN_CLOUD_TOKEN). @default generated once and kept in api-token beside the database */
  token?: string;
  /** The base URL devices download artifacts from. @default http://HOST:PORT */
  publicUrl?: string;
  /**
   * A PostgreSQL URL for the model registry (artifacts' bytes included), so several cloud instances
   * share one registry. @default the SQLite database at dbPath, artifacts in `artifacts/` beside it
   */
  databaseUrl?: string;
  /** The largest artifact `kiln push --cloud-url` (POST /api/artifacts) may upload, in bytes. @default 512 MiB */
  maxUploadBytes?: number;
  /** Raw ed25519 public keys (base64) an uploaded artifact must be signed by. @default any valid signature */
  trustedKeys?: readonly string[];
}

export interface RunningCloud {
  gateway: DeviceGateway;
  brokerUrl: string;
  /** The HTTP server (API, dashboard, artifacts), when started with `http`. */
  http?: {
    url: string;
    dashboardUrl: string;
    tokenFile?: string;
    tokenCreated: boolean;
    registry: ModelRegistry;
    api: FastifyInstance;
    deployments: DeploymentManager;
  };
  close(): Promise<void>;
}

/**
 * Start the gateway (embedded broker unless `brokerUrl`) and record its broker URL next to the
 * database; with `http`, also the model registry and the HTTP API + dashboard + artifacts on one port.
 */
export async function startCloud(options: GatewayOptions & { http?: CloudHttpOptions }): Promise<RunningCloud> {
  const { http: httpOptions, ...gatewayOptions } = options;
  // A malformed registry URL is refused before anything starts; an unreachable server only once the gateway is up (it is then closed).
  if (httpOptions?.databaseUrl !== undefined) (await import('./registry/database-url.js')).checkDatabaseUrl(httpOptions.databaseUrl);
  const gateway = await startGateway(gatewayOptions);
  let http: RunningCloud['http'];
  if (httpOptions) {
    let registry: ModelRegistry | undefined;
    let deployments: DeploymentManager | undefined;
    try {
      const { createCloudApi, loadOrCreateToken } = await import('./api/index.js');
      const { DeploymentManager } = await import('./deployments/index.js');
      const token = loadOrCreateToken(options.dbPath, httpOptions.token);
      const { openModelRegistry } = await import('./registry/registry.js');
      registry = await openModelRegistry(httpOptions.databaseUrl !== undefined ? { databaseUrl: httpOptions.databaseUrl } : { dbPath: options.dbPath });
      const host = httpOptions.host ?? '127.0.0.1';
      // The manager needs the API's URL (for the artifact URLs it puts in desired states), and the API
      // the manager: the routes read it through this getter, set once the port is known.
      const holder: { manager?: DeploymentManager } = {};
      const api = createCloudApi({
        gateway,
        registry,
        token: token.token,
        publicUrl: httpOptions.publicUrl,
        deployments: () => holder.manager,
        maxUploadBytes: httpOptions.maxUploadBytes,
        trustedKeys: httpOptions.trustedKeys,
      });
      await api.listen({ host, port: httpOptions.port ?? DEFAULT_HTTP_PORT });
      const address = api.server.address();
      const port = typeof address === 'object' && address ? address.port : (httpOptions.port ?? DEFAULT_HTTP_PORT);
      const url = httpOptions.publicUrl?.replace(/\/+$/, '') ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      deployments = holder.manager = new DeploymentManager({ gateway, registry, artifactBaseUrl: url, dbPath: options.dbPath, logger: options.logger });
      http = { url, dashboardUrl: `${url}/`, tokenFile: token.file, tokenCreated: token.created, registry, api, deployments };
    } catch (err) {
      await deployments?.close();
      await registry?.close();
      await gateway.close();
      throw err;
    }
  }
  const file = infoFile(options.dbPath);
  writeFileSync(
    file,
    `${JSON.stringify({ brokerUrl: gateway.brokerUrl, pid: process.pid, embedded: gateway.isEmbedded, ...(http ? { httpUrl: http.url } : {}), startedAt: new Date().toISOString() })}\n`,
  );
  return {
    gateway,
    brokerUrl: gateway.brokerUrl,
    ...(http ? { http } : {}),
    async close() {
      if (http) {
        await http.api.close();
        await http.deployments.close();
        await http.registry.close();
      }
      await gateway.close();
      if (readCloudInfo(options.dbPath)?.pid === process.pid) rmSync(file, { force: true });
    },
  };
}
