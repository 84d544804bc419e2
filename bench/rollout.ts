/**
 * Fleet rollout benchmarks (`npx tsx bench/rollout.ts`), written to bench/results/rollout.{json,md}.
 * Per broker (embedded aedes; Mosquitto too when KILN_TEST_MQTT_URL is set) and fleet size:
 *
 *   - N simulated devices spread over one process per CPU (bench/rollout-devices.ts), each running
 *     the REAL SyncClient (its own MQTT session, desired-state reconciliation, HTTP download of the
 *     artifact from the cloud's artifact server, sha256 + ed25519 verification, reported state,
 *     outbox drain) over a STAND-IN agent (bench/standin-agent.ts: no onnxruntime; installs read the
 *     verified manifest and switch a version pointer; traffic and its metrics records are synthetic);
 *   - the cloud (startCloud: gateway, model registry + artifact server, DeploymentManager) in a child
 *     process (bench/rollout-cloud.ts), so its memory and CPU are measured apart from the devices.
 *
 * Measured:
 *   1. connect: devices started → the cloud has every device's first report;
 *   2. rollout 1.0.0 → 2.0.0, canary 10 → 50 → 100 % (bake --bake-ms), an error-rate alarm as gate:
 *      deploy → every device reported 2.0.0 current (as the cloud received it), and → 'promoted';
 *   3. rollout 2.0.0 → 3.0.0, same plan, where the stand-in fails --error-rate of 3.0.0's requests:
 *      deploy → alarm, and alarm → every device that was sent 3.0.0 reported 2.0.0 current again
 *      (and → 'rolled-back');
 *   4. the cloud process's RSS and heap (peak per phase, and retained after a full GC), its CPU
 *      seconds and event-loop utilization; MQTT messages the cloud received and published;
 *   5. where the time went, per phase: CPU seconds of the cloud, of the device processes and of the
 *      broker (Mosquitto's process, read from /proc; aedes runs inside the cloud), against wall time.
 *
 * Options: --devices 100,500,1000 (fleet sizes), --bake-ms 0, --metrics-ms (how often each stand-in
 * writes a metrics record; default max(2000, devices) ms, so a fleet sends at most 1,000 records/s:
 * a real agent writes one per minute), --device-procs (default: the CPU count), --error-rate 0.5
 * (3.0.0's failing fraction), --broker aedes|mosquitto (one of them only), --timeout-s 300
 * (per deployment), --stall-s 30 (no report and no deployment event for this long: the deployment is
 * reported as not finished and the next size runs), --quick (--devices 50,200).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PhaseFigures } from './rollout-cloud.js';

const WORK = join(tmpdir(), `kiln-bench-rollout-${process.pid}`);
process.env.KILN_HOME = join(WORK, 'home');
const RESULTS = 'bench/results';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const num = (name: string, def: number, ok: (n: number) => boolean = (n) => n > 0) => {
  const v = opt(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || !ok(n)) throw new RangeError(`${name} ${v}: expected a number (see the header of bench/rollout.ts)`);
  return n;
};
const QUICK = argv.includes('--quick');
const SIZES = (opt('--devices') ?? (QUICK ? '50,200' : '100,500,1000')).split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--devices ${s}: expected comma-separated integers ≥ 1, e.g. --devices 100,500,1000`);
  return n;
});
const BAKE_MS = num('--bake-ms', 0, (n) => n >= 0);
const METRICS_MS_FLAG = opt('--metrics-ms') === undefined ? undefined : num('--metrics-ms', 2000);
const metricsMsFor = (devices: number) => METRICS_MS_FLAG ?? Math.max(2000, devices);
const DEVICE_PROCS = num('--device-procs', availableParallelism(), (n) => Number.isInteger(n) && n >= 1);
const ERROR_RATE = num('--error-rate', 0.5, (n) => n > 0 && n <= 1);
const TIMEOUT_MS = num('--timeout-s', 300) * 1000;
const STALL_MS = num('--stall-s', 30) * 1000;
const STEPS = [10, 50, 100];
const ALARM = { metric: 'error-rate' as const, threshold: 0.05, minRequests: 100 };
const MODEL = 'mlp';
const GROUP = 'bench-fleet';

const round1 = (x: number) => Math.round(x * 10) / 10;
const sec = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : 'n/a');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Broker {
  name: 'aedes' | 'mosquitto';
  url?: string;
}
const ONLY = opt('--broker');
if (ONLY !== undefined && ONLY !== 'aedes' && ONLY !== 'mosquitto') throw new RangeError(`--broker ${ONLY}: expected aedes or mosquitto`);
const BROKERS: Broker[] = [
  { name: 'aedes' as const },
  ...(process.env.KILN_TEST_MQTT_URL ? [{ name: 'mosquitto' as const, url: process.env.KILN_TEST_MQTT_URL }] : []),
].filter((b) => ONLY === undefined || b.name === ONLY);

async function makeArtifact(version: string, seed: number): Promise<string> {
  const { compileModel } = await import('../src/compiler/compile.js');
  const { buildMlp } = await import('../src/onnx/builder.js');
  const { saveModel } = await import('../src/onnx/model.js');
  const src = join(WORK, `mlp-${version}.onnx`);
  saveModel(buildMlp({ inputSize: 16, hidden: [32], outputs: 10, batch: 1, seed }), src);
  const res = await compileModel(src, {
    target: 'x86_64',
    quantize: 'none',
    outDir: join(WORK, `mlp-${version}`),
    cacheDir: join(WORK, 'cache'),
    modelName: MODEL,
    modelVersion: version,
  });
  return res.artifact.archive;
}

/** A child process (the cloud, or a share of the devices), called over its IPC channel. */
class Child {
  private readonly child: ChildProcess;
  private seq = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private exited?: string;
  readonly ready: Promise<unknown>;

