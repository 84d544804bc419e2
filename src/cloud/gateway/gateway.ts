/**
 * The cloud's device gateway: the device registry, the broker (aedes embedded by default, or any
 * MQTT 3.1.1 broker by URL), and one privileged MQTT client that ingests what devices publish and
 * writes their desired state.
 *
 * - telemetry: validated, stored de-duplicated on (device, record id), then acknowledged by id on
 *   the device's telemetry/ack topic (the device deletes a record only on that ack). What arrives
 *   together is stored in one transaction and acknowledged with one ack per device;
 * - with an external broker, telemetry comes in over several connections sharing one subscription
 *   (`$share/…`), so no single connection's queue at the broker has to hold a fleet's burst (Mosquitto
 *   keeps 1000 per client by default and drops the rest); the embedded broker (aedes: no shared
 *   subscriptions, no per-client queue limit) uses the one connection;
 * - reported state and presence (online, or offline by Last Will) update the registry;
 * - `setDesiredState` stores the document and publishes it retained at QoS 1; every desired state is
 *   published again whenever the gateway (re)connects, so a broker that lost its retained messages
 *   is refilled;
 * - malformed, oversize and unknown-device messages are dropped and counted; refused connects,
 *   publishes and subscribes (embedded broker) are counted and logged. Nothing here throws on input.
 *
 * With an external broker, per-device ACLs are the broker's job (see docs/sync.md for Mosquitto).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import {
  allDevicesFilter,
  deviceTopics,
  encodeMessage,
  MAX_PAYLOAD_BYTES,
  MAX_TELEMETRY_BATCH,
  parseMessage,
  SYNC_PROTOCOL_VERSION,
  type DesiredModel,
  type DesiredState,
  type Presence,
  type ReportedState,
  type TelemetryRecord,
} from '../../protocol/sync.js';
import { startEmbeddedBroker, type EmbeddedBroker, type RefusalKind } from './broker.js';
import { DeviceRegistry, type AddDeviceOptions, type DeviceRecord, type NewDevice } from './registry.js';
import { silentLogger, type Logger } from '../../logger.js';

/** Desired-state publishes awaiting the broker's PUBACK at once (setDesiredStates). */
const PUBLISH_CONCURRENCY = 500;

/** What devices send is stored this often, in one transaction, ms (every commit costs; a report waits at most this long). */
const FLUSH_MS = 100;
/** …or at once when this many telemetry records wait. */
const MAX_INGEST_RECORDS = 5000;
/** After a failed store, the next try, ms. */
const RETRY_FLUSH_MS = 1000;

/** Resolve on the client's first connect, reject on an error before it. */
function once(client: MqttClient): Promise<void> {
  if (client.connected) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onErr = (err: Error) => {
      client.off('connect', onOk);
      reject(err);
    };
    const onOk = () => {
      client.off('error', onErr);
      resolve();
    };
    client.once('connect', onOk);
    client.once('error', onErr);
  });
}

export interface GatewayOptions {
  /** The registry's SQLite file (':memory:' for a throwaway one). */
  dbPath: string;
  /** An external broker (mqtt://host:port); the gateway connects as a privileged client. @default an embedded aedes broker */
  brokerUrl?: string;
  /** Credentials of the privileged client on an external broker. @default none */
  username?: string;
  password?: string;
  /** Embedded broker address. @default '127.0.0.1' */
  host?: string;
  /** Embedded broker port (0 = a free one). @default 0 */
  port?: number;
  /** Largest payload accepted, bytes. @default MAX_PAYLOAD_BYTES (256 KiB) */
  maxPayloadBytes?: number;
  /**
   * Connections that share the telemetry subscription (`$share/kiln-cloud/…`) on an external broker.
   * 1: the one gateway connection subscribes plainly (a broker without shared subscriptions). @default 4
   */
  ingestConnections?: number;
  /**
   * The shared subscription's group. Cloud instances of one fleet (one database) name the same group
   * so that each message reaches one of them; another cloud on the same broker must name another.
   * @default a group of this gateway alone
   */
  shareGroup?: string;
  logger?: Logger;
}

