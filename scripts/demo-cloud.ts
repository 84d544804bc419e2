/**
 * The demo's cloud story: the whole product on one machine. The cloud (registry, device gateway with
 * its embedded MQTT broker, deployments, HTTP API and dashboard) starts on free ports; four devices
 * run real agents (each with its own HTTP endpoint and credentials) and answer a steady stream of
 * held-out digits; `kiln push` registers three versions and `kiln deploy` rolls them out by canary:
 *
 *   - 2.0.0, the int8 build: passes its gates at each step and is promoted;
 *   - 3.0.0, a deliberately broken build (its classifier head's weights are zeros, as a bad export
 *     would leave them): it answers the same digit for everything, the output-shift alarm sees the
 *     canary's answers drift away from the baseline devices' answers, and the cloud rolls it back.
 *
 * Telemetry note: agents close their per-minute aggregates every minute; the demo asks them to
 * flush every half second so that the gates have data within seconds rather than minutes.
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { runMain } from '../src/cli/main.js';
import { captureIo } from '../src/cli/io.js';
import { compileModel } from '../src/compiler/compile.js';
import { memorySource } from '../src/compiler/io-spec.js';
import type { Sample } from '../src/compiler/quantize/calibrate.js';
import { loadModel, saveModel } from '../src/onnx/model.js';
import { makeTensor, tensorFloats } from '../src/onnx/tensor.js';
import { IMAGE_SIZE, PIXELS, type DigitSet } from '../models/mnist/data.js';
import { Agent } from '../src/edge-agent/index.js';
import { serveAgent, type AgentServer } from '../src/edge-agent/http/server.js';
import { SyncClient } from '../src/edge-agent/sync/index.js';
import { startCloud, type RunningCloud } from '../src/cloud/admin.js';

const say = (text = '') => process.stdout.write(`${text}\n`);
const MODEL = 'models/mnist/mnist.onnx';
const NAME = 'digits';
const DEVICES = ['pi-kitchen', 'pi-garage', 'pi-porch', 'laptop'];

interface Device {
  name: string;
  id: string;
  agent: Agent;
  sync: SyncClient;
  http: AgentServer;
}

/** The digit model with its last Gemm's weights zeroed: every input gets the bias's favourite class. */
function brokenHead(out: string): string {
  const model = loadModel(MODEL);
  const gemms = model.graph!.node!.filter((n) => n.opType === 'Gemm');
  const head = gemms[gemms.length - 1];
  const weights = model.graph!.initializer!.find((t) => t.name === head.input![1])!;
  const zeros = new Float32Array(tensorFloats(weights).length);
  const i = model.graph!.initializer!.indexOf(weights);
  model.graph!.initializer![i] = makeTensor(weights.name!, weights.dataType!, weights.dims!.map(Number), zeros);
  saveModel(model, out);
  return out;
}

