/**
 * The cloud's device gateway: the device registry, the broker (aedes embedded by default, or any
 * MQTT 3.1.1 broker by URL), and one privileged MQTT client that ingests what devices publish and
 * writes their desired state.
 *
 * - telemetry: validated, stored de-duplicated on (device, record id), then acknowledged by id on
 *   the device's telemetry/ack topic (the device deletes a record only on that ack);
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
  parseMessage,
  SYNC_PROTOCOL_VERSION,
  type DesiredModel,
  type DesiredState,
  type Presence,
  type ReportedState,
} from '../../protocol/sync.js';
import { startEmbeddedBroker, type EmbeddedBroker, type RefusalKind } from './broker.js';
import { DeviceRegistry, type AddDeviceOptions, type DeviceRecord, type NewDevice } from './registry.js';
import { silentLogger, type Logger } from '../../logger.js';

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
  logger?: Logger;
}

export interface GatewayStats {
  /** Messages dropped, by reason (bad-topic, too-large, bad-json, bad-schema, bad-version, unknown-device). */
  dropped: Record<string, number>;
  /** Refused connects, publishes and subscribes (embedded broker). */
  refused: Record<RefusalKind, number>;
  telemetry: { batches: number; records: number; duplicates: number };
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
  private url = '';
  private readonly counts: GatewayStats = { dropped: {}, refused: { connect: 0, publish: 0, subscribe: 0 }, telemetry: { batches: 0, records: 0, duplicates: 0 } };
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

  private connect(): Promise<void> {
    const creds = this.options.brokerUrl ? { username: this.options.username, password: this.options.password } : this.cloudCreds;
    const client = mqtt.connect(this.url, {
      protocolVersion: 4,
      clientId: `kiln-cloud-${randomBytes(6).toString('hex')}`,
      clean: true,
      keepalive: 10,
      reconnectPeriod: 500,
      connectTimeout: 10_000,
      ...creds,
    });
    this.client = client;
    client.on('connect', () => {
      this.log.info('gateway connected to the broker', { url: this.url });
      // Reports and presence are retained state: a fresh SUBSCRIBE (clean session, on every connect)
      // delivers the latest of each again, and devices re-publish their reports every minute. QoS 0
      // keeps them out of the broker's QoS 1 window and queue for this one client, which a fleet's
      // telemetry fills: Mosquitto then dropped reports and held a rollout (bench/rollout.ts, 1000
      // devices). Telemetry stays QoS 1 for its flow control; it is acknowledged by record id anyway.
      client.subscribe(
        { [allDevicesFilter('telemetry')]: { qos: 1 }, [allDevicesFilter('reported')]: { qos: 0 }, [allDevicesFilter('presence')]: { qos: 0 } },
        (err) => {
          if (err) this.log.error('gateway subscribe failed', { error: err.message });
        },
      );
      this.republishDesired();
    });
    client.on('error', (err) => this.log.warn('gateway mqtt error', { error: err.message }));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
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

  private republishDesired(): void {
    for (const d of this.registry.list()) if (d.desired) this.publishDesired(d.id, d.desired).catch((err: Error) => this.log.warn('republish desired failed', { deviceId: d.id, error: err.message }));
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
        case 'telemetry': {
          const ids = m.payload.records.map((x) => x.id);
          const res = this.registry.ingest(m.deviceId, m.payload.records);
          this.counts.telemetry.batches++;
          this.counts.telemetry.records += res.inserted;
          this.counts.telemetry.duplicates += res.duplicates;
          // Stored (committed): now the device may delete them.
          this.client?.publish(deviceTopics(m.deviceId).telemetryAck, encodeMessage('telemetry/ack', { v: SYNC_PROTOCOL_VERSION, ids }), { qos: 1 });
          this.emit('telemetry', { deviceId: m.deviceId, ...res, ids });
          return;
        }
        case 'reported':
          this.registry.setReported(m.deviceId, m.payload);
          this.emit('reported', { deviceId: m.deviceId, state: m.payload });
          return;
        case 'presence':
          this.registry.setOnline(m.deviceId, m.payload.state === 'online');
          this.emit('presence', { deviceId: m.deviceId, state: m.payload.state });
          return;
        default:
          return this.drop('bad-topic', topic, `devices do not publish ${m.kind}`);
      }
    } catch (err) {
      // A database error must not take the gateway down: the record stays in the device's outbox.
      this.log.error('gateway failed to handle a message', { topic: topic.slice(0, 200), error: (err as Error).message });
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
    const state: DesiredState = { v: SYNC_PROTOCOL_VERSION, version: this.registry.nextDesiredVersion(deviceId), models: { ...models }, updatedAt: new Date().toISOString() };
    encodeMessage('desired', state); // validates (TypeError on a bad document) before anything is stored
    this.registry.setDesired(deviceId, state);
    await this.publishDesired(deviceId, state);
    return state;
  }

  private publishDesired(deviceId: string, state: DesiredState): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('the gateway is not connected'));
    return new Promise((resolve, reject) => client.publish(deviceTopics(deviceId).desired, encodeMessage('desired', state), { qos: 1, retain: true }, (err) => (err ? reject(err) : resolve())));
  }

  stats(): GatewayStats {
    return structuredClone(this.counts);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => (this.client ? this.client.end(true, {}, () => resolve()) : resolve()));
    await this.embedded?.close();
    this.registry.close();
  }
}

export const startGateway = (options: GatewayOptions): Promise<DeviceGateway> => DeviceGateway.start(options);