  constructor(
    script: string,
    private readonly what: string,
  ) {
    // KILN_BENCH_CPU_PROF=DIR: a V8 CPU profile of each child, written to DIR when it exits (where the time went, by function).
    const prof = process.env.KILN_BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.KILN_BENCH_CPU_PROF] : [];
    this.child = fork(script, [], { execArgv: ['--import', 'tsx', '--expose-gc', ...prof], env: process.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve, reject) => this.pending.set(0, { resolve, reject }));
    this.child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) p?.resolve(m.result);
      else p?.reject(new Error(`${this.what}: ${m.error}`));
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `the ${this.what} process exited (${signal ?? `code ${code}`})`;
      for (const p of this.pending.values()) p.reject(new Error(this.exited));
      this.pending.clear();
    });
    this.child.on('error', (err) => void (this.exited ??= `the ${this.what} process failed: ${err.message}`));
  }

  call<T = Record<string, unknown>>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      if (this.exited || !this.child.connected) return reject(new Error(this.exited ?? `the ${this.what} process is not connected`));
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, args }, (err) => {
        if (err && this.pending.delete(id)) reject(err);
      });
    });
  }

  /** Wait up to `graceMs` for the process to exit by itself (it does after 'close'/'stop'; a CPU profile is written then), then kill it. */
  async kill(graceMs = 0): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (graceMs > 0)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        this.child.once('exit', () => (clearTimeout(t), resolve()));
      });
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
  }
}

type Mem = PhaseFigures;
type Msgs = { reported: number; telemetryBatches: number; telemetryRecords: number; presence: number; desired: number };
interface RolloutResult {
  phase: string;
  expected: string;
  events: { event: string; ms: number; step?: number }[];
  messages: Msgs;
  memory: Mem;
  retainedHeapMiB: number | null;
  logged: { warn: number; error: number; firstErrors: string[] };
  /** Why the wait ended before the deployment finished. */
  stalled?: string;
  /** When it did not finish: devices whose last report (as the cloud received it) says the new version is current. */
  cloudSawCurrent?: number;
  allOnNewMs?: number;
  promotedMs?: number;
  tookNew?: number;
  alarmMs?: number;
  tookBad?: number;
  installedBad?: number;
  allBackMs?: number;
  rolledBackMs?: number;
  missing?: number;
}

