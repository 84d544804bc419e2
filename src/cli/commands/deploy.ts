/**
 * `kiln deploy` and `kiln deployments list|show|pause|resume|promote|rollback`: thin clients of the
 * cloud's HTTP API (`kiln cloud start`), called through cloud-client.ts (the operator token from --token,
 * KILN_CLOUD_TOKEN, or the api-token file beside --db; the API from --cloud-url or KILN_CLOUD_URL).
 */
import { defineCommand } from '../framework.js';
import { cloudApi, cloudOptions, timeText } from '../cloud-client.js';
import { phaseText, type RolloutPhase } from '../../cloud/rollout/index.js';

const table = (head: string[], rows: string[][], print: (s: string) => void) => {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows])
    print(
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    );
};
const dur = (ms: number) => (ms % 60_000 === 0 && ms ? `${ms / 60_000}m` : ms % 1000 === 0 && ms ? `${ms / 1000}s` : `${ms}ms`);

/** The phase in words, by the rollout engine's description (times local, fired alarms by metric). */
const statusText = (status: RolloutPhase): string => phaseText(status, { time: (ms) => timeText(ms), alarms: (fired) => fired.map(metricText).join('; ') });

function strategyText(s: any): string {
  if (s.kind === 'canary') return `canary ${s.steps.join(' → ')}%, bake ${dur(s.bakeMs)}`;
  if (s.kind === 'linear') return `linear ${s.stepPercent}% every ${dur(s.intervalMs)}`;
  return s.bakeMs ? `${s.kind}, bake ${dur(s.bakeMs)}` : s.kind;
}

const metricText = (m: any) =>
  `${m.metric} ${m.outcome}${m.candidate !== undefined ? ` candidate ${+Number(m.candidate).toFixed(4)}` : ''}${m.baseline !== undefined ? ` baseline ${+Number(m.baseline).toFixed(4)}` : ''} threshold ${m.threshold} (${m.samples.candidateRequests}/${m.samples.baselineRequests} req)`;

function printDeployment(d: any, print: (s: string) => void): void {
  const s = d.summary;
  print(`deployment ${d.id}: ${s.model} ${s.fromVersion} → ${s.toVersion}, ${strategyText(d.spec.strategy)}`);
  print(`  phase:    ${statusText(d.state.status)}`);
  print(`  devices:  ${s.devices} (${s.tookNew} sent ${s.toVersion})`);
  if (d.spec.strategy.kind === 'canary') {
    const current = d.state.status.step ?? d.state.status.previous?.step;
    const done = ['promoted'].includes(d.state.status.phase);
    print('  steps:');
    table(
      ['    STEP', 'PERCENT', 'DEVICES', 'STATE'],
      d.spec.strategy.steps.map((p: number, i: number) => {
        const n = Object.values(d.state.devices).filter((a: any) => a.step === i && a.mode !== 'baseline').length;
        return [`    ${i + 1}`, `${p}%`, String(n), done || (current !== undefined && i < current) ? 'passed' : i === current ? 'current' : 'waiting'];
      }),
      print,
    );
  }
  print('  versions:');
  table(
    ['    DEVICE', 'DESIRED', 'MODE', 'STEP', 'INSTALL'],
    d.spec.devices.map((id: string) => {
      const a = d.state.devices[id];
      return a
        ? [`    ${id}`, `${a.desired.version}${a.desired.shadowVersion ? ` (shadow ${a.desired.shadowVersion})` : ''}`, a.mode, String(a.step + 1), a.install]
        : [`    ${id}`, `${s.fromVersion}`, 'untouched', '-', '-'];
    }),
    print,
  );
  print('  events:');
  table(
    ['    TIME', 'EVENT', 'DETAIL'],
    d.events.map((e: any) => [
      `    ${timeText(e.at)}`,
      e.event,
      [
        e.detail
          ? Object.entries(e.detail)
              .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
              .join(' ')
          : '',
        ...(e.metrics ?? []).map(metricText),
      ]
        .filter(Boolean)
        .join('; '),
    ]),
    print,
  );
}

