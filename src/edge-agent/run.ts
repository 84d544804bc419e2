/**
 * Start a whole agent from a resolved configuration: the core (installs, preload) and its HTTP
 * server. What `kiln agent start` runs; library users can call it the same way.
 */
import { Agent } from './agent.js';
import type { AgentConfig } from './config.js';
import { serveAgent, type AgentServer } from './http/server.js';
import { silentLogger, type Logger } from '../logger.js';
import type { SyncClient } from './sync/client.js';

export interface RunningAgent {
  agent: Agent;
  server: AgentServer;
  url: string;
  /** The cloud sync client, when the config names a cloud. */
  sync?: SyncClient;
  /** Milliseconds from the call to ready (models installed and loaded, socket listening). */
  readyMs: number;
  /** Stop serving: close the socket, wait for in-flight requests, release models, flush. */
  close(): Promise<void>;
}

export async function startAgent(config: AgentConfig, options: { logger?: Logger; kilnHome?: string } = {}): Promise<RunningAgent> {
  const t0 = performance.now();
  const logger = options.logger ?? silentLogger;
  const agent = new Agent({
    dataDir: config.dataDir,
    models: config.models,
    trustedKeys: config.trustedKeys,
    trustKilnKey: config.trustKilnKey,
    kilnHome: options.kilnHome,
    keepVersions: config.keepVersions,
    memoryBudgetBytes: config.memoryBudgetBytes,
    threads: config.threads,
    interOpThreads: config.interOpThreads,
    allowCpuFallback: config.allowCpuFallback,
    preload: config.preload,
    outboxMaxRows: config.outboxMaxRows,
    batching: { maxBatchSize: config.maxBatchSize, maxQueueDelayMs: config.maxQueueDelayMs },
    variants: config.variants,
    maxJobBytes: config.maxJobBytes,
    logger,
  });
  let server: AgentServer | undefined;
  try {
    // Listen while the models load: /v2/health/ready says 503 until they are in.
    server = await serveAgent(agent, { host: config.host, port: config.port, token: config.token, maxRequestBytes: config.maxRequestBytes, logger });
    await agent.start();
  } catch (err) {
    await server?.close();
    await agent.close();
    throw err;
  }
  const srv = server;
  let sync: SyncClient | undefined;
  if (config.cloud && config.deviceId && config.deviceSecret) {
    // Loaded only when syncing: an offline agent does not load mqtt.js.
    const { SyncClient: Client } = await import('./sync/client.js');
    sync = new Client(agent, { url: config.cloud, deviceId: config.deviceId, deviceSecret: config.deviceSecret, logger });
    sync.start();
  }
  const readyMs = performance.now() - t0;
  logger.info('agent ready', {
    url: srv.url,
    models: agent.modelNames(),
    threads: config.threads ?? 'default',
    interOpThreads: config.interOpThreads ?? (config.threads ? 1 : 'default'),
    readyMs: Math.round(readyMs),
  });
  return {
    agent,
    server: srv,
    url: srv.url,
    sync,
    readyMs,
    async close() {
      await sync?.stop();
      await srv.close();
      await agent.close();
      logger.info('agent stopped');
    },
  };
}