export interface GatewayStats {
  /** Messages dropped, by reason (bad-topic, too-large, bad-json, bad-schema, bad-version, unknown-device). */
  dropped: Record<string, number>;
  /** Refused connects, publishes and subscribes (embedded broker). */
  refused: Record<RefusalKind, number>;
  telemetry: { batches: number; records: number; duplicates: number; failed: number };
  /** The broker connection: whether up, and the last error (storage or MQTT) with when it happened. */
  health: { connected: boolean; ingestConnections: number; lastError: { at: string; what: string; error: string } | null };
}

export interface GatewayEvents {
  telemetry: [{ deviceId: string; inserted: number; duplicates: number; ids: string[] }];
  reported: [{ deviceId: string; state: ReportedState }];
  presence: [{ deviceId: string; state: Presence['state'] }];
  dropped: [{ reason: string; topic: string; error: string }];
  refused: [{ kind: RefusalKind; clientId?: string; topic?: string; reason: string }];
}

export class DeviceGateway extends EventEmitter<GatewayEvents> {
  readonly registry: DeviceRegistry;
  private readonly log: Logger;
  private readonly maxPayloadBytes: number;
  private readonly cloudCreds = { username: `kiln-cloud`, password: randomBytes(24).toString('base64url') };
  private embedded?: EmbeddedBroker;
  private embeddedPort?: number;
  private client?: MqttClient;
  /** Extra connections sharing the telemetry subscription (external broker). */
  private ingest: MqttClient[] = [];
  private url = '';
  private readonly counts: Omit<GatewayStats, 'health'> = {
    dropped: {},
    refused: { connect: 0, publish: 0, subscribe: 0 },
    telemetry: { batches: 0, records: 0, duplicates: 0, failed: 0 },
  };
  private lastError: GatewayStats['health']['lastError'] = null;
  /** What devices sent and is not stored yet: stored together, in one transaction, every FLUSH_MS. */
  private pendingTelemetry: { deviceId: string; records: TelemetryRecord[] }[] = [];
  private pendingReported: { deviceId: string; state: ReportedState }[] = [];
  private pendingOnline: { deviceId: string; online: boolean }[] = [];
  private pendingRecords = 0;
  private flushTimer?: NodeJS.Timeout;
  private closed = false;

  private constructor(private readonly options: GatewayOptions) {
    super();
    this.log = options.logger ?? silentLogger;
    this.maxPayloadBytes = options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
    this.registry = new DeviceRegistry(options.dbPath);
  }

  /** Start the registry, the broker (unless external) and the cloud's MQTT client. */
  static async start(options: GatewayOptions): Promise<DeviceGateway> {
    const g = new DeviceGateway(options);
    try {
      if (options.brokerUrl) g.url = options.brokerUrl;
      else await g.startBroker();
      await g.connect();
    } catch (err) {
      await g.close();
      throw err;
    }
    return g;
  }

  /** The broker URL devices connect to. */
  get brokerUrl(): string {
    return this.url;
  }

  get isEmbedded(): boolean {
    return !this.options.brokerUrl;
  }

  /** (Re)start the embedded broker, on the same port as before when it ran already. */
  async startBroker(): Promise<void> {
    if (this.options.brokerUrl) throw new TypeError('startBroker: this gateway uses an external broker');
    if (this.embedded) return;
    this.embedded = await startEmbeddedBroker(
      {
        checkDevice: (id, secret) => this.registry.checkSecret(id, secret),
        cloud: this.cloudCreds,
        onRefused: (kind, info) => {
          this.counts.refused[kind]++;
          this.registry.addCounter(`refused.${kind}`);
          this.emit('refused', { kind, ...info });
        },
        logger: this.log,
      },
      { host: this.options.host, port: this.embeddedPort ?? this.options.port ?? 0 },
    );
    this.embeddedPort = this.embedded.port;
    this.url = this.embedded.url;
  }

  /** Stop the embedded broker (tests: a broker outage). Sessions and retained messages are lost, as on a real restart without persistence. */
  async stopBroker(): Promise<void> {
    const b = this.embedded;
    this.embedded = undefined;
    await b?.close();
  }

