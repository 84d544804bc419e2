/**
 * A real fleet for the deployment tests: the gateway (embedded aedes, port 0), the model registry and
 * its artifact server, and N agents (Agent + SyncClient + the agent's HTTP server) preloaded with v1.
 * Traffic goes through the agents' real /infer endpoints, and their per-minute metrics reach the
 * cloud as telemetry through the outbox and the sync client.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { compileModel } from '../../src/compiler/compile.js';
import { startGateway, type DeviceGateway } from '../../src/cloud/gateway/index.js';
import { ModelRegistry, startArtifactServer, type ArtifactServer } from '../../src/cloud/registry/index.js';
import { DeploymentManager } from '../../src/cloud/deployments/index.js';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { SyncClient } from '../../src/edge-agent/sync/index.js';
import { buildCnn } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/model.js';
import { kilnHome, tempDir } from './registry-helpers.js';

export { waitUntil } from '../sync/helpers.js';

/** Compile a small CNN as `name` `version` for x86_64; `size` is its input's height and width. */
export async function buildArtifact(root: string, name: string, version: string, seed: number, size = 32): Promise<{ dir: string; tgz: string }> {
  const src = join(root, `${name}-${version}.onnx`);
  saveModel(buildCnn({ inputShape: [1, 3, size, size], seed }), src);
  const res = await compileModel(src, { target: 'x86_64', quantize: 'none', outDir: join(root, `${name}-${version}`), cacheDir: join(root, 'cache'), modelName: name, modelVersion: version });
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
  manager(): DeploymentManager;
  /** Start sending requests to every agent (and flushing its minute aggregates) until stopped. */
  traffic(): { stop(): Promise<void>; sent: { ok: number; failed: number } };
  close(): Promise<void>;
}

const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from({ length: 3072 }, (_, i) => Math.sin(i)) }] });

export async function startFleet(opts: { root: string; artifacts: { dir: string }[]; v1Tgz: string; devices: number; prefix: string }): Promise<Fleet> {
  const dbPath = join(opts.root, 'cloud', 'cloud.db');
  const gw = await startGateway({ dbPath, port: 0 });
  const reg = new ModelRegistry({ dbPath });
  for (const a of opts.artifacts) reg.pushArtifact(a.dir);
  const srv = await startArtifactServer(reg);
  const agents: FleetAgent[] = [];
  for (let i = 0; i < opts.devices; i++) {
    const dev = gw.addDevice(`edge-${i}`, { id: `${opts.prefix}-${i}`, group: 'fleet' });
    const agent = new Agent({ dataDir: join(opts.root, `agent-${i}`), models: [opts.v1Tgz], kilnHome });
    await agent.start();
    const sync = new SyncClient(agent, { url: gw.brokerUrl, deviceId: dev.id, deviceSecret: dev.secret, reconnectMinMs: 100, reconnectMaxMs: 800, downloadRetryMs: 50, pollMs: 50, target: 'x86_64' });
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
    manager() {
      const m = new DeploymentManager({ gateway: gw, registry: reg, artifactBaseUrl: srv.url, dbPath, tickMs: 50 });
      managers.push(m);
      return m;
    },
    traffic() {
      const sent = { ok: 0, failed: 0 };
      let stopped = false;
      const loop = (async () => {
        while (!stopped) {
          await Promise.all(
            agents.map(async (a) => {
              const res = await fetch(`${a.http.url}/v2/models/cnn/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
              await res.arrayBuffer();
              if (res.ok) sent.ok++;
              else sent.failed++;
            }),
          );
          // The per-minute aggregates go to the outbox now rather than when the minute closes.
          for (const a of agents) a.agent.flushMetrics(true);
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      return {
        sent,
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
      reg.close();
      await gw.close();
    },
  };
}

export { tempDir };
