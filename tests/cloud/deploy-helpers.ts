/**
 * A real fleet for the deployment tests: the gateway (embedded aedes on port 0, or an external broker
 * such as Mosquitto: `broker`), the model registry and its artifact server, and N agents (Agent +
 * SyncClient + the agent's HTTP server) preloaded with v1. Traffic goes through the agents' real
 * /infer endpoints (a few different inputs, so outputs vary), and their per-minute metrics and shadow
 * comparisons reach the cloud as telemetry through the outbox and the sync client.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { compileModel } from '../../src/compiler/compile.js';
import { startGateway, type DeviceGateway } from '../../src/cloud/gateway/index.js';
import { openModelRegistry, startArtifactServer, type ArtifactServer, type ModelRegistry } from '../../src/cloud/registry/index.js';
import { DeploymentManager } from '../../src/cloud/deployments/index.js';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { SyncClient } from '../../src/edge-agent/sync/index.js';
import { buildCnn } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/model.js';
import { kilnHome, tempDir } from './registry-helpers.js';
import { uniqueId, waitUntil, type BrokerCase } from '../sync/helpers.js';

export { BROKERS, waitUntil, type BrokerCase } from '../sync/helpers.js';

/** Compile a small CNN as `name` `version` for x86_64; `size` is its input's height and width. */
export async function buildArtifact(root: string, name: string, version: string, seed: number, size = 32): Promise<{ dir: string; tgz: string }> {
  const src = join(root, `${name}-${version}.onnx`);
  saveModel(buildCnn({ inputShape: [1, 3, size, size], seed }), src);
  const res = await compileModel(src, {
    target: 'x86_64',
    quantize: 'none',
    outDir: join(root, `${name}-${version}`),
    cacheDir: join(root, 'cache'),
    modelName: name,
    modelVersion: version,
  });
  rmSync(src);
  return { dir: res.artifact.dir, tgz: res.artifact.archive };
}

export interface FleetAgent {
  id: string;
  agent: Agent;
  sync: SyncClient;
  http: AgentServer;
}

export interface Fleet {
  root: string;
  dbPath: string;
  gw: DeviceGateway;
  reg: ModelRegistry;
  srv: ArtifactServer;
  agents: FleetAgent[];
  /** The broker the fleet runs on. */
  broker: BrokerCase['name'];
  /** The agents' device ids. */
  ids(): string[];
  /** Wait until every agent is online and has reported its target (what a deployment needs to pick artifacts). */
  ready(timeoutMs?: number): Promise<void>;
  manager(): DeploymentManager;
  /**
   * Start sending requests to every agent (and flushing its minute aggregates) until stopped.
   * `versions` counts answers by the version that served them; `firstSeen` is when (ms) each version first answered.
   */
  traffic(): { stop(): Promise<void>; sent: { ok: number; failed: number }; versions: Record<string, number>; firstSeen: Record<string, number> };
  /** Stop the managers, agents, artifact server, registry and gateway, then remove `root`. */
  close(): Promise<void>;
}

/** A few different requests (so a model's top-1 answers spread over classes); traffic cycles through them. */
const bodies = Array.from({ length: 8 }, (_, k) =>
  JSON.stringify({
    inputs: [
      { name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from({ length: 3072 }, (_, i) => Math.sin(i * (k + 1) * 0.37 + k) * (1 + k)) },
    ],
  }),
);

/**
 * Start a fleet in `root` (a temp folder it owns from now on: close() removes it). `broker`: the
 * embedded aedes (default) or an external one by URL; on an external broker device ids get a unique
 * suffix (it keeps retained messages and sessions between runs).
 */
export async function startFleet(opts: {
  root: string;
  artifacts: { dir: string }[];
  v1Tgz: string;
  devices: number;
  prefix: string;
  broker?: BrokerCase;
}): Promise<Fleet> {
  const dbPath = join(opts.root, 'cloud', 'cloud.db');
  const broker = opts.broker ?? { name: 'aedes' as const };
  const gw = await startGateway({ dbPath, ...(broker.url ? { brokerUrl: broker.url } : { port: 0 }) });
  const reg = await openModelRegistry({ dbPath });
  for (const a of opts.artifacts) await reg.pushArtifact(a.dir);
  const srv = await startArtifactServer(reg);
  const agents: FleetAgent[] = [];
  const prefix = broker.url ? uniqueId(opts.prefix) : opts.prefix;
  for (let i = 0; i < opts.devices; i++) {
    const dev = gw.addDevice(`edge-${i}`, { id: `${prefix}-${i}`, group: 'fleet' });
    const agent = new Agent({ dataDir: join(opts.root, `agent-${i}`), models: [opts.v1Tgz], kilnHome });
    await agent.start();
    const sync = new SyncClient(agent, {
      url: gw.brokerUrl,
      deviceId: dev.id,
      deviceSecret: dev.secret,
      reconnectMinMs: 100,
      reconnectMaxMs: 800,
      downloadRetryMs: 50,
      pollMs: 50,
      target: 'x86_64',
    });
    sync.start();
    const http = await serveAgent(agent, { port: 0 });
    agents.push({ id: dev.id, agent, sync, http });
  }
  const managers: DeploymentManager[] = [];
  return {
    root: opts.root,
    dbPath,
    gw,
    reg,
    srv,
    agents,
    broker: broker.name,
    ids: () => agents.map((a) => a.id),
    ready: (timeoutMs = 30_000) =>
      waitUntil(
        () => agents.every((a) => gw.device(a.id)?.online && gw.device(a.id)?.reported?.target === 'x86_64'),
        timeoutMs,
        'devices online with their target',
      ),
    manager() {
      const m = new DeploymentManager({ gateway: gw, registry: reg, artifactBaseUrl: srv.url, dbPath, tickMs: 50 });
      managers.push(m);
      return m;
    },
    traffic() {
      const sent = { ok: 0, failed: 0 };
      const versions: Record<string, number> = {};
      const firstSeen: Record<string, number> = {};
      let stopped = false;
      let n = 0;
      const loop = (async () => {
        while (!stopped) {
          await Promise.all(
            agents.map(async (a) => {
              const res = await fetch(`${a.http.url}/v2/models/cnn/infer`, {
                method: 'POST',
                body: bodies[n++ % bodies.length],
                headers: { 'content-type': 'application/json' },
              });
              if (res.ok) {
                sent.ok++;
                const v = ((await res.json()) as { model_version?: string }).model_version ?? '?';
                versions[v] = (versions[v] ?? 0) + 1;
                firstSeen[v] ??= Date.now();
              } else {
                await res.arrayBuffer();
                sent.failed++;
              }
            }),
          );
          // The per-minute aggregates go to the outbox now rather than when the minute closes.
          for (const a of agents) a.agent.flushMetrics(true);
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      return {
        sent,
        versions,
        firstSeen,
        async stop() {
          stopped = true;
          await loop;
        },
      };
    },
    async close() {
      for (const m of managers) await m.close();
      for (const a of agents) {
        await a.http.close();
        await a.sync.stop();
        await a.agent.close();
      }
      await srv.close();
      await reg.close();
      await gw.close();
      rmSync(opts.root, { recursive: true, force: true });
    },
  };
}

export { tempDir };
