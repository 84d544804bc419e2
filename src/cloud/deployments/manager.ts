/**
 * The deployment manager: runs rollout-engine deployments against the real fleet. On a timer and on
 * gateway events it builds each active deployment's FleetObservation (presence, reported state,
 * telemetry summed per device and version over a recent window), calls `decide`, persists the new
 * state and its events, then carries out the actions (set-desired → the gateway, with the registry's
 * artifact entry for the device's target). Manual commands go through `decide` too. On construction
 * it picks up every deployment still in progress, so a cloud restart mid-rollout resumes where it was.
 *
 * Steps of one manager run one at a time (a promise chain): a step never interleaves with another.
 */
import { KilnError } from '../../errors.js';
import type { DesiredModel } from '../../protocol/sync.js';
import type { DeviceGateway, DeviceRecord } from '../gateway/index.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { ModelRegistry } from '../registry/index.js';
import {
  decide,
  initialState,
  isTerminal,
  validateSpec,
  type DeploymentSpec,
  type DeploymentState,
  type DesiredForDevice,
  type DeviceModelReport,
  type FleetObservation,
  type Guardrails,
  type RolloutCommand,
  type Strategy,
  type TelemetryWindow,
} from '../rollout/index.js';
import { DeploymentStore, type DeploymentEventRecord, type StoredDeployment } from './store.js';

export interface DeploymentManagerOptions {
  gateway: DeviceGateway;
  registry: ModelRegistry;
  /** The artifact server devices download from (e.g. http://cloud:8080). */
  artifactBaseUrl: string;
  /** The deployments' SQLite file (may be the gateway's own database file). */
  dbPath: string;
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
  /** How often active deployments are stepped, ms. @default 1000 */
  tickMs?: number;
  /**
   * Least time between two passes, ms. Device events (reports, presence, telemetry) start a pass
   * early, but a fleet sends thousands: back to back, the passes took the whole event loop and
   * delayed the telemetry acks until devices re-sent (bench/rollout.ts, 1000 devices). @default 200
   */
  minPassGapMs?: number;
  /** Telemetry window the gates read, ms (whole minutes, as agents aggregate per minute). @default 300000 */
  telemetryWindowMs?: number;
  /** A device's target when it has not reported one. @default none: such a device is refused */
  defaultTarget?: string;
  logger?: Logger;
}

/** What `list()` returns per deployment. */
export interface DeploymentSummary {
  id: string;
  model: string;
  fromVersion: string;
  toVersion: string;
  strategy: Strategy['kind'];
  phase: DeploymentState['status']['phase'];
  devices: number;
  /** Devices this deployment sent the new version to. */
  tookNew: number;
  createdAt: number;
  updatedAt: number;
}

/** What `get()` returns: the spec, the full engine state and the event log. */
export interface DeploymentDetail extends StoredDeployment {
  summary: DeploymentSummary;
  events: DeploymentEventRecord[];
}

/** `deploy()`'s request: the CLI's `kiln deploy` flags. */
export interface DeployRequest {
  model: string;
  /** The version to roll out. */
  version: string;
  /** The device group (gateway group name). */
  group: string;
  /** @default the version every device of the group serves now (refused when they differ) */
  fromVersion?: string;
  strategy: Strategy;
  guardrails?: Guardrails;
  /** @default `${model}-${version}-${time}` */
  id?: string;
}

export class DeploymentManager {
  private readonly store: DeploymentStore;
  private readonly gw: DeviceGateway;
  private readonly reg: ModelRegistry;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly windowMs: number;
  /** In-memory copy of every non-terminal deployment. */
  private readonly active = new Map<string, { spec: DeploymentSpec; state: DeploymentState }>();
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private kickPending = false;
  private lastPassAt = -Infinity;
  private readonly minPassGapMs: number;
  private closed = false;
  /** Each active deployment's devices, for the per-event membership test. */
  private readonly members = new WeakMap<DeploymentSpec, ReadonlySet<string>>();
  private readonly onGatewayEvent = (e: { deviceId: string }): void => {
    for (const d of this.active.values()) if (this.membersOf(d.spec).has(e.deviceId)) return this.kick();
  };

