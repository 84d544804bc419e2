/**
 * Sync benchmarks (`npx tsx bench/sync.ts`), agent ↔ cloud over MQTT on loopback, written to
 * bench/results/sync.{json,md}. Each suite runs against the embedded aedes broker, and again against
 * an external broker (Mosquitto) when KILN_TEST_MQTT_URL is set.
 *
 *   1. desired → serving: `setDesiredState` with a new version of a small CNN (1×3×32×32, compiled
 *      and signed by compileModel, served by a local HTTP artifact server on 127.0.0.1) until the
 *      device answers an inference with the new version, and until it reports 'current'. Alternates
 *      v1/v2; the agent keeps no previous versions (keepVersions 0) and every URL is new, so every
 *      round really downloads, verifies and installs. Split from the device's timestamps on its
 *      reported statuses: propagation (desired written → 'downloading'), download (→ 'verifying'),
 *      verify (→ 'probation'), probation/install (→ 'current'). Inference runs the whole time.
 *   2. telemetry throughput per device: N records put in one agent's outbox while it is
 *      disconnected, then the SyncClient (default settings) started; records/s until every record is
 *      acknowledged (the outbox is empty of them) and stored — exactly N in the cloud's database.
 *
 * Options: --rounds N (desired-state rounds, default 10), --records N (default 20000), --quick.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WORK = join(tmpdir(), `kiln-bench-sync-${process.pid}`);
process.env.KILN_HOME = join(WORK, 'home');
const RESULTS = 'bench/results';

const argv = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = argv.indexOf(name);
  const n = i >= 0 ? Number(argv[i + 1]) : NaN;
  return Number.isInteger(n) && n > 0 ? n : def;
};
const QUICK = argv.includes('--quick');
const ROUNDS = arg('--rounds', QUICK ? 4 : 10);
const RECORDS = arg('--records', QUICK ? 5000 : 20_000);

const pct = (xs: number[], q: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};
const round1 = (x: number) => Math.round(x * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uniqueId = (p: string) => `${p}-${process.pid}-${randomBytes(4).toString('hex')}`;

interface Broker {
  name: 'aedes' | 'mosquitto';
  url?: string;
}
const BROKERS: Broker[] = [{ name: 'aedes' }, ...(process.env.KILN_TEST_MQTT_URL ? [{ name: 'mosquitto' as const, url: process.env.KILN_TEST_MQTT_URL }] : [])];

/** A plain HTTP artifact server on 127.0.0.1: every file at its own path (new path = no cache). */
class Artifacts {
  private server?: Server;
  private readonly files = new Map<string, Buffer>();
  url = '';
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const body = this.files.get((req.url ?? '').split('?')[0]);
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': String(body.length), 'content-type': 'application/gzip' });
      res.end(body);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  add(path: string, bytes: Buffer): string {
    this.files.set(`/${path}`, bytes);
    return `${this.url}/${path}`;
  }
  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

async function makeArtifact(version: string, seed: number): Promise<{ tgz: string; bytes: Buffer }> {
  const { compileModel } = await import('../src/compiler/compile.js');
  const { buildCnn } = await import('../src/onnx/builder.js');
  const { saveModel } = await import('../src/onnx/model.js');
  const src = join(WORK, `cnn-${version}.onnx`);
  saveModel(buildCnn({ inputShape: [1, 3, 32, 32], seed }), src);
  const res = await compileModel(src, {
    target: 'x86_64',
    quantize: 'none',
    outDir: join(WORK, `cnn-${version}`),
    cacheDir: join(WORK, 'cache'),
    modelName: 'cnn',
    modelVersion: version,
  });
  return { tgz: res.artifact.archive, bytes: readFileSync(res.artifact.archive) };
}

interface Round {
  target: string;
  /** ms from setDesiredState called to: */
  downloading: number;
  verifying: number;
  probation: number;
  current: number;
  /** reported current, as received by the cloud */
  currentSeen: number;
  firstInference: number;
}

async function desiredBench(b: Broker, v1: { tgz: string; bytes: Buffer }, v2: { tgz: string; bytes: Buffer }, keyId: string, files: Artifacts) {
  const { startGateway } = await import('../src/cloud/gateway/index.js');
  const { Agent } = await import('../src/edge-agent/agent.js');
  const { SyncClient } = await import('../src/edge-agent/sync/index.js');
  const dir = join(WORK, `desired-${b.name}`);
  mkdirSync(dir, { recursive: true });
  const gw = await startGateway({ dbPath: join(dir, 'cloud.db'), brokerUrl: b.url });
  const dev = gw.addDevice('bench-desired', { id: uniqueId('bench-d') });
  const agent = new Agent({ dataDir: join(dir, 'agent'), models: [v1.tgz], keepVersions: 0 });
  await agent.start();
  const sync = new SyncClient(agent, { url: gw.brokerUrl, deviceId: dev.id, deviceSecret: dev.secret });
  // t: when the cloud received the report (performance clock); at: when the device made it (wall clock, ms).
  const events: { desiredVersion: number | null; status: string; version: string; t: number; at: number }[] = [];
  gw.on('reported', (r) => {
    const m = r.deviceId === dev.id ? r.state.models.cnn : undefined;
    if (m) events.push({ desiredVersion: r.state.desiredVersion, status: m.status, version: m.version, t: performance.now(), at: Date.parse(r.state.at) });
  });
  // Steady inference the whole time; records when each version first answered.
  const input = { input: { type: 'float32', dims: [1, 3, 32, 32], data: new Float32Array(3 * 32 * 32).map((_, i) => Math.sin(i)) } } as never;
  const firstAnswer = new Map<string, number>();
  let inferring = true;
  let inferences = 0;
  let inferErrors = 0;
  const loop = (async () => {
    while (inferring) {
      try {
        const { version } = await agent.infer('cnn', input);
        inferences++;
        const t = performance.now();
        if (!firstAnswer.has(version)) firstAnswer.set(version, t);
      } catch {
        inferErrors++;
      }
      await sleep(2);
    }
  })();
  const rounds: Round[] = [];
  try {
    sync.start();
    await sync.waitFor(() => sync.connected, 15_000);
    const waitUntil = async (cond: () => boolean, ms: number, what: string) => {
      const end = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`${b.name}: timed out waiting for ${what}`);
        await sleep(2);
      }
    };
    for (let i = 0; i < ROUNDS; i++) {
      const target = i % 2 === 0 ? '2.0.0' : '1.0.0';
      const art = target === '2.0.0' ? v2 : v1;
      const url = files.add(`${b.name}/${i}/cnn-${target}.tgz`, art.bytes);
      const { sha256Hex } = await import('../src/protocol/artifact.js');
      const expected = gw.registry.nextDesiredVersion(dev.id);
      firstAnswer.delete(target);
      const t0 = performance.now();
      const w0 = Date.now();
      await gw.setDesiredState(dev.id, {
        cnn: { version: target, artifact: { url, sha256: sha256Hex(art.bytes), sizeBytes: art.bytes.length, signature: { algorithm: 'ed25519', keyId } } },
      });
      const mine = () => events.filter((e) => e.desiredVersion === expected && e.version === target);
      await waitUntil(() => mine().some((e) => e.status === 'current' || e.status === 'failed') && firstAnswer.has(target), 60_000, `round ${i} (${target})`);
      const failed = mine().find((e) => e.status === 'failed');
      if (failed) throw new Error(`${b.name}: round ${i} failed`);
      // The split uses the device's own timestamps (the cloud may receive several reports at once).
      const at = (s: string) => (mine().find((e) => e.status === s)?.at ?? NaN) - w0;
      const seen = (mine().find((e) => e.status === 'current')?.t ?? NaN) - t0;
      rounds.push({
        target,
        downloading: at('downloading'),
        verifying: at('verifying'),
        probation: at('probation'),
        current: at('current'),
        currentSeen: seen,
        firstInference: firstAnswer.get(target)! - t0,
      });
      if (agent.versions('cnn').length !== 1) throw new Error(`${b.name}: expected one kept version, got ${agent.versions('cnn').length}`);
      process.stderr.write(`  ${b.name} round ${i + 1}/${ROUNDS} → ${target}: serving after ${round1(rounds.at(-1)!.firstInference)} ms\n`);
    }
  } finally {
    inferring = false;
    await loop;
    await sync.stop();
    await agent.close();
    await gw.close();
  }
  const col = (f: (r: Round) => number) => rounds.map(f);
  const summary = (xs: number[]) => ({ p50: round1(pct(xs, 0.5)), p90: round1(pct(xs, 0.9)) });
  return {
    broker: b.name,
    rounds: rounds.length,
    artifactBytes: { v1: v1.bytes.length, v2: v2.bytes.length },
    inferences,
    inferErrors,
    ms: {
      toServing: summary(col((r) => r.firstInference)),
      toCurrent: summary(col((r) => r.currentSeen)),
      propagation: summary(col((r) => r.downloading)),
      download: summary(col((r) => r.verifying - r.downloading)),
      verify: summary(col((r) => r.probation - r.verifying)),
      probation: summary(col((r) => r.current - r.probation)),
    },
    raw: rounds.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? round1(v) : v]))),
  };
}

