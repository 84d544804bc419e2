/**
 * Sync test helpers: the brokers each suite runs against (embedded aedes always; Mosquitto when
 * KILN_TEST_MQTT_URL is set), condition waits with timeouts (no sleeps as synchronisation), a TCP
 * proxy that can cut the network, and a real HTTP artifact server with Range support and fault modes.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { startGateway, type DeviceGateway } from '../../src/cloud/gateway/index.js';
import { sha256Hex } from '../../src/protocol/artifact.js';
import type { StandInOutbox } from '../../bench/standin-agent.js';

export interface BrokerCase {
  name: 'aedes' | 'mosquitto';
  url?: string;
}

export const BROKERS: BrokerCase[] = [
  { name: 'aedes' },
  ...(process.env.KILN_TEST_MQTT_URL ? [{ name: 'mosquitto' as const, url: process.env.KILN_TEST_MQTT_URL }] : []),
];

/** A device id no earlier run used (Mosquitto keeps retained messages and sessions between runs). */
export const uniqueId = (prefix = 't'): string => `${prefix}-${process.pid}-${randomBytes(5).toString('hex')}`;

/**
 * A bare aedes broker on a free loopback port, without kiln's gateway around it (for tests of the
 * broker itself or of a device talking to a hand-driven cloud). `prepare` sees it before it listens.
 */
export async function bareAedes(prepare?: (broker: Aedes) => void): Promise<{ broker: Aedes; url: string; close(): Promise<void> }> {
  const broker = await Aedes.createBroker();
  prepare?.(broker);
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    broker,
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** What SyncClient needs of an agent (a stand-in): an in-memory outbox, no versions, nothing to install or reconcile. */
export const standInSyncAgent = (outbox: StandInOutbox, dataDir: string) => ({
  outbox,
  dataDir,
  versions: () => [],
  rollback: () => {
    throw new Error('no');
  },
  modelNames: () => [],
  variantsOf: () => undefined,
  install: () => Promise.reject(new Error('no')),
  setVariants: () => {},
});

export function gatewayFor(b: BrokerCase, dir: string): Promise<DeviceGateway> {
  return startGateway({ dbPath: join(dir, 'cloud.db'), brokerUrl: b.url });
}

/** Poll `cond` until it holds; throws with `label` after `timeoutMs`. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, label = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw MQTT 3.1.1 client (tests that play a device by hand). Resolves once connected (or rejects on refusal). */
export function rawClient(url: string, id: string, password: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { protocolVersion: 4, clientId: id, username: id, password, reconnectPeriod: 0, connectTimeout: 5000, ...extra });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
  });
}

/** A TCP proxy in front of a broker: `cut()` drops every connection and refuses new ones until `restore()`. */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((inbound) => {
      const outbound = connect(this.target.port, this.target.host);
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async cut(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }

  restore(): Promise<void> {
    return this.start();
  }

  close(): Promise<void> {
    return this.cut();
  }
}

export const brokerAddress = (url: string): { host: string; port: number } => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 1883) };
};

export type ServeMode = 'ok' | 'truncate' | 'tamper' | 'drop-midway';

/** A real HTTP server for artifacts on 127.0.0.1, honouring Range; each file can be made to misbehave. */
export class ArtifactServer {
  private server?: HttpServer;
  private readonly files = new Map<string, { bytes: Buffer; mode: ServeMode }>();
  readonly requests: { path: string; range?: string; status: number }[] = [];
  url = '';

  async start(): Promise<void> {
    this.server = createHttpServer((req, res) => {
      const f = this.files.get(req.url ?? '');
      const range = req.headers.range;
      if (!f) {
        this.requests.push({ path: req.url ?? '', range, status: 404 });
        res.writeHead(404).end();
        return;
      }
      let body = f.bytes;
      if (f.mode === 'truncate') body = body.subarray(0, Math.floor(body.length / 2));
      if (f.mode === 'tamper') {
        body = Buffer.from(body);
        body[Math.floor(body.length / 2)] ^= 0xff;
      }
      let start = 0;
      const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
      if (m) start = Number(m[1]);
      if (start >= body.length && body.length > 0 && m) {
        this.requests.push({ path: req.url!, range, status: 416 });
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      const status = m ? 206 : 200;
      this.requests.push({ path: req.url!, range, status });
      const part = body.subarray(start);
      if (f.mode === 'drop-midway' && !m) {
        // Send half the body then cut the connection: the client must resume with Range.
        res.writeHead(200, { 'content-length': String(part.length) });
        res.write(part.subarray(0, Math.floor(part.length / 2)), () => res.destroy());
        return;
      }
      res.writeHead(status, { 'content-length': String(part.length), ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
      res.end(part);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Serve a file at `/name`; returns its URL, sha256 and size. */
  add(name: string, path: string, mode: ServeMode = 'ok'): { url: string; sha256: string; sizeBytes: number } {
    const bytes = readFileSync(path);
    this.files.set(`/${name}`, { bytes, mode });
    return { url: `${this.url}/${name}`, sha256: sha256Hex(bytes), sizeBytes: bytes.length };
  }

  setMode(name: string, mode: ServeMode): void {
    this.files.get(`/${name}`)!.mode = mode;
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