export const deploy = defineCommand({
  name: 'deploy',
  summary: 'roll a model version out to a device group through the cloud API',
  description:
    'Creates a deployment on the running cloud (kiln cloud start): from the version the group serves now to --version, by the ' +
    "strategy given. The cloud refuses a version with no artifact for some device's target, listing them.",
  options: {
    ...cloudOptions,
    model: { type: 'string', required: true, valueName: 'NAME', description: 'the model' },
    version: { type: 'string', required: true, valueName: 'V', description: 'the version to roll out' },
    group: { type: 'string', required: true, valueName: 'G', description: 'the device group' },
    from: { type: 'string', valueName: 'V', description: 'the baseline version (default: what the group serves now)' },
    id: { type: 'string', valueName: 'ID', description: 'the deployment id (default: MODEL-VERSION-TIME)' },
    strategy: { type: 'string', valueName: 'KIND', description: 'all-at-once, canary, linear, blue-green, shadow or ab (default: canary)' },
    steps: { type: 'string', valueName: 'P,P,…', description: 'canary steps as cumulative percentages (default: 5,20,100)' },
    bake: { type: 'string', valueName: 'DURATION', description: 'bake time at each canary step, or after all-at-once / blue-green (default for canary: 10m)' },
    'step-percent': { type: 'string', valueName: 'P', description: 'linear: percent of the group per step (default: 25)' },
    percent: { type: 'string', valueName: 'P', description: "ab: the new version's share of each device's requests, until promote or rollback (default: 10)" },
    interval: { type: 'string', valueName: 'DURATION', description: 'linear: time between steps (default: 10m)' },
    'rate-limit': { type: 'string', valueName: 'N', description: 'most devices sent the new version per minute' },
    alarm: {
      type: 'string',
      multiple: true,
      valueName: 'METRIC=T',
      description:
        'roll back automatically when the candidate devices do worse than the baseline devices: error-rate=0.02 (absolute increase), ' +
        'p99-latency=1.5 (ratio), failed-installs=0.1 (share), agreement=0.95 (fires below), output-shift=0.3 (distance); repeatable',
    },
    'alarm-min-requests': {
      type: 'string',
      valueName: 'N',
      description: 'requests each side needs before an alarm judges; until then the rollout holds (default: 100)',
    },
    abort: { type: 'string', valueName: 'P%@N', description: 'abort when P% of installs failed, once N devices finished installing (e.g. 20%@5)' },
  },
  examples: [
    { command: 'deploy --model cnn --version 2.0.0 --group store-12 --strategy canary --steps 5,20,100 --bake 10m' },
    { command: 'deploy --model cnn --version 2.0.0 --group store-12 --strategy linear --step-percent 25 --interval 5m' },
    { command: 'deploy --model cnn --version 2.0.0 --group store-12 --alarm error-rate=0.02 --alarm p99-latency=1.5 --abort 20%@5' },
    { command: 'deploy --model cnn --version 2.0.0 --group lab --strategy ab --percent 10 --alarm agreement=0.95' },
  ],
  async run({ options, io, json, print, printJson, usageError }) {
    const { strategyFromFlags } = await import('../../cloud/deployments/flags.js');
    let strategy;
    try {
      strategy = strategyFromFlags({
        strategy: options.strategy ?? 'canary',
        steps: options.steps,
        bake: options.bake,
        stepPercent: options['step-percent'],
        interval: options.interval,
        percent: options.percent,
      });
    } catch (err) {
      throw usageError((err as Error).message);
    }
    const body: Record<string, unknown> = {
      model: options.model,
      version: options.version,
      group: options.group,
      ...(options.from ? { fromVersion: options.from } : {}),
      ...(options.id ? { id: options.id } : {}),
    };
    const s = strategy as { kind: string; steps?: number[]; bakeMs?: number; stepPercent?: number; intervalMs?: number; percent?: number };
    body.strategy = {
      kind: s.kind,
      ...(s.percent !== undefined ? { percent: s.percent } : {}),
      ...(s.steps ? { steps: s.steps } : {}),
      ...(s.bakeMs !== undefined ? { bake: s.bakeMs } : {}),
      ...(s.stepPercent !== undefined ? { stepPercent: s.stepPercent } : {}),
      ...(s.intervalMs !== undefined ? { interval: s.intervalMs } : {}),
    };
    try {
      const { guardrailsFromFlags } = await import('../../cloud/deployments/flags.js');
      const guardrails = guardrailsFromFlags({
        rateLimit: options['rate-limit'],
        alarms: options.alarm,
        alarmMinRequests: options['alarm-min-requests'],
        abort: options.abort,
      });
      if (guardrails) body.guardrails = guardrails;
    } catch (err) {
      throw usageError((err as Error).message);
    }
    const { deployment } = await cloudApi({ io, options }, 'POST', '/api/deployments', body);
    if (json) return printJson(deployment);
    printDeployment(deployment, print);
    print(`follow it with: kiln deployments show ${deployment.id}`);
  },
});

