/**
 * A share of bench/rollout.ts's simulated fleet, in its own process: bench/rollout.ts forks one of
 * these per CPU and gives each its devices, so the fleet's MQTT sessions, downloads and telemetry
 * spread over the machine's cores (10,000 devices in one Node process took one core alone). Each
 * device is the REAL SyncClient over a STAND-IN agent (bench/standin-agent.ts). Not run by hand.
 *
 * Requests (parent → here): { id, cmd, args }; answers: { id, ok, result } or { id, ok: false, error }.
 *   start  { devices: [{id, secret}], brokerUrl, dir, model, initialVersion, errorRates, metricsMs } → {}
 *   stats  {}  → per-version serving counts, installs, connects, telemetry sent/acked/re-sent, RSS, CPU s
 *   quiesce { timeoutMs } → stops the traffic, waits until the outboxes are empty (or the timeout)
 *   stop   {}  → stops every client; the process exits
 */
import { join } from 'node:path';
import { SyncClient } from '../src/edge-agent/sync/index.js';
import { StandInAgent } from './standin-agent.js';
import { serveParent, type Handlers } from './child-ipc.js';

const agents: StandInAgent[] = [];
const clients: SyncClient[] = [];
const errors: string[] = [];
let traffic: NodeJS.Timeout | undefined;
const cpu0 = process.cpuUsage();

const handlers: Handlers = {
  async start(a) {
    const logger = {
      debug() {},
      info() {},
      warn() {},
      error: (msg: string, f?: Record<string, unknown>) => void (errors.length < 5 && errors.push(`${msg} ${JSON.stringify(f ?? {}).slice(0, 200)}`)),
    };
    for (const d of a.devices as { id: string; secret: string }[]) {
      const agent = new StandInAgent({
        dataDir: join(a.dir as string, d.id),
        model: a.model as string,
        initialVersion: a.initialVersion as string,
        errorRates: a.errorRates as Record<string, number>,
      });
      const c = new SyncClient(agent, { url: a.brokerUrl as string, deviceId: d.id, deviceSecret: d.secret, target: 'x86_64', logger });
      agents.push(agent);
      clients.push(c);
      c.start();
    }
    // Every device writes one metrics record per metricsMs, a tenth of them every tenth of it: the
    // fleet's telemetry is spread in time as a real fleet's is, not one burst per interval.
    const metricsMs = a.metricsMs as number;
    let slot = 0;
    traffic = setInterval(() => {
      const now = Date.now();
      for (let i = slot; i < agents.length; i += 10) agents[i].serve(now);
      slot = (slot + 1) % 10;
    }, metricsMs / 10);
    return {};
  },
  async stats() {
    const serving: Record<string, number> = {};
    for (const a of agents) serving[a.serving ?? '(none)'] = (serving[a.serving ?? '(none)'] ?? 0) + 1;
    const s = clients.map((c) => c.stats());
    const cpu = process.cpuUsage(cpu0);
    return {
      devices: agents.length,
      serving,
      installs: agents.reduce((n, a) => n + a.installs, 0),
      connects: s.reduce((n, x) => n + x.connects, 0),
      connected: s.filter((x) => x.connected).length,
      telemetrySent: s.reduce((n, x) => n + x.sent, 0),
      telemetryAcked: s.reduce((n, x) => n + x.acked, 0),
      telemetryResent: s.reduce((n, x) => n + x.resent, 0),
      outboxRows: agents.reduce((n, a) => n + a.outbox.count(), 0),
      rssMiB: Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10,
      cpuS: Math.round(((cpu.user + cpu.system) / 1e6) * 10) / 10,
      errors,
    };
  },
  /** Stop the traffic and wait (up to timeoutMs) until every outbox is empty: what was sent is acknowledged or not. */
  async quiesce(a) {
    if (traffic) clearInterval(traffic);
    traffic = undefined;
    const end = Date.now() + (a.timeoutMs as number);
    while (Date.now() < end && agents.some((x) => x.outbox.count() > 0)) await new Promise((r) => setTimeout(r, 100));
    return {};
  },
  async stop() {
    if (traffic) clearInterval(traffic);
    await Promise.all(clients.map((c) => c.stop()));
    return {};
  },
};

serveParent(handlers, 'stop');