/** Delete what the run left in an external broker: retained messages and the devices' persistent sessions. */
async function cleanBroker(url: string, ids: string[]): Promise<void> {
  const mqtt = (await import('mqtt')).default;
  const { deviceTopics } = await import('../src/protocol/sync.js');
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, clean: true, clientId: `kiln-bench-clean-${process.pid}` });
  for (const id of ids) {
    const t = deviceTopics(id);
    for (const topic of [t.desired, t.reported, t.presence]) await c.publishAsync(topic, '', { qos: 1, retain: true });
  }
  await c.endAsync();
  for (let i = 0; i < ids.length; i += 100) {
    await Promise.all(
      ids.slice(i, i + 100).map(async (id) => {
        const s = await mqtt.connectAsync(url, { protocolVersion: 4, clean: true, clientId: id, reconnectPeriod: 0 });
        await s.endAsync();
      }),
    );
  }
}

type FleetStats = {
  devices: number;
  serving: Record<string, number>;
  installs: number;
  connects: number;
  connected: number;
  telemetrySent: number;
  telemetryAcked: number;
  telemetryResent: number;
  outboxRows: number;
  rssMiB: number;
  cpuS: number;
  errors: string[];
};

/** The broker process's CPU seconds so far (Mosquitto on this machine, from /proc); null when it cannot be read. */
function brokerCpuS(b: Broker): number | null {
  if (b.name !== 'mosquitto') return null;
  try {
    const pid = execFileSync('pidof', ['mosquitto'], { encoding: 'utf8' }).trim().split(/\s+/)[0];
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (100/s)
  } catch {
    return null;
  }
}

