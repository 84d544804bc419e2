/**
 * The agent's sync client: one MQTT 3.1.1 connection to the cloud (client id = device id,
 * persistent session, QoS 1, a retained Last Will saying offline, keep-alive of seconds, reconnect
 * with exponential backoff and jitter).
 *
 * Telemetry: the outbox (SQLite) is drained in order, in batches carrying the rows' own ids; a row
 * is deleted only when the cloud acknowledges its id (not on PUBACK: the broker having it is not the
 * cloud having stored it). Unacknowledged rows are sent again after a while and on every reconnect;
 * the cloud de-duplicates on (device, id). So nothing is lost or counted twice across broker
 * outages, agent restarts and duplicated deliveries. mqtt.js's in-memory queue is not relied on.
 * What is in flight is bounded (records and batches), and re-sends back off: the wait doubles (with
 * jitter) each time rows are sent again without an ack in between, and resets on the next ack, so a
 * cloud that falls behind is not buried under its own fleet's re-sends (10,000 devices re-sending
 * every 10 s sent 3 million records for 36 thousand acks: bench/rollout.ts).
 *
 * Desired state: the retained document is reconciled (reconcile.ts) whenever it arrives or changes;
 * the reported state is published retained after each status change. Inference is never paused.
 */
import mqtt, { type MqttClient } from 'mqtt';
import {
  deviceTopics,
  encodeMessage,
  MAX_PAYLOAD_BYTES,
  parseMessage,
  SYNC_PROTOCOL_VERSION,
  type DesiredState,
  type DeviceTopics,
  type ReportedModel,
  type ReportedState,
  type TelemetryRecord,
} from '../../protocol/sync.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { Outbox } from '../outbox.js';
import { Reconciler, type ReconcileAgent } from './reconcile.js';

/** What the sync client uses of the agent: reconciliation's needs and the outbox. `Agent` implements it; bench/rollout.ts drives a stand-in. */
export interface SyncAgent extends ReconcileAgent {
  readonly outbox: Pick<Outbox, 'peek' | 'ack'>;
}

export interface SyncOptions {
  /** mqtt://host:port (or mqtts://). */
  url: string;
  deviceId: string;
  deviceSecret: string;
  /** Seconds between pings; a dead link is noticed in about 1.5× this. @default 10 */
  keepaliveSeconds?: number;
  /** First reconnect delay, ms (doubles up to the max, with jitter). @default 500 */
  reconnectMinMs?: number;
  /** @default 15000 */
  reconnectMaxMs?: number;
  /** How often the outbox is looked at, ms. @default 500 */
  pollMs?: number;
  /** Records per telemetry batch. @default 100 */
  batchSize?: number;
  /** Most records sent and not yet acknowledged. @default 1000 */
  maxInflight?: number;
  /** Most telemetry batches sent and not yet acknowledged. @default 4 */
  maxInflightBatches?: number;
  /** An unacknowledged record is first sent again after this long (±25 %), ms. @default 10000 */
  resendAfterMs?: number;
  /** The re-send wait doubles per unanswered re-send up to this, ms. @default 300000 */
  resendMaxMs?: number;
  /** Download attempts per artifact. @default 3 */
  downloadAttempts?: number;
  /** First download retry delay, ms. @default 500 */
  downloadRetryMs?: number;
  /** The device's target profile name, reported to the cloud. */
  target?: string;
  /**
   * The reported state is published again this often (±10 %), ms, even when nothing changed. A
   * broker may drop a message to a slow subscriber (Mosquitto does once the cloud's queue is full),
   * and a report is otherwise sent only on a change: a lost one would hold a rollout until the next.
   * @default 60000
   */
  reportEveryMs?: number;
  logger?: Logger;
}

export interface SyncStats {
  connects: number;
  /** Records sent (re-sends included). */
  sent: number;
  /** Records acknowledged and deleted from the outbox. */
  acked: number;
  /** Records sent again (a part of `sent`). */
  resent: number;
  /** Messages from the cloud dropped as malformed. */
  dropped: number;
  connected: boolean;
}

const DEFAULTS = Object.freeze({
  keepaliveSeconds: 10,
  reconnectMinMs: 500,
  reconnectMaxMs: 15_000,
  pollMs: 500,
  batchSize: 100,
  maxInflight: 1000,
  maxInflightBatches: 4,
  resendAfterMs: 10_000,
  resendMaxMs: 300_000,
  reportEveryMs: 60_000,
});

