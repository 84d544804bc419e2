/**
 * The embedded MQTT broker: aedes on a TCP socket, with kiln's policies as its hooks. A device
 * authenticates with its id (as client id and username) and secret (as password) and may use only
 * its own topics: publish reported/telemetry/presence, subscribe desired and telemetry/ack. The
 * cloud gateway connects as one privileged client. Refusals are counted and logged. The only module
 * that imports aedes.
 */
import { Aedes, type AedesOptions, type Client } from 'aedes';
import { createServer, type Server } from 'node:net';
import { Readable } from 'node:stream';
import { deviceTopics, isDeviceId } from '../../protocol/sync.js';
import type { Logger } from '../../logger.js';
import { listen } from '../listen.js';

export type RefusalKind = 'connect' | 'publish' | 'subscribe';

export interface BrokerPolicy {
  /** Whether a device's credentials are right. */
  checkDevice(id: string, secret: string): boolean;
  /** The privileged cloud client's username and password. */
  cloud: { username: string; password: string };
  /** Told of each refusal (the gateway counts them). */
  onRefused(kind: RefusalKind, info: { clientId?: string; topic?: string; reason: string }): void;
  logger: Logger;
}

export interface EmbeddedBroker {
  readonly url: string;
  readonly port: number;
  /** Connected clients now. */
  clients(): number;
  close(): Promise<void>;
}

/** Which topics a device may publish to and subscribe to. */
export function deviceAcl(id: string): { publish: ReadonlySet<string>; subscribe: ReadonlySet<string> } {
  const t = deviceTopics(id);
  return { publish: new Set([t.reported, t.telemetry, t.presence]), subscribe: new Set([t.desired, t.telemetryAck]) };
}

/** The part of aedes' mqemitter that `boundEmitterDepth` wraps (its instance method; fastparallel's `released` calls it). */
export interface QueuedEmitter {
  current: number;
  _do(message: unknown, callback: () => void): unknown;
}

/** Deliveries started on one call stack before the next one waits for a fresh stack. */
export const MAX_EMITTER_DEPTH = 64;

/**
 * aedes' mqemitter bounds deliveries in progress (`concurrency`, 100) and queues the rest; when a
 * delivery completes it starts the next queued one *on the same call stack* (fastparallel's
 * `released` → `_do` → the subscribers' handlers → their callbacks → `released` …). A burst of
 * thousands of publishes whose deliveries complete synchronously (no subscriber, QoS 0, a handler
 * that calls back at once) recurses once per queued message: with 5,000+ devices connecting it ended
 * in `RangeError: Maximum call stack size exceeded` in `_do` (bench/rollout.ts; upstream
 * mcollina/mqemitter#204, still open). Here `_do` counts how deep it is nested; past
 * MAX_EMITTER_DEPTH the delivery waits in a FIFO, which is drained in a loop on the next turn of the
 * event loop. A waiting delivery keeps its concurrency slot, and while any wait every later one
 * queues behind them: deliveries still start in the order mqemitter started them, and the bound holds.
 */