async function runOne(b: Broker, n: number, artifacts: string[]) {
  const dir = join(WORK, `${b.name}-${n}`);
  const metricsMs = metricsMsFor(n);
  const cloud = new Child('bench/rollout-cloud.ts', 'cloud');
  const procs = Math.min(DEVICE_PROCS, n);
  const fleet = Array.from({ length: procs }, (_, i) => new Child('bench/rollout-devices.ts', `devices ${i + 1}/${procs}`));
  let ids: string[] = [];
  try {
    await cloud.ready;
    await Promise.all(fleet.map((f) => f.ready));
    const setup = await cloud.call<{
      brokerUrl: string;
      httpUrl: string;
      devices: { id: string; secret: string }[];
      embedded: boolean;
      memory: { idle: Mem; retainedHeapMiB: number | null };
    }>('setup', {
      dbPath: join(dir, 'cloud', 'cloud.db'),
      brokerUrl: b.url,
      artifacts,
      devices: n,
      group: GROUP,
    });
    ids = setup.devices.map((d) => d.id);
    const fleetStats = async () => {
      const all = await Promise.all(fleet.map((f) => f.call<FleetStats>('stats')));
      const sum = (k: keyof FleetStats) => all.reduce((x, s) => x + (s[k] as number), 0);
      const serving: Record<string, number> = {};
      for (const s of all) for (const [v, c] of Object.entries(s.serving)) serving[v] = (serving[v] ?? 0) + c;
      return {
        serving,
        installs: sum('installs'),
        connects: sum('connects'),
        connected: sum('connected'),
        telemetrySent: sum('telemetrySent'),
        telemetryAcked: sum('telemetryAcked'),
        telemetryResent: sum('telemetryResent'),
        outboxRows: sum('outboxRows'),
        rssMiB: round1(sum('rssMiB')),
        cpuS: round1(sum('cpuS')),
        errors: all.flatMap((s) => s.errors).slice(0, 5),
      };
    };
    // Where the time went in each phase: CPU seconds of the cloud, the device processes and the broker, and the wall time.
    let mark = { at: Date.now(), devicesCpuS: 0, brokerCpuS: brokerCpuS(b), connects: 0, resent: 0 };
    const phaseCpu = async (cloudCpuS: number) => {
      const f = await fleetStats();
      const br = brokerCpuS(b);
      const now = Date.now();
      const r = {
        wallS: round1((now - mark.at) / 1000),
        cloudCpuS,
        devicesCpuS: round1(f.cpuS - mark.devicesCpuS),
        brokerCpuS: br === null || mark.brokerCpuS === null ? null : round1(br - mark.brokerCpuS),
        connects: f.connects - mark.connects,
        telemetryResent: f.telemetryResent - mark.resent,
      };
      mark = { at: now, devicesCpuS: f.cpuS, brokerCpuS: br, connects: f.connects, resent: f.telemetryResent };
      return r;
    };
    const t0 = Date.now();
    await Promise.all(
      fleet.map((f, i) =>
        f.call('start', {
          devices: setup.devices.filter((_d, j) => j % procs === i),
          brokerUrl: setup.brokerUrl,
          dir: join(dir, 'devices'),
          model: MODEL,
          initialVersion: '1.0.0',
          errorRates: { '3.0.0': ERROR_RATE },
          metricsMs,
        }),
      ),
    );
    const online = await cloud.call<{ allReportedAt: number; memory: Mem; retainedHeapMiB: number | null }>('online', { timeoutMs: TIMEOUT_MS });
    const connectMs = online.allReportedAt - t0;
    const connectTime = await phaseCpu(online.memory.cpuS);
    process.stderr.write(`  ${b.name} ${n}: every device reported after ${sec(connectMs)} s (${procs} device processes)\n`);
    // Let every device's 1.0.0 baseline reach the cloud before the first deployment.
    await sleep(metricsMs + 500);
    await phaseCpu(0);
    const common = { group: GROUP, steps: STEPS, bakeMs: BAKE_MS, alarm: ALARM, timeoutMs: TIMEOUT_MS, stallMs: STALL_MS };
    // A deployment that does not finish is reported (where it stopped, what the cloud and the devices believe), not thrown.
    const failure = async (r: RolloutResult, version: string) =>
      `the ${version} deployment ${r.stalled ?? `ended '${r.phase}'`} in phase '${r.phase}': the cloud saw ${r.cloudSawCurrent} of ${n} devices current on ${version}; the devices themselves: ${(await fleetStats()).serving[version] ?? 0} serving it; the deployment had assigned ${r.tookNew} device(s) the new version and the manager had written ${r.messages.desired} desired document(s)`;
    let failed: string | undefined;
    const good = await cloud.call<RolloutResult>('rollout', { ...common, id: `bench-v2-${n}`, from: '1.0.0', to: '2.0.0', expect: 'promoted' });
    const goodTime = await phaseCpu(good.memory.cpuS);
    process.stderr.write(`  ${b.name} ${n}: 2.0.0 ${good.phase}; all on 2.0.0 after ${sec(good.allOnNewMs ?? NaN)} s\n`);
    let bad: RolloutResult | undefined;
    let badTime: Awaited<ReturnType<typeof phaseCpu>> | undefined;
    if (good.phase !== 'promoted') failed = await failure(good, '2.0.0');
    else {
      bad = await cloud.call<RolloutResult>('rollout', { ...common, id: `bench-v3-${n}`, from: '2.0.0', to: '3.0.0', expect: 'rolled-back' });
      badTime = await phaseCpu(bad.memory.cpuS);
      process.stderr.write(
        `  ${b.name} ${n}: 3.0.0 ${bad.phase}; alarm at ${sec(bad.alarmMs ?? NaN)} s, ${bad.tookBad} device(s) back on 2.0.0 ${sec(bad.allBackMs ?? NaN)} s after it\n`,
      );
      if (bad.phase !== 'rolled-back') failed = await failure(bad, bad.phase === 'rolling-back' ? '2.0.0' : '3.0.0');
    }
    if (failed) process.stderr.write(`  ${b.name} ${n}: FAILED: ${failed}\n`);
    // The traffic stops and what is in flight settles (up to 20 s) before telemetry is counted.
    await Promise.all(fleet.map((f) => f.call('quiesce', { timeoutMs: 20_000 })));
    const f = await fleetStats();
    const gateway = await cloud.call<{ gateway: unknown }>('stats').catch(() => ({ gateway: null }));
    const result = {
      broker: b.name,
      devices: n,
      deviceProcesses: procs,
      metricsMs,
      connectMs,
      ...(failed ? { failed } : {}),
      good,
      bad,
      time: { connect: connectTime, good: goodTime, bad: badTime },
      cloud: {
        idle: setup.memory.idle,
        idleRetainedHeapMiB: setup.memory.retainedHeapMiB,
        connect: online.memory,
        connectRetainedHeapMiB: online.retainedHeapMiB,
        gateway: gateway.gateway,
      },
      fleet: {
        rssMiB: f.rssMiB,
        cpuS: f.cpuS,
        installs: f.installs,
        onV2: f.serving['2.0.0'] ?? 0,
        connects: f.connects,
        telemetrySent: f.telemetrySent,
        telemetryAcked: f.telemetryAcked,
        telemetryResent: f.telemetryResent,
        outboxRows: f.outboxRows,
        errors: f.errors,
      },
    };
    return result;
  } finally {
    await Promise.all(fleet.map((f) => f.call('stop').catch(() => {})));
    await Promise.all(fleet.map((f) => f.kill(5000)));
    await cloud.call('close').catch(() => {});
    await cloud.kill(10_000);
    if (b.url && ids.length) await cleanBroker(b.url, ids).catch((err: Error) => process.stderr.write(`  could not clean the broker: ${err.message}\n`));
    rmSync(dir, { recursive: true, force: true });
  }
}