export async function cloudStory(options: { out: string; calibration: Sample[]; test: DigitSet; keepOpen: boolean }): Promise<void> {
  const dir = join(options.out, 'cloud');
  rmSync(dir, { recursive: true, force: true });
  const data = memorySource('mnist training digits', options.calibration);
  const build = (version: string, source: string, quantize: 'none' | 'int8') =>
    compileModel(source, {
      target: 'x86_64',
      quantize,
      measurePerNode: false,
      modelName: NAME,
      modelVersion: version,
      outDir: join(dir, 'build', `${NAME}-${version}`),
      calibrationData: data,
      maxCalibrationSamples: 160,
    });
  const v1 = await build('1.0.0', MODEL, 'none');
  const v2 = await build('2.0.0', MODEL, 'int8');
  const v3 = await build('3.0.0', brokenHead(join(dir, 'broken-head.onnx')), 'none');

  const db = join(dir, 'cloud.db');
  const cloud = await startCloud({ dbPath: db, port: 0, http: { port: 0 } });
  const http = cloud.http!;
  const devices: Device[] = [];
  const traffic = { stop: false, done: Promise.resolve(), sent: 0 };
  const cli = async (argv: string[]): Promise<string[]> => {
    const io = captureIo();
    const code = await runMain(argv, io);
    const lines = `${io.out}${io.err}`.trimEnd().split('\n');
    if (code !== 0) throw new Error(`kiln ${argv.join(' ')} failed:\n${lines.join('\n')}`);
    return lines;
  };
  const api = ['--cloud-url', http.url, '--db', db];
  try {
    say(`   cloud      API + dashboard ${http.url}, MQTT broker ${cloud.brokerUrl} (embedded), database ${db}`);
    for (const v of [v1, v2, v3]) {
      const [line] = await cli(['push', v.artifact.archive, '--db', db]);
      say(`   kiln push  ${line}`);
    }
    for (const name of DEVICES) {
      const device = cloud.gateway.addDevice(name, { group: 'home' });
      const agent = new Agent({ dataDir: join(dir, 'devices', name), models: [v1.artifact.archive] });
      await agent.start();
      const sync = new SyncClient(agent, { url: cloud.brokerUrl, deviceId: device.id, deviceSecret: device.secret, target: 'x86_64' });
      sync.start();
      devices.push({ name, id: device.id, agent, sync, http: await serveAgent(agent, { port: 0 }) });
    }
    await until(() => devices.every((d) => cloud.gateway.device(d.id)?.reported?.models[NAME]?.serving === '1.0.0'), 'every device online and reporting 1.0.0');
    say(`   devices    ${devices.map((d) => `${d.name} (${d.http.url})`).join(', ')}`);
    say(`              each authenticated with its own credentials, serving ${NAME} 1.0.0 (installed at provisioning)`);

    traffic.done = sendDigits(devices, options.test, traffic);
    say(`   traffic    every device answers the same stream of held-out digits over HTTP (/v2/models/${NAME}/infer)`);

    for (const [version, what] of [
      ['2.0.0', 'the int8 build'],
      ['3.0.0', 'a broken build (classifier head zeroed)'],
    ] as const) {
      say();
      say(`   \x1b[1mroll out ${version}\x1b[0m — ${what}`);
      const argv = [
        'deploy',
        '--model',
        NAME,
        '--version',
        version,
        '--group',
        'home',
        '--strategy',
        'canary',
        '--steps',
        '25,100',
        '--bake',
        '4s',
        '--alarm',
        'error-rate=0.05',
        '--alarm',
        'output-shift=0.3',
        '--alarm-min-requests',
        '40',
        '--id',
        `${NAME}-${version}`,
        ...api,
      ];
      say(`   $ kiln ${argv.filter((a) => !api.includes(a)).join(' ')}`);
      await cli(argv);
      const end = await follow(cloud, `${NAME}-${version}`, devices);
      say(`   → ${end}; serving: ${devices.map((d) => `${d.name} ${cloud.gateway.device(d.id)?.reported?.models[NAME]?.serving ?? '?'}`).join(', ')}`);
    }
    traffic.stop = true;
    await traffic.done;
    const { telemetry } = cloud.gateway.stats();
    say();
    say(
      `   telemetry  ${traffic.sent} requests answered; ${telemetry.records} records from the devices' outboxes stored exactly once (${telemetry.duplicates} duplicates dropped)`,
    );
    const token = http.tokenFile ? `?token=${encodeURIComponent((await import('node:fs')).readFileSync(http.tokenFile, 'utf8').trim())}` : '';
    if (options.keepOpen) {
      say(`   dashboard  ${http.dashboardUrl}${token}`);
      say('              (the cloud and the devices keep running; press Ctrl-C to stop)');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    } else say('   dashboard  closed with the demo (run `npm start` in a terminal to keep the cloud up and open it)');
  } finally {
    traffic.stop = true;
    await traffic.done.catch(() => {});
    for (const d of devices) {
      await d.http.close();
      await d.sync.stop();
      await d.agent.close();
    }
    await cloud.close();
  }
}

