/**
 * The cloud API on a real port, for the tests that talk to it as an operator would: over HTTP with
 * (or without) the operator token, and through the CLI (`kiln …` by runMain, with --cloud-url).
 */
import { createCloudApi, type CloudApiOptions } from '../../src/cloud/api/index.js';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import type { DeploymentManager } from '../../src/cloud/deployments/index.js';
import { buildArtifact, startFleet, tempDir, type Fleet } from './deploy-helpers.js';

export type CloudApp = ReturnType<typeof createCloudApi>;

/** Create the API and listen on 127.0.0.1, port 0; `base` is its http:// address. */
export async function listenCloudApi(options: CloudApiOptions): Promise<{ app: CloudApp; base: string }> {
  const app = createCloudApi(options);
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
}

export interface CallOptions {
  /** The operator token; null (or undefined) sends none. */
  token?: string | null;
  /** Sent as JSON; a string is sent as it is. */
  body?: unknown;
}

/** One request: the status, the headers, and the body (parsed when it is JSON, else the text). */
export async function callApi(base: string, method: string, path: string, options: CallOptions = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text && res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as any) : text };
}

/** Run `kiln ARGV --cloud-url BASE` in `cwd` with KILN_CLOUD_TOKEN set; `prompt` answers a question (else there is no terminal). */
export async function kilnAgainst(cloud: { base: string; token: string; cwd: string }, argv: string[], prompt?: (question: string) => Promise<string>) {
  const io = Object.assign(captureIo({ cwd: cloud.cwd, env: { KILN_CLOUD_TOKEN: cloud.token } }), prompt ? { prompt } : {});
  const code = await runMain([...argv, '--cloud-url', cloud.base], io);
  return { code, out: io.out, err: io.err };
}

export interface FleetWithApi {
  fleet: Fleet;
  mgr: DeploymentManager;
  app: CloudApp;
  base: string;
  close(): Promise<void>;
}

/**
 * An operator's setup: `versions` of a small CNN 'cnn' compiled (seeds 1, 2, …; `sizes` gives a
 * version another input size, so that it fails on the others' requests), a fleet of real agents
 * serving the first version and ready, a deployment manager, and the API with `token` on a real port.
 */
export async function fleetWithApi(o: {
  name: string;
  versions: string[];
  sizes?: Record<string, number>;
  devices: number;
  token: string;
}): Promise<FleetWithApi> {
  const root = tempDir(`kiln-${o.name}-`);
  const artifacts = [];
  for (const [i, v] of o.versions.entries()) artifacts.push(await buildArtifact(root, 'cnn', v, i + 1, o.sizes?.[v]));
  const fleet = await startFleet({ root, artifacts, v1Tgz: artifacts[0].tgz, devices: o.devices, prefix: `${o.name}-${process.pid}` });
  await fleet.ready();
  const mgr = fleet.manager();
  const { app, base } = await listenCloudApi({ gateway: fleet.gw, registry: fleet.reg, token: o.token, deployments: mgr });
  return {
    fleet,
    mgr,
    app,
    base,
    async close() {
      await app.close();
      await fleet.close();
    },
  };
}