async function telemetryBench(b: Broker, v1: { tgz: string }) {
  const { startGateway } = await import('../src/cloud/gateway/index.js');
  const { Agent } = await import('../src/edge-agent/agent.js');
  const { SyncClient } = await import('../src/edge-agent/sync/index.js');
  const dir = join(WORK, `telemetry-${b.name}`);
  mkdirSync(dir, { recursive: true });
  const gw = await startGateway({ dbPath: join(dir, 'cloud.db'), brokerUrl: b.url });
  const dev = gw.addDevice('bench-telemetry', { id: uniqueId('bench-t') });
  const agent = new Agent({ dataDir: join(dir, 'agent'), models: [v1.tgz], outboxMaxRows: RECORDS + 1000 });
  await agent.start();
  const KIND = 'bench.record';
  const tf = performance.now();
  for (let i = 0; i < RECORDS; i++) agent.outbox.add(KIND, { model: 'cnn', version: '1.0.0', seq: i, latencyMs: (i % 97) / 10 });
  const fillMs = performance.now() - tf;
  if (agent.outbox.count(KIND) !== RECORDS) throw new Error(`outbox holds ${agent.outbox.count(KIND)} of ${RECORDS}`);
  const sync = new SyncClient(agent, { url: gw.brokerUrl, deviceId: dev.id, deviceSecret: dev.secret });
  let connectMs = NaN;
  let seconds = NaN;
  try {
    const t0 = performance.now();
    sync.start();
    await sync.waitFor(() => sync.connected, 15_000);
    connectMs = performance.now() - t0;
    await sync.waitFor(() => agent.outbox.count(KIND) === 0, 120_000);
    seconds = (performance.now() - t0) / 1000;
    // Acked means stored (the cloud acks after its commit).
    const stored = gw.registry.telemetryCount(dev.id, KIND);
    const distinct = new Set(gw.registry.telemetry(dev.id, KIND).map((r) => (r.payload as { seq: number }).seq)).size;
    if (stored !== RECORDS || distinct !== RECORDS) throw new Error(`${b.name}: stored ${stored} (${distinct} distinct) of ${RECORDS}`);
    const s = sync.stats();
    const g = gw.stats();
    process.stderr.write(`  ${b.name}: ${RECORDS} records in ${seconds.toFixed(2)} s\n`);
    return {
      broker: b.name,
      records: RECORDS,
      stored,
      distinct,
      seconds: Math.round(seconds * 1000) / 1000,
      recordsPerSecond: Math.round(RECORDS / seconds),
      connectMs: round1(connectMs),
      outboxFillMs: Math.round(fillMs),
      sent: s.sent,
      acked: s.acked,
      cloud: { batches: g.telemetry.batches, inserted: g.telemetry.records, duplicates: g.telemetry.duplicates, dropped: g.dropped },
    };
  } finally {
    await sync.stop();
    await agent.close();
    await gw.close();
  }
}