export function boundEmitterDepth(mq: QueuedEmitter): void {
  const run = mq._do;
  const waiting: { message: unknown; callback: () => void }[] = [];
  let depth = 0;
  let scheduled = false;
  const start = (self: QueuedEmitter, message: unknown, callback: () => void) => {
    depth++;
    try {
      return run.call(self, message, callback);
    } finally {
      depth--;
    }
  };
  const drain = () => {
    scheduled = false;
    while (waiting.length) {
      const next = waiting.shift()!;
      mq.current--;
      start(mq, next.message, next.callback);
    }
  };
  mq._do = function boundedDo(this: QueuedEmitter, message: unknown, callback: () => void) {
    if (depth < MAX_EMITTER_DEPTH && waiting.length === 0) return start(this, message, callback);
    this.current++; // the slot its predecessor freed stays taken while it waits
    waiting.push({ message, callback });
    if (!scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
    return this;
  };
}

/** The part of aedes' persistence that `indexRetained` wraps. */
export interface RetainedStore {
  storeRetained(packet: { topic: string; payload: Buffer | Uint8Array | string; retain?: boolean }): Promise<void>;
  createRetainedStreamCombi(patterns: string[]): Readable;
  createRetainedStream(pattern: string): Readable;
}

/**
 * aedes' memory persistence answers every SUBSCRIBE by testing the filter against *every* retained
 * message (aedes-persistence 11 `retainedMessagesByPattern`): with 10,000 devices each subscribing to
 * its own topics while 20,000+ messages are retained, connecting the fleet was quadratic (5,000 devices
 * took 88 s; 10,000 had not connected in 100 s). Here the retained messages are also kept in a map by
 * topic, and a SUBSCRIBE whose filters have no wildcard (every device's) is answered from it; any
 * other goes to the persistence as before.
 */
export function indexRetained(store: RetainedStore): void {
  const byTopic = new Map<string, object>();
  const store0 = store.storeRetained.bind(store);
  const combi0 = store.createRetainedStreamCombi.bind(store);
  const single0 = store.createRetainedStream.bind(store);
  const exact = (p: string) => !p.includes('+') && !p.includes('#');
  store.storeRetained = async (packet) => {
    await store0(packet);
    if (packet.payload.length === 0) byTopic.delete(packet.topic);
    else byTopic.set(packet.topic, { ...packet });
  };
  store.createRetainedStreamCombi = (patterns) =>
    patterns.every(exact) ? Readable.from(patterns.flatMap((p) => (byTopic.has(p) ? [byTopic.get(p)!] : []))) : combi0(patterns);
  store.createRetainedStream = (pattern) => (exact(pattern) ? Readable.from(byTopic.has(pattern) ? [byTopic.get(pattern)!] : []) : single0(pattern));
}

export async function startEmbeddedBroker(policy: BrokerPolicy, options: { host?: string; port?: number } = {}): Promise<EmbeddedBroker> {
  const identities = new WeakMap<Client, { kind: 'cloud' } | { kind: 'device'; id: string }>();
  const log = policy.logger;
  const refuse = (kind: RefusalKind, info: { clientId?: string; topic?: string; reason: string }) => {
    policy.onRefused(kind, info);
    log.warn(`mqtt ${kind} refused`, info);
  };
  const authError = (msg: string) => Object.assign(new Error(msg), { returnCode: 4 as const });

  const hooks: AedesOptions = {
    maxClientsIdLength: 128,
    // A frozen subscriber must not stall every other client.
    drainTimeout: 10_000,
    authenticate(client, username, password, done) {
      const pw = password ? password.toString('utf8') : '';
      if (username === policy.cloud.username && pw === policy.cloud.password) {
        identities.set(client, { kind: 'cloud' });
        return done(null, true);
      }
      const id = client.id;
      let ok = false;
      try {
        ok = isDeviceId(id) && username === id && policy.checkDevice(id, pw);
      } catch (err) {
        // The registry failed (or is closing): refuse, say so, and let the device retry.
        log.error('mqtt connect: cannot check the device', { clientId: String(id).slice(0, 128), error: (err as Error).message });
        return done(Object.assign(new Error('server unavailable'), { returnCode: 3 as const }), false);
      }
      if (!ok) {
        refuse('connect', { clientId: String(id).slice(0, 128), reason: username !== id ? 'username is not the client id' : 'bad device id or secret' });
        return done(authError('bad username or password'), false);
      }
      identities.set(client, { kind: 'device', id });
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      if (!client) {
        // aedes re-publishing a stored Last Will of a client that is gone: only presence wills are ever accepted.
        return /^kiln\/v1\/devices\/[^/]+\/presence$/.test(packet.topic) ? done(null) : done(new Error('will refused'));
      }
      const who = identities.get(client);
      if (who?.kind === 'cloud') return done(null);
      if (who?.kind === 'device' && deviceAcl(who.id).publish.has(packet.topic)) return done(null);
      refuse('publish', { clientId: client.id, topic: packet.topic.slice(0, 200), reason: 'not one of its own topics' });
      done(new Error(`publish to ${packet.topic} not allowed`));
    },
    authorizeSubscribe(client, sub, done) {
      const who = identities.get(client);
      if (who?.kind === 'cloud') return done(null, sub);
      if (who?.kind === 'device' && deviceAcl(who.id).subscribe.has(sub.topic)) return done(null, sub);
      refuse('subscribe', { clientId: client.id, topic: sub.topic.slice(0, 200), reason: 'not one of its own topics' });
      // A negative SUBACK (0x80) for this filter; the connection stays up.
      done(null, null);
    },
  };
  const broker = await Aedes.createBroker(hooks);
  boundEmitterDepth((broker as unknown as { mq: QueuedEmitter }).mq);
  indexRetained((broker as unknown as { persistence: RetainedStore }).persistence);
  broker.on('clientError', (client, err) => log.debug('mqtt client error', { clientId: client?.id, error: err.message }));
  broker.on('connectionError', (client, err) => log.debug('mqtt connection error', { clientId: client?.id, error: err.message }));
  const server: Server = createServer(broker.handle);
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  log.info('embedded mqtt broker listening', { url: `mqtt://${host}:${port}` });
  return {
    url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    clients: () => broker.connectedClients,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