type Row = Awaited<ReturnType<typeof runOne>>;

function report(rows: Row[], crashed: { broker: string; devices: number; error: string }[], date: string, load: { start: number[]; end: number[] }): string {
  const mem = (m?: Mem) => (m ? `${m.peakRssMiB} / ${m.peakHeapMiB}` : '–');
  const steps = (r?: RolloutResult) => (r ? r.events.map((e) => `${e.event}${e.step !== undefined ? ` ${e.step}` : ''} ${e.ms}`).join(', ') : 'not run');
  const cell = (r: RolloutResult | undefined, f: (r: RolloutResult) => string) => (r ? f(r) : '–');
  const failed = rows.filter((r) => r.failed);
  return [
    '# Fleet rollouts: simulated devices over MQTT (loopback)',
    '',
    `${date}, Node ${process.version}. \`npx tsx bench/rollout.ts --devices ${SIZES.join(',')}${BAKE_MS ? ` --bake-ms ${BAKE_MS}` : ''}${METRICS_MS_FLAG !== undefined ? ` --metrics-ms ${METRICS_MS_FLAG}` : ''}\`${BROKERS.some((b) => b.url) ? ` with KILN_TEST_MQTT_URL=${BROKERS.find((b) => b.url)!.url}` : ' (aedes only: set KILN_TEST_MQTT_URL to add Mosquitto)'}${ONLY ? ` --broker ${ONLY}` : ''}.`,
    '',
    `Load average (1, 5, 15 min) at the start ${load.start.map((x) => x.toFixed(1)).join(', ')}, at the end ${load.end.map((x) => x.toFixed(1)).join(', ')}, on ${availableParallelism()} CPUs: above the CPU count, other work shared the machine and the times are noisy.`,
    '',
    "**Devices are simulated**: each runs the real SyncClient (own MQTT session, real download of the artifact from the cloud's artifact server, sha256 + ed25519 verification, reported state, outbox drain) over a **stand-in agent** (bench/standin-agent.ts): no onnxruntime, installs only read the verified manifest and switch a version pointer, traffic is synthetic (10 pretend requests/s per device; 3.0.0 fails " +
      `${ERROR_RATE * 100} % of them), one metrics record per device every ${rows.map((r) => `${r.metricsMs} ms (${r.devices} devices)`).join(', ') || 'max(2000, devices) ms'} (the real agent writes one per closed minute). The devices run in ${DEVICE_PROCS} Node process(es) (one per CPU); the cloud (gateway, registry, artifact server, DeploymentManager) in another, measured alone.`,
    '',
    `Deployments: canary ${STEPS.join(' → ')} %, bake ${BAKE_MS} ms, gate = error-rate alarm (candidate − baseline > ${ALARM.threshold}, ≥ ${ALARM.minRequests} requests each side); a step holds while the gate has too little data. Seconds.`,
    '',
    '| broker | devices | connect (all reported) | deploy → 100 % on 2.0.0 | deploy → promoted | deploy → alarm (3.0.0) | sent 3.0.0 (had installed it) | alarm → all of them back on 2.0.0 | alarm → rolled-back |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      r.good.phase !== 'promoted'
        ? `| ${r.broker} | ${r.devices} | ${sec(r.connectMs)} | **did not finish** (cloud saw ${r.good.cloudSawCurrent} of ${r.devices}) | – | – | – | – | – |`
        : `| ${r.broker} | ${r.devices} | ${sec(r.connectMs)} | ${sec(r.good.allOnNewMs ?? NaN)} | ${sec(r.good.promotedMs ?? NaN)} | ${cell(r.bad, (b) => sec(b.alarmMs ?? NaN))} | ${cell(r.bad, (b) => `${b.tookBad} (${b.installedBad})`)} | ${cell(r.bad, (b) => (b.phase === 'rolled-back' ? sec(b.allBackMs ?? NaN) : `**did not finish** (${b.phase})`))} | ${cell(r.bad, (b) => sec(b.rolledBackMs ?? NaN))} |`,
    ),
    '',
    '"100 % on 2.0.0" is when the cloud had received the last device\'s report of 2.0.0 current for its newest desired document; "all back" likewise for 2.0.0 after the alarm, over exactly the devices the deployment had sent 3.0.0. The alarm time is the manager step that fired it (its event timestamp).',
    ...(failed.length ? ['', '**Did not finish:**', '', ...failed.map((r) => `- ${r.broker}, ${r.devices} devices: ${r.failed}.`)] : []),
    ...(crashed.length
      ? [
          '',
          '**Stopped by an error** (no figures; a crash of the cloud process is on its stderr):',
          '',
          ...crashed.map((c) => `- ${c.broker}, ${c.devices} devices: ${c.error.split('\n')[0]}`),
        ]
      : []),
    '',
    '## Cloud process',
    '',
    'MiB, peak RSS / peak heap used in each phase (sampled every 100 ms), heap retained after a full GC at the end of the phase; CPU seconds (user + system), event-loop utilization and event-loop delay (p99 / max, ms) over the phase.',
    '',
    '| broker | devices | idle (provisioned, none connected) | connect | rollout 2.0.0 | rollout + rollback 3.0.0 | retained heap: idle → end | CPU s: connect / 2.0.0 / 3.0.0 | event loop busy: 2.0.0 / 3.0.0 | loop delay 2.0.0 | loop delay 3.0.0 |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.broker} | ${r.devices} | ${mem(r.cloud.idle)} | ${mem(r.cloud.connect)} | ${mem(r.good.memory)} | ${mem(r.bad?.memory)} | ${r.cloud.idleRetainedHeapMiB ?? '?'} → ${(r.bad ?? r.good).retainedHeapMiB ?? '?'} | ${r.cloud.connect.cpuS} / ${r.good.memory.cpuS} / ${r.bad?.memory.cpuS ?? '–'} | ${r.good.memory.eventLoopUtilization} / ${r.bad?.memory.eventLoopUtilization ?? '–'} | ${r.good.memory.eventLoopDelayP99Ms} / ${r.good.memory.eventLoopDelayMaxMs} | ${cell(r.bad, (b) => `${b.memory.eventLoopDelayP99Ms} / ${b.memory.eventLoopDelayMaxMs}`)} |`,
    ),
    '',
    'With Mosquitto the broker is a separate process and not in these figures; with aedes the broker runs inside the cloud process and is.',
    '',
    '## MQTT messages (as the cloud counted them, per deployment)',
    '',
    '| broker | devices | deployment | reported states in | telemetry batches in (records) | presence in | desired out | telemetry acks out |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.flatMap((r) =>
      (
        [
          ['2.0.0', r.good],
          ['3.0.0', r.bad],
        ] as const
      ).flatMap(([v, d]) =>
        d
          ? [
              `| ${r.broker} | ${r.devices} | ${v} | ${d.messages.reported} | ${d.messages.telemetryBatches} (${d.messages.telemetryRecords}) | ${d.messages.presence} | ${d.messages.desired} | ${d.messages.telemetryBatches} |`,
            ]
          : [],
      ),
    ),
    '',
    'Telemetry dominates and scales with devices × time (one record per device per metrics interval here); desired documents are one per device per assignment.',
    '',
    '## Steps (ms after deploy)',
    '',
    ...rows.map((r) => `- ${r.broker}, ${r.devices} devices — 2.0.0: ${steps(r.good)}; 3.0.0: ${steps(r.bad)}`),
    '',
    '## Simulated devices process',
    '',
    '| broker | devices | processes | RSS MiB at the end (all) | CPU s (whole run) | installs (downloads) | connects | telemetry sent / acked (re-sent) | acked |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.broker} | ${r.devices} | ${r.deviceProcesses} | ${r.fleet.rssMiB} | ${r.fleet.cpuS} | ${r.fleet.installs} | ${r.fleet.connects} | ${r.fleet.telemetrySent} / ${r.fleet.telemetryAcked} (${r.fleet.telemetryResent}) | ${r.fleet.telemetrySent ? ((100 * r.fleet.telemetryAcked) / r.fleet.telemetrySent).toFixed(1) : '–'} % |`,
    ),
    '',
    '## Where the time went (CPU seconds per phase)',
    '',
    'Wall seconds of the phase, and CPU seconds in it of the cloud process, the device processes together and the broker (Mosquitto from /proc; aedes is inside the cloud). On 2 CPUs a phase can use at most 2 CPU-s per wall second, shared with whatever else runs.',
    '',
    '| broker | devices | phase | wall s | cloud CPU s | devices CPU s | broker CPU s | device (re)connects | telemetry re-sent |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.flatMap((r) =>
      (
        [
          ['connect', r.time.connect],
          ['rollout 2.0.0', r.time.good],
          ['rollout 3.0.0 + rollback', r.time.bad],
        ] as const
      ).flatMap(([p, t]) =>
        t
          ? [
              `| ${r.broker} | ${r.devices} | ${p} | ${t.wallS} | ${t.cloudCpuS} | ${t.devicesCpuS} | ${t.brokerCpuS ?? '(in the cloud)'} | ${t.connects} | ${t.telemetryResent} |`,
            ]
          : [],
      ),
    ),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
  process.stderr.write(
    `rollout bench: brokers ${BROKERS.map((b) => b.name + (b.url ? ` (${b.url})` : ' (embedded)')).join(', ')}; devices ${SIZES.join(', ')}\n`,
  );
  const loadStart = loadavg();
  const artifacts = [await makeArtifact('1.0.0', 1), await makeArtifact('2.0.0', 2), await makeArtifact('3.0.0', 3)];
  const artifactBytes = readFileSync(artifacts[1]).length;
  const rows: Row[] = [];
  const crashed: { broker: string; devices: number; error: string }[] = [];
  for (const b of BROKERS) {
    for (const n of SIZES) {
      process.stderr.write(`${b.name}, ${n} devices\n`);
      try {
        rows.push(await runOne(b, n, artifacts));
      } catch (err) {
        // Reported (and the exit status says so), and the next size still runs.
        process.stderr.write(`  ${b.name} ${n}: STOPPED BY AN ERROR: ${(err as Error).message}\n`);
        crashed.push({ broker: b.name, devices: n, error: (err as Error).message.slice(0, 500) });
      }
    }
  }
  const date = new Date().toISOString();
  const load = { start: loadStart, end: loadavg() };
  const result = {
    date,
    node: process.version,
    loadAverage: load,
    cpus: availableParallelism(),
    standIn: 'devices run the real SyncClient over bench/standin-agent.ts (no onnxruntime; synthetic traffic)',
    brokers: BROKERS.map((b) => ({ name: b.name, url: b.url ?? 'embedded aedes on 127.0.0.1' })),
    options: {
      sizes: SIZES,
      steps: STEPS,
      bakeMs: BAKE_MS,
      metricsMs: METRICS_MS_FLAG ?? 'max(2000, devices)',
      deviceProcesses: DEVICE_PROCS,
      errorRate: ERROR_RATE,
      alarm: ALARM,
      artifactBytes,
    },
    rows,
    crashed,
  };
  writeFileSync(join(RESULTS, 'rollout.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = report(rows, crashed, date, load);
  writeFileSync(join(RESULTS, 'rollout.md'), md);
  process.stdout.write(md);
  rmSync(WORK, { recursive: true, force: true });
  if (crashed.length || rows.some((r) => r.failed)) {
    process.stderr.write(
      `rollout bench: ${crashed.length} run(s) stopped by an error, ${rows.filter((r) => r.failed).length} did not finish (see the report)\n`,
    );
    process.exitCode = 1;
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    process.stderr.write(`bench/rollout failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