  constructor(private readonly options: DeploymentManagerOptions) {
    if (!options?.gateway || !options.registry) throw new TypeError('DeploymentManager: options.gateway and options.registry are required');
    if (typeof options.artifactBaseUrl !== 'string' || !/^https?:\/\//.test(options.artifactBaseUrl))
      throw new TypeError('DeploymentManager: options.artifactBaseUrl must be an http(s) URL');
    if (typeof options.dbPath !== 'string' || !options.dbPath) throw new TypeError('DeploymentManager: options.dbPath must be a non-empty string');
    this.gw = options.gateway;
    this.reg = options.registry;
    this.log = options.logger ?? silentLogger;
    this.clock = options.clock ?? Date.now;
    this.windowMs = options.telemetryWindowMs ?? 5 * 60_000;
    this.minPassGapMs = options.minPassGapMs ?? 200;
    if (!(this.minPassGapMs >= 0)) throw new TypeError('DeploymentManager: options.minPassGapMs must be a number ≥ 0');
    this.store = new DeploymentStore(options.dbPath);
    for (const d of this.store.list()) if (!isTerminal(d.state)) this.active.set(d.spec.id, { spec: d.spec, state: d.state });
    if (this.active.size) this.log.info('resuming deployments', { ids: [...this.active.keys()] });
    this.gw.on('reported', this.onGatewayEvent);
    this.gw.on('presence', this.onGatewayEvent);
    this.gw.on('telemetry', this.onGatewayEvent);
    const tickMs = options.tickMs ?? 1000;
    this.timer = setInterval(() => this.kick(), tickMs);
    this.timer.unref();
    if (this.active.size) this.kick();
  }

  // ───────────── commands ─────────────

  /**
   * Create and start a deployment from a spec (validated; RolloutSpecError lists every problem).
   * Refused (KilnError) when the id exists, a device is unknown or has no known target, either
   * version has no artifact for some device's target (NO_ARTIFACT, listing them), or another active
   * deployment of the same model holds one of the devices. Resolves after the first step.
   */
  async create(input: unknown): Promise<DeploymentDetail> {
    return this.serial(async () => {
      this.assertOpen();
      const spec = validateSpec(input);
      if (this.store.has(spec.id))
        throw new KilnError('DEPLOYMENT_CONFLICT', `a deployment with id '${spec.id}' exists already`, { hint: 'choose another id' });
      const records = this.gw.registry.getMany(spec.devices);
      const unknown = spec.devices.filter((id) => !records.has(id));
      if (unknown.length) throw new KilnError('DEPLOYMENT_CONFLICT', `deployment '${spec.id}': unknown device(s): ${unknown.join(', ')}`);
      const targetOf = (id: string) => records.get(id)?.reported?.target ?? this.options.defaultTarget;
      const noTarget = spec.devices.filter((id) => targetOf(id) === undefined);
      if (noTarget.length) {
        throw new KilnError(
          'DEPLOYMENT_CONFLICT',
          `deployment '${spec.id}': no known target for device(s) ${noTarget.join(', ')} (they have not reported one)`,
          {
            hint: 'wait until the devices have connected, or start the cloud with a default target',
          },
        );
      }
      const targets = spec.devices.map((deviceId) => ({ deviceId, target: targetOf(deviceId)! }));
      await this.reg.requireTargets(spec.model, spec.toVersion, targets);
      await this.reg.requireTargets(spec.model, spec.fromVersion, targets);
      for (const other of this.active.values()) {
        if (other.spec.model !== spec.model) continue;
        const mine = this.membersOf(spec);
        const shared = other.spec.devices.filter((d) => mine.has(d));
        if (shared.length)
          throw new KilnError(
            'DEPLOYMENT_CONFLICT',
            `deployment '${spec.id}': device(s) ${shared.join(', ')} are in active deployment '${other.spec.id}' of ${spec.model}`,
            { hint: 'wait for it to finish, or roll it back' },
          );
      }
      const now = this.clock();
      const state = initialState(spec);
      this.store.save(
        spec,
        state,
        [
          {
            at: now,
            event: 'created',
            detail: { model: spec.model, from: spec.fromVersion, to: spec.toVersion, devices: spec.devices.length, strategy: spec.strategy.kind },
          },
        ],
        now,
        true,
      );
      this.active.set(spec.id, { spec, state });
      await this.stepNow(spec.id);
      return this.get(spec.id)!;
    });
  }

  /**
   * `kiln deploy`: a deployment over a gateway group, from the version the group serves now (or
   * `fromVersion`) to `version`.
   */
  async deploy(req: DeployRequest): Promise<DeploymentDetail> {
    const devices = this.gw.devices({ group: req.group });
    if (!devices.length) throw new KilnError('NOT_FOUND', `group '${req.group}' has no devices`);
    let from = req.fromVersion;
    if (from === undefined) {
      const serving = new Map<string, string[]>();
      for (const d of devices) {
        // A fresh report says what the device serves (agents report preloaded models on connect); a stale one says nothing about the desired state stored since.
        const m = d.reported ? modelReport(d, req.model) : undefined;
        const v = (m && (m.serving ?? (m.status === 'current' ? m.version : undefined))) ?? d.desired?.models[req.model]?.version ?? '(none)';
        serving.set(v, [...(serving.get(v) ?? []), d.id]);
      }
      if (serving.size !== 1 || serving.has('(none)')) {
        throw new KilnError(
          'DEPLOYMENT_CONFLICT',
          `cannot tell which version group '${req.group}' runs: ${[...serving].map(([v, ids]) => `${v}: ${ids.join(', ')}`).join('; ')}`,
          { hint: 'name the baseline with --from' },
        );
      }
      from = [...serving.keys()][0];
    }
    const id = req.id ?? `${req.model}-${req.version}-${new Date(this.clock()).toISOString().replace(/[-:.]/g, '').slice(0, 15)}`;
    return this.create({
      id,
      model: req.model,
      fromVersion: from,
      toVersion: req.version,
      devices: devices.map((d) => d.id),
      strategy: req.strategy,
      guardrails: req.guardrails ?? {},
    });
  }

  pause(id: string, reason?: string): Promise<DeploymentDetail> {
    return this.command(id, { kind: 'pause', ...(reason ? { reason } : {}) });
  }
  resume(id: string): Promise<DeploymentDetail> {
    return this.command(id, { kind: 'resume' });
  }
  promote(id: string): Promise<DeploymentDetail> {
    return this.command(id, { kind: 'promote' });
  }
  rollback(id: string, reason?: string): Promise<DeploymentDetail> {
    return this.command(id, { kind: 'rollback', ...(reason ? { reason } : {}) });
  }

  /** Feed a command to `decide`. A command the phase does not allow is recorded as 'command-ignored'. */
  command(id: string, command: RolloutCommand): Promise<DeploymentDetail> {
    return this.serial(async () => {
      this.assertOpen();
      if (!this.store.has(id)) throw new KilnError('NOT_FOUND', `no deployment '${id}'`);
      if (!this.active.has(id)) {
        const d = this.store.get(id)!;
        this.store.save(
          d.spec,
          d.state,
          [{ at: this.clock(), event: 'command-ignored', detail: { command: command.kind, phase: d.state.status.phase, why: 'the deployment is finished' } }],
          this.clock(),
        );
      } else await this.stepNow(id, command);
      return this.get(id)!;
    });
  }

  // ───────────── queries ─────────────

  list(): DeploymentSummary[] {
    return this.store.list().map(summarize);
  }

  get(id: string): DeploymentDetail | undefined {
    const d = this.store.get(id);
    return d && { ...d, summary: summarize(d), events: this.store.events(id) };
  }

  /** Step every active deployment now (the timer does this every tickMs). */
  tick(): Promise<void> {
    return this.serial(async () => {
      for (const id of [...this.active.keys()]) await this.stepNow(id);
    });
  }

  /** Stop the timer and the event listeners, finish the step in progress and close the database. Deployments stay as persisted. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.gw.off('reported', this.onGatewayEvent);
    this.gw.off('presence', this.onGatewayEvent);
    this.gw.off('telemetry', this.onGatewayEvent);
    await this.chain.catch(() => {});
    this.store.close();
  }

  // ───────────── internals ─────────────

  private assertOpen(): void {
    if (this.closed) throw new KilnError('CLOSED', 'the deployment manager is closed');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private membersOf(spec: DeploymentSpec): ReadonlySet<string> {
    let set = this.members.get(spec);
    if (!set) this.members.set(spec, (set = new Set(spec.devices)));
    return set;
  }

  /** Coalesce timer ticks and gateway events into one pass, at most one per minPassGapMs. */
  private kick(): void {
    if (this.kickPending || this.closed || this.active.size === 0) return;
    this.kickPending = true;
    const wait = this.lastPassAt + this.minPassGapMs - performance.now();
    if (wait > 0) setTimeout(() => this.pass(), wait).unref();
    else this.pass();
  }

  private pass(): void {
    void this.serial(async () => {
      this.kickPending = false;
      if (this.closed) return;
      const t0 = performance.now();
      for (const id of [...this.active.keys()]) {
        try {
          await this.stepNow(id);
        } catch (err) {
          this.log.error('deployment step failed', { id, error: (err as Error).message });
        }
      }
      // The next pass waits at least minPassGapMs, and at least twice as long as this one took: a
      // pass over a fleet of 10,000 takes a while, and back to back they would leave the event loop
      // no time for the telemetry and reports they read (passes take at most a third of it).
      const took = performance.now() - t0;
      this.lastPassAt = performance.now() + Math.max(0, 2 * took - this.minPassGapMs);
    });
  }

  /** One decide for a deployment: observe, decide, persist, then act. Runs inside `serial`. */
  private async stepNow(id: string, command?: RolloutCommand): Promise<void> {
    const d = this.active.get(id);
    if (!d || this.closed) return;
    const now = this.clock();
    const found = this.gw.registry.getMany(d.spec.devices);
    const records = new Map(d.spec.devices.map((dev) => [dev, found.get(dev)] as const));
    const obs = this.observe(d.spec, records, now);
    if (command) obs.command = command;
    const { state, actions } = decide(d.spec, d.state, obs, now);
    const events = actions.flatMap((a) =>
      a.type === 'record' ? [{ at: now, event: a.event, ...(a.detail ? { detail: a.detail } : {}), ...(a.metrics ? { metrics: a.metrics } : {}) }] : [],
    );
    // Persist first: a crash before the desired states are written is repaired by `repair` below on the next step.
    // (A step that changed nothing is not written again: a fleet's state is megabytes.)
    const text = JSON.stringify(state);
    if (events.length || text !== this.savedState.get(id)) this.store.save(d.spec, state, events, now);
    this.savedState.set(id, text);
    d.state = state;
    if (isTerminal(state)) {
      this.active.delete(id);
      this.savedState.delete(id);
    }
    for (const e of events) this.log.info(`deployment ${e.event}`, { id, ...(e.detail ?? {}) });
    const sends = actions.flatMap((a) => (a.type === 'set-desired' ? [{ deviceId: a.deviceId, want: a as DesiredForDevice }] : []));
    await this.sendDesired(d.spec, sends, records);
    await this.repair(d.spec, state, new Set(sends.map((x) => x.deviceId)), records);
    this.resyncLagging(d.spec, state, records, now);
  }

  /** The state last saved per deployment, as saved. */
  private readonly savedState = new Map<string, string>();

  /** When each lagging device was last asked to resync (ms). */
  private readonly resyncedAt = new Map<string, number>();

  /**
   * Devices that were sent a desired document RESYNC_AFTER_MS ago or more and whose stored report
   * still does not say it is installed (or failed): read their retained reports from the broker again (a report the
   * broker dropped on its way to the cloud would otherwise hold the step until the device's next
   * periodic report). At most once per RESYNC_AFTER_MS per device.
   */
  private resyncLagging(spec: DeploymentSpec, state: DeploymentState, records: ReadonlyMap<string, DeviceRecord | undefined>, now: number): void {
    const lagging: string[] = [];
    for (const deviceId of Object.keys(state.devices)) {
      const rec = records.get(deviceId);
      const desired = rec?.desired;
      if (!rec || !rec.online || !desired) continue;
      // Answered: a fresh report that the install finished (current) or failed. Downloading for a
      // long while may be a lost 'current' just as well.
      const rep = modelReport(rec, spec.model);
      if (rep && (rep.status === 'current' || rep.status === 'failed') && rep.version === desired.models[spec.model]?.version) continue;
      const sentAt = Date.parse(desired.updatedAt);
      if (!(now - sentAt >= RESYNC_AFTER_MS) || now - (this.resyncedAt.get(deviceId) ?? 0) < RESYNC_AFTER_MS) continue;
      this.resyncedAt.set(deviceId, now);
      lagging.push(deviceId);
    }
    if (!lagging.length) return;
    this.log.info("deployment: reading lagging devices' retained reports again", { id: spec.id, devices: lagging.length });
    this.gw.resyncReported(lagging).catch((err: Error) => this.log.warn('deployment: resync of reported states failed', { id: spec.id, error: err.message }));
  }

  /** Re-send any assignment whose device's stored desired state does not say it (a crash between persist and publish). */
  private async repair(spec: DeploymentSpec, state: DeploymentState, skip: Set<string>, records: ReadonlyMap<string, DeviceRecord | undefined>): Promise<void> {
    const sends: { deviceId: string; want: DesiredForDevice }[] = [];
    for (const [deviceId, a] of Object.entries(state.devices)) {
      if (skip.has(deviceId)) continue;
      const have = records.get(deviceId)?.desired?.models[spec.model];
      if (have && sameDesired(have, a.desired)) continue;
      this.log.warn('deployment: re-sending a desired state that was not written', { id: spec.id, deviceId });
      sends.push({ deviceId, want: a.desired });
    }
    await this.sendDesired(spec, sends, records);
  }

  /**
   * Write the desired documents of a step: built per device (the registry's artifact entry for its
   * target, looked up once per version and target), stored in one transaction, published together.
   */
  private async sendDesired(
    spec: DeploymentSpec,
    sends: readonly { deviceId: string; want: DesiredForDevice }[],
    records: ReadonlyMap<string, DeviceRecord | undefined>,
  ): Promise<void> {
    if (!sends.length) return;
    const entries = new Map<string, Promise<DesiredModel>>();
    const entryFor = (version: string, target: string) => {
      const key = `${version}\0${target}`;
      let e = entries.get(key);
      if (!e) entries.set(key, (e = this.reg.desiredEntryFor(spec.model, version, target, this.options.artifactBaseUrl)));
      return e;
    };
    const writes: { deviceId: string; models: Record<string, DesiredModel> }[] = [];
    for (const { deviceId, want } of sends) {
      try {
        const rec = records.get(deviceId);
        const target = rec?.reported?.target ?? this.options.defaultTarget;
        if (!target) throw new KilnError('DEPLOYMENT_CONFLICT', `device '${deviceId}' has no known target`);
        const entry: DesiredModel = { ...(await entryFor(want.version, target)) };
        if (want.variants) entry.weights = { ...want.variants };
        if (want.shadowVersion) {
          entry.shadowVersion = want.shadowVersion;
          // A device that does not keep the shadow version yet (a shadow candidate) installs it beside from here.
          if (want.shadowVersion !== want.version) entry.shadowArtifact = (await entryFor(want.shadowVersion, target)).artifact;
        }
        writes.push({ deviceId, models: { ...(rec?.desired?.models ?? {}), [spec.model]: entry } });
      } catch (err) {
        this.log.error('deployment: could not set a desired state', { id: spec.id, deviceId, error: (err as Error).message });
      }
    }
    let results: Awaited<ReturnType<DeviceGateway['setDesiredStates']>>;
    try {
      results = await this.gw.setDesiredStates(writes);
    } catch (err) {
      // Nothing stored: `repair` tries again on the next step.
      this.log.error('deployment: could not store desired states', { id: spec.id, devices: writes.length, error: (err as Error).message });
      return;
    }
    let failed = 0;
    let first: string | undefined;
    for (const [, r] of results) {
      if (!r.error) continue;
      failed++;
      first ??= r.error.message;
    }
    // Stored desired states are republished by the gateway on reconnect; anything not stored is retried by `repair`.
    if (failed) this.log.error('deployment: could not set a desired state', { id: spec.id, failed, of: writes.length, error: first });
  }

  /**
   * The FleetObservation for a deployment now: per device, its model report and per version its
   * telemetry over the window — served requests, errors and p99 (per-minute metrics), the output
   * histogram of the top-1 class (output-shift), and from shadow comparisons the candidate's
   * agreement with the baseline (whichever of the two ran as the shadow) and, for a shadow candidate
   * serving nothing, its shadow runs as its requests (compared + failed), the failed ones as its
   * errors (so error-rate judges it), and its latency.
   */
  private observe(spec: DeploymentSpec, records: ReadonlyMap<string, DeviceRecord | undefined>, now: number): FleetObservation {
    const since = new Date(Math.floor((now - this.windowMs) / 60_000) * 60_000).toISOString();
    const telemetry = new Map<string, Record<string, TelemetryWindow>>();
    const windowOf = (deviceId: string, version: string): TelemetryWindow => {
      const t = telemetry.get(deviceId) ?? {};
      telemetry.set(deviceId, t);
      return (t[version] ??= { requests: 0, errors: 0 });
    };
    for (const r of this.gw.registry.metricsWindow(spec.model, since)) {
      if (!records.has(r.deviceId)) continue;
      Object.assign(windowOf(r.deviceId, r.version), {
        requests: r.invocations + r.errors,
        errors: r.errors,
        ...(r.maxP99Ms !== null ? { p99Ms: r.maxP99Ms } : {}),
      });
    }
    // Only the output-shift alarm reads histograms (and they cost a scan of the window's records).
    if ((spec.guardrails.alarms ?? []).some((a) => a.metric === 'output-shift')) {
      for (const h of this.gw.registry.outputHistogramWindow(spec.model, since)) {
        if (records.has(h.deviceId)) windowOf(h.deviceId, h.version).histogram = h.histogram;
      }
    }
    const { fromVersion: from, toVersion: to } = spec;
    for (const a of this.gw.registry.shadowWindow(spec.model, since)) {
      if (!records.has(a.deviceId)) continue;
      const pair = (a.version === from && a.shadow === to) || (a.version === to && a.shadow === from);
      if (!pair) continue;
      const w = windowOf(a.deviceId, to);
      w.agreement = { compared: (w.agreement?.compared ?? 0) + a.rows, agreed: (w.agreement?.agreed ?? 0) + a.agreed };
      // The candidate as a shadow serves nothing: its shadow runs (compared or failed) and latency are its telemetry.
      if (a.shadow === to && w.requests === 0) {
        w.requests = a.comparisons + a.errors;
        w.errors = a.errors;
        if (a.maxP99Ms !== null) w.p99Ms = a.maxP99Ms;
      }
    }
    const devices: FleetObservation['devices'] = {};
    for (const [id, rec] of records) {
      if (!rec) {
        devices[id] = undefined;
        continue;
      }
      devices[id] = {
        online: rec.online,
        models: { [spec.model]: modelReport(rec, spec.model) },
        ...(telemetry.has(id) ? { telemetry: telemetry.get(id) } : {}),
      };
    }
    return { devices };
  }
}

/**
 * A device's report for a model, or undefined while it is stale: a report about an older desired
 * document than the one stored says nothing about what was asked since. (A report before any desired
 * state — a preloaded model, reported on connect — is fresh while none is stored.)
 */
function modelReport(rec: DeviceRecord, model: string): DeviceModelReport | undefined {
  const rep = rec.reported;
  const m = rep?.models[model];
  if (!rep || !m) return undefined;
  if (rec.desired && (rep.desiredVersion ?? -1) < rec.desired.version) return undefined;
  return {
    version: m.version,
    status: m.status,
    ...(m.serving ? { serving: m.serving } : {}),
    ...(m.shadow ? { shadow: { version: m.shadow.version, status: m.shadow.status } } : {}),
  };
}

/** A lagging device's retained report is read again after this long without an answer, ms. */
const RESYNC_AFTER_MS = 10_000;

function sameDesired(have: DesiredModel, want: DesiredForDevice): boolean {
  if (have.version !== want.version || (have.shadowVersion ?? null) !== (want.shadowVersion ?? null)) return false;
  return JSON.stringify(sortKeys(have.weights)) === JSON.stringify(sortKeys(want.variants));
}
const sortKeys = (o: Record<string, number> | undefined): [string, number][] | null => (o ? Object.entries(o).sort(([a], [b]) => a.localeCompare(b)) : null);

function summarize(d: StoredDeployment): DeploymentSummary {
  return {
    id: d.spec.id,
    model: d.spec.model,
    fromVersion: d.spec.fromVersion,
    toVersion: d.spec.toVersion,
    strategy: d.spec.strategy.kind,
    phase: d.state.status.phase,
    devices: d.spec.devices.length,
    tookNew: Object.values(d.state.devices).filter((a) => a.tookNew).length,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}