  private clientOptions(): mqtt.IClientOptions {
    const creds = this.options.brokerUrl ? { username: this.options.username, password: this.options.password } : this.cloudCreds;
    return {
      protocolVersion: 4,
      clientId: `kiln-cloud-${randomBytes(6).toString('hex')}`,
      clean: true,
      keepalive: 10,
      reconnectPeriod: 500,
      connectTimeout: 10_000,
      ...creds,
    };
  }

  private async connect(): Promise<void> {
    const shared = this.options.brokerUrl ? Math.max(1, Math.floor(this.options.ingestConnections ?? 4)) : 1;
    const group = this.options.shareGroup ?? `kiln-cloud-${randomBytes(6).toString('hex')}`;
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(group)) throw new RangeError(`shareGroup '${group}': use 1–64 of A-Z a-z 0-9 . _ -`);
    const telemetryFilter = shared > 1 ? `$share/${group}/${allDevicesFilter('telemetry')}` : allDevicesFilter('telemetry');
    const client = mqtt.connect(this.url, this.clientOptions());
    this.client = client;
    client.on('connect', () => {
      this.log.info('gateway connected to the broker', { url: this.url });
      // Reports and presence are retained state: a fresh SUBSCRIBE (clean session, on every connect)
      // delivers the latest of each again, and devices re-publish their reports every minute. QoS 0
      // keeps them out of the broker's QoS 1 window and queue for this one client, which a fleet's
      // telemetry fills: Mosquitto then dropped reports and held a rollout (bench/rollout.ts, 1000
      // devices). A report lost anyway is read again from the broker's retained copy (`resyncReported`).
      // Telemetry stays QoS 1 for its flow control; it is acknowledged by record id anyway.
      const subs: mqtt.ISubscriptionMap = { [allDevicesFilter('reported')]: { qos: 0 }, [allDevicesFilter('presence')]: { qos: 0 } };
      subs[telemetryFilter] = { qos: 1 };
      client.subscribe(subs, (err) => {
        if (err) this.fail('subscribe', err);
      });
      this.republishDesired();
    });
    client.on('error', (err) => this.fail('mqtt', err, 'warn'));
    client.on('close', () => this.log.debug('gateway connection closed', { url: this.url }));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    const ready = [once(client)];
    for (let i = 1; i < shared; i++) {
      const c = mqtt.connect(this.url, this.clientOptions());
      c.on('connect', () => c.subscribe({ [telemetryFilter]: { qos: 1 } }, (err) => err && this.fail('subscribe', err)));
      c.on('error', (err) => this.fail('mqtt', err, 'warn'));
      c.on('message', (topic, payload) => this.onMessage(topic, payload));
      this.ingest.push(c);
      ready.push(once(c));
    }
    await Promise.all(ready);
  }

  /** Note a failure: logged, counted, and kept as the last error (GET /api/health shows it). */
  private fail(what: string, err: Error, level: 'warn' | 'error' = 'error'): void {
    this.lastError = { at: new Date().toISOString(), what, error: err.message.slice(0, 500) };
    this.log[level](`gateway ${what} failed`, { error: err.message });
  }

  /**
   * Read these devices' reported state and presence again from the broker's retained copies (a
   * SUBSCRIBE delivers them; then UNSUBSCRIBE): for reports a broker dropped on the way to the cloud.
   */
  async resyncReported(deviceIds: readonly string[]): Promise<void> {
    const c = this.client;
    if (!c?.connected || !deviceIds.length) return;
    for (let i = 0; i < deviceIds.length; i += 200) {
      const topics = deviceIds.slice(i, i + 200).flatMap((id) => [deviceTopics(id).reported, deviceTopics(id).presence]);
      await c.subscribeAsync(topics, { qos: 0 });
      await c.unsubscribeAsync(topics);
    }
  }

  private republishDesired(): void {
    for (const d of this.registry.list())
      if (d.desired)
        this.publishDesired(d.id, d.desired).catch((err: Error) => this.log.warn('republish desired failed', { deviceId: d.id, error: err.message }));
  }

  private drop(reason: string, topic: string, error: string): void {
    this.counts.dropped[reason] = (this.counts.dropped[reason] ?? 0) + 1;
    this.registry.addCounter(`dropped.${reason}`);
    this.log.warn('mqtt message dropped', { reason, topic: topic.slice(0, 200), error: error.slice(0, 300) });
    this.emit('dropped', { reason, topic, error });
  }

  private onMessage(topic: string, payload: Buffer): void {
    try {
      const r = parseMessage(topic, payload, this.maxPayloadBytes);
      if (!r.ok) return this.drop(r.code, topic, r.error);
      const m = r.message;
      if (!this.registry.has(m.deviceId)) return this.drop('unknown-device', topic, `device '${m.deviceId}' is not in the registry`);
      switch (m.kind) {
        case 'telemetry':
          this.pendingTelemetry.push({ deviceId: m.deviceId, records: m.payload.records });
          this.pendingRecords += m.payload.records.length;
          return this.scheduleFlush();
        case 'reported':
          this.pendingReported.push({ deviceId: m.deviceId, state: m.payload });
          return this.scheduleFlush();
        case 'presence':
          this.pendingOnline.push({ deviceId: m.deviceId, online: m.payload.state === 'online' });
          return this.scheduleFlush();
        default:
          return this.drop('bad-topic', topic, `devices do not publish ${m.kind}`);
      }
    } catch (err) {
      // A database error must not take the gateway down: the record stays in the device's outbox.
      this.log.error('gateway failed to handle a message', { topic: topic.slice(0, 200), error: (err as Error).message });
    }
  }

  private scheduleFlush(): void {
    if (this.pendingRecords >= MAX_INGEST_RECORDS) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /**
   * Store what arrived since the last flush in one transaction (one commit per message took the
   * gateway's event loop at 10,000 devices), then tell: events for the reports, presence and
   * telemetry stored, and one telemetry ack per device (≤ MAX_TELEMETRY_BATCH ids each). When storing
   * fails nothing is acknowledged (the devices keep the records and send them again) and the reports
   * are kept for the next flush.
   */
  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batches = this.pendingTelemetry;
    const reported = this.pendingReported;
    const online = this.pendingOnline;
    this.pendingTelemetry = [];
    this.pendingReported = [];
    this.pendingOnline = [];
    this.pendingRecords = 0;
    if (!batches.length && !reported.length && !online.length) return;
    let results: { inserted: number; duplicates: number }[];
    try {
      // Reports and presence are whole states, in order per device: the newest of each is stored.
      results = this.registry.writeMany({
        telemetry: batches,
        reported: new Map(reported.map((r) => [r.deviceId, r.state])),
        online: new Map(online.map((o) => [o.deviceId, o.online])),
      });
    } catch (err) {
      this.counts.telemetry.failed += batches.length;
      this.fail('store', err as Error);
      // Reports and presence are kept for the next try, before whatever came since.
      if (!this.closed) {
        this.pendingReported = [...reported, ...this.pendingReported];
        this.pendingOnline = [...online, ...this.pendingOnline];
        this.flushTimer ??= setTimeout(() => this.flush(), RETRY_FLUSH_MS);
      }
      return;
    }
    for (const o of online) this.emit('presence', { deviceId: o.deviceId, state: o.online ? 'online' : 'offline' });
    for (const r of reported) this.emit('reported', r);
    const acks = new Map<string, string[]>();
    batches.forEach((b, i) => {
      const ids = b.records.map((r) => r.id);
      const res = results[i];
      this.counts.telemetry.batches++;
      this.counts.telemetry.records += res.inserted;
      this.counts.telemetry.duplicates += res.duplicates;
      const list = acks.get(b.deviceId) ?? [];
      for (const id of ids) list.push(id);
      acks.set(b.deviceId, list);
      this.emit('telemetry', { deviceId: b.deviceId, ...res, ids });
    });
    // Stored (committed): now the devices may delete them.
    for (const [deviceId, ids] of acks) {
      for (let i = 0; i < ids.length; i += MAX_TELEMETRY_BATCH) {
        this.client?.publish(
          deviceTopics(deviceId).telemetryAck,
          encodeMessage('telemetry/ack', { v: SYNC_PROTOCOL_VERSION, ids: ids.slice(i, i + MAX_TELEMETRY_BATCH) }),
          { qos: 1 },
        );
      }
    }
  }

  /** Provision a device: returns its id and secret (the secret is shown once; only its hash is kept). */
  addDevice(name: string, options: AddDeviceOptions = {}): NewDevice {
    return this.registry.addDevice(name, options);
  }

  device(id: string): DeviceRecord | undefined {
    return this.registry.get(id);
  }

  devices(filter?: { group?: string; tag?: string }): DeviceRecord[] {
    return this.registry.list(filter);
  }

  /**
   * Write what a device should run: stored, then published retained at QoS 1 (resolves on the
   * broker's PUBACK). A device that is offline gets it when it reconnects.
   */
  async setDesiredState(deviceId: string, models: Readonly<Record<string, DesiredModel>>): Promise<DesiredState> {
    if (!this.registry.has(deviceId)) throw new RangeError(`setDesiredState: no device '${deviceId}' in the registry`);
    const state: DesiredState = {
      v: SYNC_PROTOCOL_VERSION,
      version: this.registry.nextDesiredVersion(deviceId),
      models: { ...models },
      updatedAt: new Date().toISOString(),
    };
    encodeMessage('desired', state); // validates (TypeError on a bad document) before anything is stored
    this.registry.setDesired(deviceId, state);
    await this.publishDesired(deviceId, state);
    return state;
  }

  /**
   * `setDesiredState` for many devices: stored in one transaction, then published (up to
   * PUBLISH_CONCURRENCY awaiting the broker's PUBACK at once). Resolves with each device's outcome;
   * a device that is not in the registry or a publish that failed is an error there, not a throw
   * (the stored document is published again on the next reconnect).
   */
  async setDesiredStates(
    writes: readonly { deviceId: string; models: Readonly<Record<string, DesiredModel>> }[],
  ): Promise<Map<string, { state?: DesiredState; error?: Error }>> {
    const updatedAt = new Date().toISOString();
    for (const w of writes) encodeMessage('desired', { v: SYNC_PROTOCOL_VERSION, version: 0, models: { ...w.models }, updatedAt }); // validates first
    const stored = this.registry.setDesiredMany(
      writes.map((w) => ({ deviceId: w.deviceId, make: (version) => ({ v: SYNC_PROTOCOL_VERSION, version, models: { ...w.models }, updatedAt }) })),
    );
    const out = new Map<string, { state?: DesiredState; error?: Error }>();
    for (const w of writes)
      if (!stored.has(w.deviceId)) out.set(w.deviceId, { error: new RangeError(`setDesiredStates: no device '${w.deviceId}' in the registry`) });
    const list = [...stored];
    let next = 0;
    const worker = async () => {
      while (next < list.length) {
        const [deviceId, state] = list[next++];
        try {
          await this.publishDesired(deviceId, state);
          out.set(deviceId, { state });
        } catch (err) {
          out.set(deviceId, { state, error: err as Error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUBLISH_CONCURRENCY, list.length) }, worker));
    return out;
  }

  private publishDesired(deviceId: string, state: DesiredState): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('the gateway is not connected'));
    return new Promise((resolve, reject) =>
      client.publish(deviceTopics(deviceId).desired, encodeMessage('desired', state), { qos: 1, retain: true }, (err) => (err ? reject(err) : resolve())),
    );
  }

  stats(): GatewayStats {
    return {
      ...structuredClone(this.counts),
      health: { connected: this.client?.connected === true, ingestConnections: 1 + this.ingest.length, lastError: this.lastError && { ...this.lastError } },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    clearTimeout(this.flushTimer);
    await Promise.all([this.client, ...this.ingest].map((c) => new Promise<void>((resolve) => (c ? c.end(true, {}, () => resolve()) : resolve()))));
    await this.embedded?.close();
    this.registry.close();
  }
}

export const startGateway = (options: GatewayOptions): Promise<DeviceGateway> => DeviceGateway.start(options);
