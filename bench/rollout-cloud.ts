/**
 * The cloud side of bench/rollout.ts, in its own process so that its memory and CPU figures are the
 * cloud's alone: startCloud (gateway with the embedded aedes broker or an external one, model
 * registry, artifact HTTP server, DeploymentManager), driven over the IPC channel by the parent.
 * Not run by hand: bench/rollout.ts forks it (with --expose-gc).
 *
 * Requests (parent → here): { id, cmd, args }; answers: { id, ok, result } or { id, ok: false, error }.
 *   setup      { dbPath, brokerUrl?, artifacts, devices, group }  → broker/HTTP URLs and device credentials
 *   online     { timeoutMs }                                       → when every device had reported (with its target)
 *   rollout    { id, from, to, steps, bakeMs, alarm, expect, timeoutMs, stallMs } → timings of one deployment (or where it stalled)
 *   stats      {}                                                  → the gateway's counters and health
 *   close      {}                                                  → closes the cloud; the process exits
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { ReportedState } from '../src/protocol/sync.js';
import { serveParent, type Handlers } from './child-ipc.js';

const MODEL = 'mlp';
const TARGET = 'x86_64';

/** Cloud process memory and CPU, sampled every 100 ms; peaks per phase. */
/** What the cloud process used in one phase of the bench (memory in MiB, CPU and wall in seconds). */
export interface PhaseFigures {
  rssMiB: number;
  heapMiB: number;
  peakRssMiB: number;
  peakHeapMiB: number;
  cpuS: number;
  wallS: number;
  eventLoopUtilization: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
}