export const deploymentsList = defineCommand({
  name: 'deployments list',
  summary: 'list deployments: id, model, versions, strategy, phase, devices',
  options: { ...cloudOptions },
  async run({ options, io, json, print, printJson }) {
    const { deployments } = await cloudApi({ io, options }, 'GET', '/api/deployments');
    if (json) return printJson(deployments);
    if (!deployments.length) return print('no deployments (start one with: kiln deploy --model M --version V --group G)');
    table(
      ['ID', 'MODEL', 'FROM', 'TO', 'STRATEGY', 'PHASE', 'DEVICES', 'UPDATED'],
      deployments.map((d: any) => [d.id, d.model, d.fromVersion, d.toVersion, d.strategy, d.phase, `${d.tookNew}/${d.devices}`, timeText(d.updatedAt)]),
      print,
    );
  },
});

export const deploymentsShow = defineCommand({
  name: 'deployments show',
  summary: 'show a deployment: phase, steps, devices on which version, events with their metric values',
  options: { ...cloudOptions },
  positionals: [{ name: 'id', description: 'the deployment id' }],
  async run({ options, args, io, json, print, printJson }) {
    const { deployment } = await cloudApi({ io, options }, 'GET', `/api/deployments/${encodeURIComponent(args.id)}`);
    if (json) return printJson(deployment);
    printDeployment(deployment, print);
  },
});

const commandOf = (verb: 'pause' | 'resume' | 'promote' | 'rollback', summary: string) =>
  defineCommand({
    name: `deployments ${verb}`,
    summary,
    options: {
      ...cloudOptions,
      ...(verb === 'pause' || verb === 'rollback'
        ? { reason: { type: 'string', valueName: 'TEXT', description: 'why (recorded in the events)' } as const }
        : {}),
    },
    positionals: [{ name: 'id', description: 'the deployment id' }],
    async run({ options, args, io, json, print, printJson }) {
      const reason = (options as { reason?: string }).reason;
      const { deployment } = await cloudApi({ io, options }, 'POST', `/api/deployments/${encodeURIComponent(args.id)}/${verb}`, reason ? { reason } : {});
      if (json) return printJson(deployment);
      const last = deployment.events.at(-1);
      print(
        `deployment ${deployment.id}: ${statusText(deployment.state.status)}${last?.event === 'command-ignored' ? ` (${verb} ignored: ${last.detail?.why ?? 'not allowed now'})` : ''}`,
      );
    },
  });

export const deploymentsPause = commandOf('pause', 'pause a deployment: no further devices get the new version until resumed');
export const deploymentsResume = commandOf('resume', 'resume a paused deployment');
export const deploymentsPromote = commandOf('promote', 'promote a deployment now: the remaining steps, bakes and gates are skipped');
export const deploymentsRollback = commandOf('rollback', 'roll a deployment back: every device that took the new version goes back');