async function main(): Promise<void> {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
  process.stderr.write(`sync bench: brokers ${BROKERS.map((b) => b.name + (b.url ? ` (${b.url})` : ' (embedded)')).join(', ')}\n`);
  const v1 = await makeArtifact('1.0.0', 1);
  const v2 = await makeArtifact('2.0.0', 2);
  const keyId = (JSON.parse(readFileSync(join(WORK, 'cnn-2.0.0', 'signature.json'), 'utf8')) as { keyId: string }).keyId;
  const files = new Artifacts();
  await files.start();
  const desired = [];
  const telemetry = [];
  try {
    for (const b of BROKERS) {
      process.stderr.write(`desired → serving (${b.name}), ${ROUNDS} rounds\n`);
      desired.push(await desiredBench(b, v1, v2, keyId, files));
      process.stderr.write(`telemetry throughput (${b.name}), ${RECORDS} records\n`);
      telemetry.push(await telemetryBench(b, v1));
    }
  } finally {
    await files.close();
  }
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    brokers: BROKERS.map((b) => ({ name: b.name, url: b.url ?? 'embedded aedes on 127.0.0.1' })),
    rounds: ROUNDS,
    records: RECORDS,
    desired,
    telemetry,
  };
  writeFileSync(join(RESULTS, 'sync.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    '# Sync: agent ↔ cloud over MQTT (loopback)',
    '',
    `${result.date}, Node ${process.version}. \`npx tsx bench/sync.ts\`${BROKERS.length > 1 ? '' : ' (set KILN_TEST_MQTT_URL to add Mosquitto)'}.`,
    '',
    `## Desired state written → device serving the new version (${ROUNDS} rounds, alternating 2.0.0/1.0.0, every round downloads)`,
    '',
    `Small CNN 1×3×32×32 (artifact ${desired[0]?.artifactBytes.v2 ?? '?'} bytes), HTTP artifact server on 127.0.0.1, agent with keepVersions 0 and inference running throughout. ms, p50 / p90.`,
    '',
    '| broker | to first inference by the new version | to reported current | propagation (→ downloading) | download | verify | probation + install | inferences (errors) |',
    '|---|---|---|---|---|---|---|---|',
    ...desired.map((d) => {
      const f = (k: keyof typeof d.ms) => `${d.ms[k].p50} / ${d.ms[k].p90}`;
      return `| ${d.broker} | ${f('toServing')} | ${f('toCurrent')} | ${f('propagation')} | ${f('download')} | ${f('verify')} | ${f('probation')} | ${d.inferences} (${d.inferErrors}) |`;
    }),
    '',
    'The split is from the device\'s timestamps on its reported statuses (ms resolution): propagation = desired written → downloading; download = → verifying; verify = → probation; probation + install = → current. "to reported current" is when the cloud received that report.',
    '',
    `## Telemetry throughput per device (${RECORDS} records in the outbox, default SyncClient settings)`,
    '',
    '| broker | records/s | seconds | connect ms | stored (distinct) | sent | cloud batches | duplicates |',
    '|---|---|---|---|---|---|---|---|',
    ...telemetry.map(
      (t) =>
        `| ${t.broker} | ${t.recordsPerSecond} | ${t.seconds} | ${t.connectMs} | ${t.stored} (${t.distinct}) | ${t.sent} | ${t.cloud.batches} | ${t.cloud.duplicates} |`,
    ),
    '',
    'Measured from SyncClient.start() (connect included) until the outbox holds none of the records; every record acknowledged is stored, and exactly N are stored. "sent" above N = records re-sent after the 10 s ack timeout (a stall).',
    '',
  ].join('\n');
  writeFileSync(join(RESULTS, 'sync.md'), md);
  process.stdout.write(md);
  rmSync(WORK, { recursive: true, force: true });
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    process.stderr.write(`bench/sync failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