/** Print a deployment's events as they happen, until it finishes; returns its final phase in words. */
async function follow(cloud: RunningCloud, id: string, devices: Device[]): Promise<string> {
  const names = new Map(devices.map((d) => [d.id, d.name]));
  let shown = 0;
  for (;;) {
    const detail = cloud.http!.deployments.get(id)!;
    const events = detail.events;
    const started = events[0]?.at ?? Date.now();
    for (const e of events.slice(shown)) if (e.event !== 'started') say(`     ${fmtTime(e.at, started).padStart(6)}  ${describe(e, names)}`);
    shown = events.length;
    const phase = detail.state.status;
    if (phase.phase === 'promoted') return 'promoted: every device serves the new version';
    if (phase.phase === 'rolled-back') return `rolled back automatically (${phase.reason})`;
    if (phase.phase === 'aborted') return `aborted (${phase.reason})`;
    if (Date.now() - started > 120_000) throw new Error(`deployment ${id} did not finish in 2 minutes (phase ${phase.phase})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const fmtTime = (at: number, since: number): string => `${((at - since) / 1000).toFixed(1)}s`;

interface ShownEvent {
  event: string;
  detail?: Record<string, unknown>;
  metrics?: {
    metric: string;
    outcome: string;
    candidate?: number;
    baseline?: number;
    threshold: number;
    samples: { candidateRequests: number; baselineRequests: number };
  }[];
}

function describe(e: ShownEvent, names: Map<string, string>): string {
  const d = e.detail ?? {};
  const who = (ids: unknown) => (Array.isArray(ids) ? ids.map((i) => names.get(String(i)) ?? String(i)).join(', ') : '');
  const gate = (m: NonNullable<ShownEvent['metrics']>[number]) =>
    m.candidate === undefined
      ? `${m.metric} ${m.outcome}`
      : m.metric === 'output-shift' // a distance between the canary's and the baseline's answers
        ? `output-shift ${m.candidate.toFixed(3)} (limit ${m.threshold}) ${m.outcome}`
        : `${m.metric} ${m.candidate.toFixed(3)} vs baseline ${m.baseline?.toFixed(3) ?? '-'} (limit ${m.threshold}) ${m.outcome}`;
  const gates = (e.metrics ?? []).map(gate).join(', ');
  const fired = (e.metrics ?? []).filter((m) => m.outcome === 'fire');
  const requests = fired[0] ? ` on ${fired[0].samples.candidateRequests} canary vs ${fired[0].samples.baselineRequests} baseline requests` : '';
  switch (e.event) {
    case 'created':
      return `created: ${d.from} → ${d.to} on ${d.devices} devices by ${d.strategy}`;
    case 'step-started':
      return `step ${Number(d.step) + 1} started: ${d.percent}% of the group`;
    case 'step-installed':
      return `step ${Number(d.step) + 1} installed on ${d.devices} device(s); baking`;
    case 'step-passed':
      return `step ${Number(d.step) + 1} passed its gates: ${gates}`;
    case 'started':
      return `started`;
    case 'alarm':
      return `\x1b[31mALARM\x1b[0m ${fired.map(gate).join(', ')}${requests} → rolling back ${who(d.devices)}`;
    case 'rolled-back':
      return `rolled back: ${who(d.devices)} on the previous version again`;
    case 'promoted':
      return `promoted: ${d.version} on all ${d.devices} devices`;
    case 'hold':
      return `holding (no data yet): ${(d.why as string[] | undefined)?.join('; ') ?? ''}`;
    case 'hold-released':
      return `data arrived after ${(Number(d.heldMs) / 1000).toFixed(1)} s; going on`;
    default:
      return `${e.event} ${Object.keys(d).length ? JSON.stringify(d) : ''}`;
  }
}

/** Every device answers the same digits, one request each per round, until stopped. */
async function sendDigits(devices: Device[], test: DigitSet, state: { stop: boolean; sent: number }): Promise<void> {
  let k = 0;
  let lastFlush = 0;
  while (!state.stop) {
    // The held-out digits are stored class by class; a prime stride walks them in a mixed order.
    const i = (k++ * 797) % test.count;
    const body = JSON.stringify({
      inputs: [
        { name: 'image', datatype: 'FP32', shape: [1, IMAGE_SIZE, IMAGE_SIZE, 1], data: Array.from(test.images.subarray(i * PIXELS, (i + 1) * PIXELS)) },
      ],
    });
    await Promise.all(
      devices.map(async (d) => {
        const res = await fetch(`${d.http.url}/v2/models/${NAME}/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json' } }).catch(
          () => undefined,
        );
        await res?.arrayBuffer();
        if (res?.ok) state.sent++;
      }),
    );
    if (Date.now() - lastFlush > 500) {
      for (const d of devices) d.agent.flushMetrics(true);
      lastFlush = Date.now();
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