/** `ms` ± 25 %. */
const jitter = (ms: number): number => ms * (0.75 + Math.random() / 2);

export class SyncClient {
  private readonly topics: DeviceTopics;
  private readonly log: Logger;
  private readonly o: Required<Pick<SyncOptions, keyof typeof DEFAULTS>>;
  private client?: MqttClient;
  /** Record id → when it is due to be sent again (ms since the epoch), for records sent and not acknowledged. */
  private readonly inflight = new Map<string, number>();
  /** Batches sent and not fully acknowledged: the ids each still waits for. */
  private readonly batches = new Set<Set<string>>();
  private readonly batchOf = new Map<string, Set<string>>();
  /** The wait before the next re-send; doubles per unanswered re-send, back to resendAfterMs on an ack. */
  private resendWaitMs: number;
  private attempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  private reportTimer?: NodeJS.Timeout;
  private stopped = false;
  private pumping = false;
  private readonly counts = { connects: 0, sent: 0, acked: 0, resent: 0, dropped: 0 };
  private readonly reconciler: Reconciler;
  private desired?: DesiredState;
  private reconciling = false;
  private pending = false;
  private readonly reportedModels: Record<string, ReportedModel> = {};
  private desiredVersion: number | null = null;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly agent: SyncAgent,
    private readonly options: SyncOptions,
  ) {
    this.topics = deviceTopics(options.deviceId);
    if (typeof options.deviceSecret !== 'string' || !options.deviceSecret) throw new TypeError('sync: deviceSecret must be a non-empty string');
    this.log = options.logger ?? silentLogger;
    this.o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([k, v]) => k in DEFAULTS && v !== undefined)) } as SyncClient['o'];
    this.resendWaitMs = this.o.resendAfterMs;
    if (!(this.o.maxInflightBatches >= 1)) throw new RangeError(`sync: maxInflightBatches must be ≥ 1 (got ${String(options.maxInflightBatches)})`);
    if (!(this.o.reportEveryMs >= 10)) throw new RangeError(`sync: reportEveryMs must be a number of ms ≥ 10 (got ${String(options.reportEveryMs)})`);
    this.reconciler = new Reconciler(agent, {
      logger: this.log,
      maxAttempts: options.downloadAttempts,
      retryBaseMs: options.downloadRetryMs,
      alive: () => !this.stopped,
      onStatus: (model, status) => {
        this.reportedModels[model] = status;
        this.publishReported();
        this.notify();
      },
    });
  }

  /** Connect (and keep reconnecting) and start draining the outbox. Returns at once. */
  start(): void {
    if (this.client || this.stopped) return;
    const willPayload = encodeMessage('presence', { v: SYNC_PROTOCOL_VERSION, state: 'offline' });
    const client = mqtt.connect(this.options.url, {
      protocolVersion: 4,
      clientId: this.options.deviceId,
      username: this.options.deviceId,
      password: this.options.deviceSecret,
      clean: false,
      keepalive: this.o.keepaliveSeconds,
      connectTimeout: 10_000,
      // Reconnects are ours (backoff + jitter), not mqtt.js's fixed period.
      reconnectPeriod: 0,
      resubscribe: true,
      will: { topic: this.topics.presence, payload: willPayload, qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', (connack) => {
      this.attempt = 0;
      this.counts.connects++;
      // Whatever was in flight is sent again (the cloud de-duplicates), each device at a moment of its
      // own: a fleet reconnecting after a broker restart does not re-send all at once.
      const now = Date.now();
      for (const id of this.inflight.keys()) this.inflight.set(id, now + Math.random() * Math.min(this.resendWaitMs, 2000));
      this.batches.clear();
      this.batchOf.clear();
      this.log.info('sync connected', { url: this.options.url, deviceId: this.options.deviceId, sessionPresent: connack.sessionPresent });
      client.subscribe({ [this.topics.desired]: { qos: 1 }, [this.topics.telemetryAck]: { qos: 1 } }, (err, granted) => {
        if (err) this.log.error('sync subscribe failed', { error: err.message });
        else if (granted?.some((g) => g.qos === 128))
          this.log.error('sync subscribe refused by the broker', { topics: granted.filter((g) => g.qos === 128).map((g) => g.topic) });
      });
      client.publish(this.topics.presence, encodeMessage('presence', { v: SYNC_PROTOCOL_VERSION, state: 'online', at: new Date().toISOString() }), {
        qos: 1,
        retain: true,
      });
      // What it serves before any desired state names it (preloaded models): the cloud needs a baseline.
      for (const [model, r] of Object.entries(this.reconciler.servingReport())) this.reportedModels[model] ??= r;
      this.publishReported();
      void this.pump();
      this.notify();
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (err) => this.log.warn('sync mqtt error', { error: err.message }));
    client.on('close', () => {
      this.notify();
      this.scheduleReconnect();
    });
    this.pollTimer = setInterval(() => void this.pump(), this.o.pollMs);
    this.pollTimer.unref();
    this.reportTimer = setInterval(() => this.publishReported(), Math.round(this.o.reportEveryMs * (0.9 + Math.random() / 5)));
    this.reportTimer.unref();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer || !this.client) return;
    const base = Math.min(this.o.reconnectMaxMs, this.o.reconnectMinMs * 2 ** this.attempt);
    const delay = base * (0.5 + Math.random() / 2);
    this.attempt = Math.min(this.attempt + 1, 30);
    this.log.debug('sync reconnecting', { inMs: Math.round(delay) });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      const c = this.client;
      // Hand mqtt.js its own stores back: reconnect() without them starts empty ones and forgets
      // the QoS 1 publishes in flight at the cut (their callbacks would never fire).
      if (!this.stopped && c && !c.connected) c.reconnect({ incomingStore: c.incomingStore, outgoingStore: c.outgoingStore });
    }, delay);
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  stats(): SyncStats {
    return { ...this.counts, connected: this.connected };
  }

  /** The reported state as last published. */
  reported(): ReportedState {
    return {
      v: SYNC_PROTOCOL_VERSION,
      desiredVersion: this.desiredVersion,
      models: { ...this.reportedModels },
      ...(this.options.target ? { target: this.options.target } : {}),
      at: new Date().toISOString(),
    };
  }

  /** Resolve when `cond()` holds (checked on every sync event), or reject after `timeoutMs`. */
  waitFor(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (cond()) {
          clearTimeout(t);
          this.waiters.delete(check);
          resolve();
        }
      };
      const t = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`sync: condition not met in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private publishReported(): void {
    if (!this.client?.connected) return;
    this.client.publish(this.topics.reported, encodeMessage('reported', this.reported()), { qos: 1, retain: true });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const r = parseMessage(topic, payload);
    if (!r.ok || r.message.deviceId !== this.options.deviceId) {
      this.counts.dropped++;
      this.log.warn('sync message dropped', { topic: topic.slice(0, 200), error: r.ok ? 'another device' : r.error });
      return;
    }
    const m = r.message;
    if (m.kind === 'telemetry/ack') {
      for (const id of m.payload.ids) {
        if (this.inflight.delete(id)) this.resendWaitMs = this.o.resendAfterMs; // the cloud answers: back to the short wait
        const b = this.batchOf.get(id);
        if (b) {
          this.batchOf.delete(id);
          b.delete(id);
          if (!b.size) this.batches.delete(b);
        }
      }
      try {
        this.counts.acked += this.agent.outbox.ack(m.payload.ids);
      } catch (err) {
        this.log.error('could not delete acknowledged outbox rows', { error: (err as Error).message });
      }
      this.notify();
      void this.pump();
    } else if (m.kind === 'desired') {
      if (this.desired && m.payload.version < this.desired.version) return; // an older document
      this.desired = m.payload;
      void this.reconcile();
    }
  }

  private async reconcile(): Promise<void> {
    if (this.reconciling) {
      this.pending = true;
      return;
    }
    this.reconciling = true;
    try {
      do {
        this.pending = false;
        const d = this.desired;
        if (d) {
          // Reports name the document being worked on (not merely the newest one received).
          this.desiredVersion = d.version;
          await this.reconciler.run(d);
        }
      } while (this.pending && !this.stopped);
    } catch (err) {
      this.log.error('reconcile failed', { error: (err as Error).message });
    } finally {
      this.reconciling = false;
      this.notify();
    }
  }

  /**
   * Send what the outbox holds that is not in flight, and again what waited past its re-send time,
   * within the bounds: maxInflight records and maxInflightBatches batches unacknowledged.
   */
  async pump(): Promise<void> {
    if (this.pumping || this.stopped || !this.client?.connected) return;
    this.pumping = true;
    try {
      const now = Date.now();
      // A batch whose records are all due again (no ack came) no longer counts as in flight.
      for (const b of this.batches) {
        const first = b.values().next().value;
        const dueAt = first === undefined ? undefined : this.inflight.get(first);
        if (dueAt !== undefined && dueAt > now) continue;
        this.batches.delete(b);
        for (const id of b) if (this.batchOf.get(id) === b) this.batchOf.delete(id);
      }
      let room = this.o.maxInflight - this.inflight.size;
      const rows = this.agent.outbox.peek(this.o.maxInflight);
      let batch: TelemetryRecord[] = [];
      let bytes = 0;
      let resends = 0;
      // Rows due again: sent without an answer since, so this round waits twice as long as the last.
      let anyDue = false;
      for (const dueAt of this.inflight.values()) {
        if (dueAt > now) continue;
        anyDue = true;
        break;
      }
      if (anyDue) this.resendWaitMs = Math.min(this.o.resendMaxMs, this.resendWaitMs * 2);
      // One due time per pass: what is sent together is re-sent together.
      const due = now + jitter(this.resendWaitMs);
      const flush = () => {
        if (!batch.length) return;
        this.client!.publish(this.topics.telemetry, encodeMessage('telemetry', { v: SYNC_PROTOCOL_VERSION, records: batch }), { qos: 1 });
        const ids = new Set<string>();
        for (const r of batch) {
          ids.add(r.id);
          this.batchOf.get(r.id)?.delete(r.id);
          this.batchOf.set(r.id, ids);
          this.inflight.set(r.id, due);
        }
        this.batches.add(ids);
        this.counts.sent += batch.length;
        batch = [];
        bytes = 0;
      };
      for (const row of rows) {
        if (this.batches.size >= this.o.maxInflightBatches && !batch.length) break;
        const dueAt = this.inflight.get(row.id);
        if (dueAt !== undefined && now < dueAt) continue;
        if (dueAt === undefined) {
          if (room <= 0) break;
          room--;
        } else resends++;
        const rec: TelemetryRecord = { id: row.id, kind: row.kind, createdAt: row.createdAt, payload: row.payload };
        const size = Buffer.byteLength(JSON.stringify(rec)) + 1;
        if (size > MAX_PAYLOAD_BYTES - 64) {
          // Can never be sent: drop it (counted) rather than block the outbox forever.
          this.log.error('outbox row too large to send; dropped', { id: row.id, kind: row.kind, bytes: size });
          this.agent.outbox.ack([row.id]);
          this.inflight.delete(row.id);
          continue;
        }
        if (batch.length >= this.o.batchSize || bytes + size > MAX_PAYLOAD_BYTES - 64) {
          flush();
          if (this.batches.size >= this.o.maxInflightBatches) break;
        }
        batch.push(rec);
        bytes += size;
      }
      flush();
      this.counts.resent += resends;
    } catch (err) {
      this.log.error('outbox drain failed', { error: (err as Error).message });
    } finally {
      this.pumping = false;
    }
  }

  /** Disconnect. `graceful`: publish offline presence first (else the broker's Last Will says so). */
  async stop(options: { graceful?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.reportTimer) clearInterval(this.reportTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const c = this.client;
    if (!c) return;
    // Each step is bounded: a broker that stopped answering must not hold the agent's shutdown.
    const bounded = (p: Promise<void>) => Promise.race([p, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
    if (options.graceful !== false && c.connected) {
      await bounded(
        new Promise<void>((resolve) =>
          c.publish(
            this.topics.presence,
            encodeMessage('presence', { v: SYNC_PROTOCOL_VERSION, state: 'offline', at: new Date().toISOString() }),
            { qos: 1, retain: true },
            () => resolve(),
          ),
        ),
      );
    }
    // Not connected (or not graceful): close now; waiting for in-flight acks would wait for the broker.
    await bounded(new Promise<void>((resolve) => c.end(options.graceful === false || !c.connected, {}, () => resolve())));
    if (!c.disconnected) c.end(true);
    // A reconcile in progress stops at its next step; an install already started finishes in the agent.
  }
}