class Meter {
  private timer?: NodeJS.Timeout;
  private peakRss = 0;
  private peakHeap = 0;
  private cpu = process.cpuUsage();
  private elu = performance.eventLoopUtilization();
  private t = performance.now();
  private readonly lag = monitorEventLoopDelay({ resolution: 10 });
  start(): void {
    this.timer = setInterval(() => this.sample(), 100);
    this.lag.enable();
  }
  private sample(): void {
    const m = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, m.rss);
    this.peakHeap = Math.max(this.peakHeap, m.heapUsed);
  }
  /** The phase since the last call: peak RSS/heap, CPU seconds, event-loop utilization; then reset. */
  phase(): PhaseFigures {
    this.sample();
    const m = process.memoryUsage();
    const cpu = process.cpuUsage(this.cpu);
    const elu = performance.eventLoopUtilization(this.elu);
    const now = performance.now();
    const MiB = 2 ** 20;
    const r = {
      rssMiB: round1(m.rss / MiB),
      heapMiB: round1(m.heapUsed / MiB),
      peakRssMiB: round1(this.peakRss / MiB),
      peakHeapMiB: round1(this.peakHeap / MiB),
      cpuS: round1((cpu.user + cpu.system) / 1e6),
      wallS: round1((now - this.t) / 1000),
      eventLoopUtilization: Math.round(elu.utilization * 100) / 100,
      eventLoopDelayP99Ms: round1(this.lag.percentile(99) / 1e6),
      eventLoopDelayMaxMs: round1(this.lag.max / 1e6),
    };
    this.lag.reset();
    this.peakRss = m.rss;
    this.peakHeap = m.heapUsed;
    this.cpu = process.cpuUsage();
    this.elu = performance.eventLoopUtilization();
    this.t = now;
    return r;
  }
  stop(): void {
    clearInterval(this.timer);
    this.lag.disable();
  }
}
const round1 = (x: number) => Math.round(x * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Heap after a full GC (needs --expose-gc), MiB: what the cloud holds, not what it has yet to collect. */
function retainedHeapMiB(): number | null {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return null;
  gc();
  return round1(process.memoryUsage().heapUsed / 2 ** 20);
}

async function main(): Promise<void> {
  const { startCloud } = await import('../src/cloud/admin.js');
  const meter = new Meter();
  meter.start();
  const logged = { warn: 0, error: 0, firstErrors: [] as string[] };
  const note = (level: 'warn' | 'error') => (msg: string, fields?: Record<string, unknown>) => {
    logged[level]++;
    if (level === 'error' && logged.firstErrors.length < 5) logged.firstErrors.push(`${msg} ${JSON.stringify(fields ?? {}).slice(0, 300)}`);
  };
  const logger = { debug() {}, info() {}, warn: note('warn'), error: note('error') };
  let cloud: Awaited<ReturnType<typeof startCloud>> | undefined;
  let devices: string[] = [];
  // Every report the cloud received: (device, when, desired document, the model's version/status/serving).
  const reports: { id: string; t: number; dv: number; version?: string; status?: string; serving?: string; target?: string }[] = [];
  const messages = { reported: 0, telemetryBatches: 0, telemetryRecords: 0, presence: 0, desired: 0 };
  const msgSnapshot = () => ({ ...messages });
  const msgDelta = (a: typeof messages) =>
    Object.fromEntries(Object.entries(messages).map(([k, v]) => [k, v - a[k as keyof typeof messages]])) as typeof messages;

  const handlers: Handlers = {
    async setup(a) {
      mkdirSync(dirname(a.dbPath as string), { recursive: true });
      const before = meter.phase();
      cloud = await startCloud({
        dbPath: a.dbPath as string,
        brokerUrl: a.brokerUrl as string | undefined,
        logger,
        http: { port: 0, token: 'bench-rollout-token' },
      });
      const http = cloud.http!;
      const gw = cloud.gateway;
      gw.on('reported', (r: { deviceId: string; state: ReportedState }) => {
        messages.reported++;
        const m = r.state.models[MODEL];
        reports.push({
          id: r.deviceId,
          t: Date.now(),
          dv: r.state.desiredVersion ?? -1,
          version: m?.version,
          status: m?.status,
          serving: m?.serving,
          target: r.state.target,
        });
      });
      gw.on('telemetry', (e: { inserted: number; duplicates: number }) => {
        messages.telemetryBatches++;
        messages.telemetryRecords += e.inserted + e.duplicates;
      });
      gw.on('presence', () => void messages.presence++);
      // Count the desired documents the cloud publishes (the manager writes them through the gateway).
      const setDesired = gw.setDesiredState.bind(gw);
      gw.setDesiredState = (...args: Parameters<typeof setDesired>) => {
        messages.desired++;
        return setDesired(...args);
      };
      const setDesiredMany = gw.setDesiredStates.bind(gw);
      gw.setDesiredStates = (...args: Parameters<typeof setDesiredMany>) => {
        messages.desired += args[0].length;
        return setDesiredMany(...args);
      };
      // Registry calls are awaited: they may be async (PostgreSQL-backed registry).
      for (const tgz of a.artifacts as string[]) await http.registry.pushArtifact(tgz);
      const n = a.devices as number;
      const creds: { id: string; secret: string }[] = [];
      const tag = `${process.pid}-${Date.now().toString(36)}`;
      for (let i = 0; i < n; i++) {
        const d = await gw.addDevice(`bench-${i}`, { id: `bench-${tag}-${i}`, group: a.group as string });
        creds.push({ id: d.id, secret: d.secret });
      }
      devices = creds.map((c) => c.id);
      return {
        brokerUrl: cloud.brokerUrl,
        httpUrl: http.url,
        devices: creds,
        embedded: gw.isEmbedded,
        memory: { beforeStart: before, idle: meter.phase(), retainedHeapMiB: retainedHeapMiB() },
      };
    },

    async online(a) {
      const t0 = Date.now();
      const end = t0 + (a.timeoutMs as number);
      const want = new Set(devices);
      const seen = new Set<string>();
      let read = 0;
      let lastReport = 0;
      for (;;) {
        for (; read < reports.length; read++) {
          const r = reports[read];
          if (r.target !== TARGET || !want.has(r.id) || seen.has(r.id)) continue;
          seen.add(r.id);
          lastReport = Math.max(lastReport, r.t);
        }
        if (seen.size === want.size) break;
        if (Date.now() > end) throw new Error(`only ${seen.size} of ${want.size} devices reported within ${a.timeoutMs} ms`);
        await sleep(20);
      }
      return { allReportedAt: lastReport, memory: meter.phase(), retainedHeapMiB: retainedHeapMiB() };
    },

    async rollout(a) {
      const http = cloud!.http!;
      const gw = cloud!.gateway;
      const id = a.id as string;
      const to = a.to as string;
      const from = a.from as string;
      const expect = a.expect as 'promoted' | 'rolled-back';
      const msgs0 = msgSnapshot();
      meter.phase();
      const from0 = reports.length;
      const t0 = Date.now();
      await http.deployments.deploy({
        id,
        model: MODEL,
        version: to,
        fromVersion: from,
        group: a.group as string,
        strategy: { kind: 'canary', steps: a.steps as number[], bakeMs: a.bakeMs as number },
        guardrails: { alarms: [a.alarm as { metric: 'error-rate'; threshold: number; minRequests: number }] },
      });
      const end = t0 + (a.timeoutMs as number);
      const stallMs = a.stallMs as number;
      let phase = '';
      let stalled: string | undefined;
      // Progress = a new report or a new deployment event; none for stallMs ends the wait (reported as stalled).
      let progress = { at: Date.now(), key: '' };
      for (;;) {
        const d = http.deployments.get(id);
        phase = d?.summary.phase ?? '';
        if (['promoted', 'rolled-back', 'aborted'].includes(phase)) break;
        const key = `${reports.length}/${d?.events.length}`;
        if (key !== progress.key) progress = { at: Date.now(), key };
        if (Date.now() - progress.at > stallMs) stalled = `no new report or deployment event for ${stallMs / 1000} s`;
        else if (Date.now() > end) stalled = `not finished after ${(a.timeoutMs as number) / 1000} s`;
        if (stalled) break;
        // Reading a deployment of 10,000 devices parses megabytes: not too often (times come from its events).
        await sleep(250);
      }
      const detail = http.deployments.get(id)!;
      const ev = (name: string) => detail.events.find((e) => e.event === name);
      const finalDoc = new Map(devices.map((d) => [d, gw.device(d)?.desired?.version ?? -1]));
      // When the cloud first heard a device report `version` current (serving it) for its final desired document.
      const mine = reports.slice(from0);
      const byDevice = new Map<string, (typeof reports)[number][]>();
      for (const r of mine) {
        const l = byDevice.get(r.id);
        if (l) l.push(r);
        else byDevice.set(r.id, [r]);
      }
      const reportedOn = (d: string, version: string, after: number) =>
        byDevice
          .get(d)
          ?.find((r) => r.t >= after && r.dv >= finalDoc.get(d)! && r.version === version && r.status === 'current' && (r.serving ?? version) === version)?.t;
      const stepEvents = detail.events
        .filter((e) => ['step-started', 'step-installed', 'step-passed', 'hold', 'hold-released', 'alarm', 'promoted', 'rolled-back'].includes(e.event))
        .map((e) => ({ event: e.event, ms: e.at - t0, ...(e.detail && 'step' in e.detail ? { step: e.detail.step } : {}) }));
      const base = { id, phase, expected: expect, events: stepEvents, messages: msgDelta(msgs0), logged: { ...logged }, ...(stalled ? { stalled } : {}) };
      if (phase !== expect) {
        // What the cloud last heard from each device: how many it believes are current on the new version.
        const latest = new Map<string, (typeof reports)[number]>();
        for (const r of mine) latest.set(r.id, r);
        const cloudSawCurrent = devices.filter((d) => latest.get(d)?.version === to && latest.get(d)?.status === 'current').length;
        return {
          ...base,
          devices: devices.length,
          tookNew: detail.summary.tookNew,
          cloudSawCurrent,
          memory: meter.phase(),
          retainedHeapMiB: retainedHeapMiB(),
        };
      }
      if (expect === 'promoted') {
        // Promotion needs every device current in the stored reported state, so their reports are in already.
        const times = devices.map((d) => reportedOn(d, to, t0));
        const missing = times.filter((t) => t === undefined).length;
        const all = missing ? NaN : Math.max(...(times as number[])) - t0;
        return {
          ...base,
          devices: devices.length,
          allOnNewMs: all,
          missing,
          promotedMs: ev('promoted')!.at - t0,
          tookNew: detail.summary.tookNew,
          memory: meter.phase(),
          retainedHeapMiB: retainedHeapMiB(),
        };
      }
      const alarm = ev('alarm');
      if (!alarm) throw new Error(`deployment ${id} rolled back without an 'alarm' event`);
      const took = (alarm.detail?.devices as string[] | undefined) ?? [];
      // Devices that had the bad version serving (reported current) before the alarm.
      const installedBad = took.filter((d) => byDevice.get(d)?.some((r) => r.t <= alarm.at && r.version === to && r.status === 'current')).length;
      const back = took.map((d) => reportedOn(d, from, alarm.at));
      const missing = back.filter((t) => t === undefined).length;
      const allBack = missing ? NaN : Math.max(alarm.at, ...(back as number[])) - alarm.at;
      return {
        ...base,
        devices: devices.length,
        alarmMs: alarm.at - t0,
        tookBad: took.length,
        installedBad,
        allBackMs: allBack,
        rolledBackMs: ev('rolled-back')!.at - alarm.at,
        missing,
        alarmMetrics: alarm.metrics,
        memory: meter.phase(),
        retainedHeapMiB: retainedHeapMiB(),
      };
    },

    async stats() {
      return { gateway: cloud?.gateway.stats() };
    },

    async close() {
      const stats = cloud?.gateway.stats();
      await cloud?.close();
      meter.stop();
      return { gateway: stats };
    },
  };

  serveParent(handlers, 'close');
}

main().catch((err) => {
  process.stderr.write(`bench/rollout-cloud failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
