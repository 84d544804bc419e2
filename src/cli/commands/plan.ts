/**
 * `kiln plan FILE`, `kiln apply FILE` and `kiln drift`: declarative deployments over the cloud API.
 * The file is parsed and checked here (every problem with its line), the change set is computed by
 * the cloud (POST /api/plan: it knows the fleet), and apply sends the plan's fingerprint so the cloud
 * refuses when the fleet changed since the plan was shown.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { KilnError } from '../../errors.js';
import type { DeployProblem, Plan, PlannedDeployment, DriftReport } from '../../cloud/deployments/index.js';
import type { Strategy } from '../../cloud/rollout/index.js';
import { defineCommand } from '../framework.js';
import { table } from '../../format.js';
import { ago, callCloud, cloudOptions, refusal, type CloudCtx } from '../cloud-client.js';

const FORMAT_HELP =
  'A deploy file lists deployments:\n\n' +
  '  deployments:\n' +
  '    - model: cnn                 # required\n' +
  '      version: 2.0.0             # required: the version to roll out\n' +
  '      from: 1.0.0                # the baseline (default: what the devices serve now)\n' +
  '      group: store-12            # a device group, or devices: [cam-1, cam-2]\n' +
  '      id: cnn-2.0.0-store-12     # default: MODEL-VERSION-GROUP, so a re-apply finds it\n' +
  '      strategy:                  # or just: strategy: all-at-once\n' +
  '        kind: canary             # all-at-once, canary, linear, blue-green, shadow, ab\n' +
  '        steps: [5, 20, 100]      # canary: cumulative percentages ending at 100\n' +
  '        bake: 10m                # 250ms, 30s, 5m, 1h30m\n' +
  '      guardrails:\n' +
  '        rateLimitPerMinute: 10\n' +
  '        abort: {failedPercent: 20, minDevices: 5}\n' +
  '        alarms:\n' +
  '          - metric: error-rate   # error-rate, p99-latency, failed-installs, agreement, output-shift\n' +
  '            threshold: 0.02\n';

const dur = (ms: number | null | undefined): string =>
  ms === null || ms === undefined
    ? 'until a command'
    : ms === 0
      ? '0s'
      : ms % 3_600_000 === 0
        ? `${ms / 3_600_000}h`
        : ms % 60_000 === 0
          ? `${ms / 60_000}m`
          : ms % 1000 === 0
            ? `${ms / 1000}s`
            : `${ms}ms`;

function strategyText(s: Strategy): string {
  const x = s as Strategy & { percent?: number };
  switch (x.kind) {
    case 'canary':
      return `canary ${x.steps.join(' → ')}%, bake ${dur(x.bakeMs)}`;
    case 'linear':
      return `linear ${x.stepPercent}% every ${dur(x.intervalMs)}`;
    case 'all-at-once':
    case 'blue-green':
      return x.bakeMs ? `${x.kind}, bake ${dur(x.bakeMs)}` : x.kind;
    default:
      return x.percent !== undefined ? `${x.kind} ${x.percent}% to the candidate` : x.kind;
  }
}

function guardrailsText(g: PlannedDeployment['guardrails']): string {
  const parts: string[] = [];
  if (g.rateLimitPerMinute !== undefined) parts.push(`at most ${g.rateLimitPerMinute} devices/min`);
  if (g.abort) parts.push(`abort when ${g.abort.failedPercent}% of ≥${g.abort.minDevices} installs fail`);
  for (const a of g.alarms ?? []) parts.push(`alarm ${a.metric} ${a.threshold}`);
  return parts.join(', ');
}

/** Read and check the file; the returned doc locates the cloud's problems. */
async function readDeployFile(io: CloudCtx['io'], path: string) {
  const full = resolve(io.cwd, path);
  if (!existsSync(full)) throw new KilnError('FILE_NOT_FOUND', `${path}: no such file`, { hint: 'pass a deploy file (YAML), e.g. kiln plan deploy.yaml' });
  if (statSync(full).isDirectory()) throw new KilnError('FILE_NOT_FOUND', `${path} is a folder, not a deploy file`);
  const { parseDeployFile } = await import('../../cloud/deployments/declarative.js');
  const name = relative(io.cwd, full) || path;
  return { name, ...parseDeployFile(readFileSync(full, 'utf8'), name) };
}

/** Plan on the cloud: the plan, with the problems' lines added from the file. */
async function planOnCloud(ctx: CloudCtx, path: string) {
  const file = await readDeployFile(ctx.io, path);
  const { DeployFileError, locate } = await import('../../cloud/deployments/declarative.js');
  const answer = await callCloud(ctx, 'POST', '/api/plan', file.file);
  if (answer.status === 400 && Array.isArray(answer.data?.problems)) throw new DeployFileError(locate(answer.data.problems, file.doc), file.name);
  if (!answer.ok) throw refusal(answer);
  const plan = answer.data.plan as Plan;
  plan.problems = locate(plan.problems, file.doc).sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return { file, plan };
}

function printPlan(plan: Plan, fileName: string, print: (s?: string) => void, short: number): void {
  const problemText = (p: DeployProblem) => `${fileName}${p.line ? `:${p.line}` : ''}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
  print(`Plan for ${fileName} (fingerprint ${plan.fingerprint.slice(0, short)})`);
  for (const d of plan.deployments) {
    const where = 'group' in d.scope ? `group ${d.scope.group}` : `devices ${d.scope.devices.join(', ')}`;
    print('');
    if (d.action === 'create') print(`+ create ${d.id}: ${d.model} ${d.from ?? '(baseline unknown)'} → ${d.to} on ${where}, ${strategyText(d.strategy)}`);
    else print(`= unchanged ${d.id}: ${d.reason}`);
    const guard = guardrailsText(d.guardrails);
    if (d.action === 'create' && guard) print(`    guardrails: ${guard}`);
    if (d.action === 'create' && d.steps.length > 1)
      print(
        `    steps: ${d.steps.map((s) => `${s.step}: ${s.mode === 'rollout' ? `${s.percent}%` : s.mode} (${s.devices} device${s.devices === 1 ? '' : 's'}), bake ${dur(s.bakeMs)}`).join(' · ')}`,
      );
    if (!d.devices.length) continue;
    print(
      table(
        d.devices.map((x) => [
          x.id,
          x.target ?? '-',
          x.online ? 'online' : 'offline',
          x.status ? `${x.status.status} ${x.status.version}` : '-',
          x.serving ?? '-',
          x.desired ?? '-',
          x.change === 'update' ? `${x.serving ?? x.desired ?? '(none)'} → ${x.to}` : 'unchanged',
          x.note,
        ]),
        { header: ['DEVICE', 'TARGET', 'STATE', 'REPORTED', 'SERVING', 'DESIRED', 'CHANGE', 'STEP / WHY'], indent: 4 },
      ),
    );
  }
  const s = plan.summary;
  const n = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;
  print('');
  print(
    `Summary: ${n(s.create, 'deployment')} to create (${n(s.devicesChanging, 'device')} change), ${s.unchanged} unchanged; ${n(s.devicesUnchanged, 'device')} stay as they are.`,
  );
  if (plan.problems.length) {
    print('');
    print(`The plan cannot be applied (${n(plan.problems.length, 'problem')}):`);
    for (const p of plan.problems) print(`  ${problemText(p)}`);
  }
}

const fileArg = [{ name: 'file', description: 'the deploy file (YAML): see the format above' }] as const;

export const plan = defineCommand({
  name: 'plan',
  summary: 'show what a deploy file would change in the fleet: per device, from what to what, at which step',
  description:
    'Reads a deploy file and asks the cloud for the change set: for each deployment, whether it would be created or left as it is ' +
    '(one with the same id exists, running or finished; or every device runs the version already), and for each device what it ' +
    'reports and serves, what is desired, the version it would get and at which step of the strategy. The cloud checks the plan ' +
    "as a real deploy would: unknown groups or devices, devices with no known target, versions with no artifact for a device's " +
    'target, devices held by another active deployment, a baseline that cannot be told. Nothing changes. The plan has a ' +
    'fingerprint: `kiln apply FILE --fingerprint F` applies exactly this plan, or refuses if the fleet changed since.\n\n' +
    FORMAT_HELP +
    '\nExit status: 0 the plan can be applied (with or without changes), 1 it cannot (the problems are listed), 2 the file is invalid.',
  options: { ...cloudOptions },
  positionals: fileArg,
  examples: [
    { command: 'plan deploy.yaml', description: 'the change set, aligned' },
    { command: 'plan deploy.yaml --json', description: 'the plan as JSON (fingerprint, deployments, devices, problems)' },
  ],
  async run({ options, args, io, json, print, printJson }) {
    const { file, plan } = await planOnCloud({ io, options }, args.file);
    if (json) printJson(plan);
    else {
      printPlan(plan, file.name, print, 12);
      if (!plan.problems.length && plan.summary.create)
        print(`To apply exactly this plan: kiln apply ${file.name} --fingerprint ${plan.fingerprint.slice(0, 12)}`);
      if (!plan.problems.length && !plan.summary.create) print('Nothing to apply: the fleet is as the file says (or on its way there).');
    }
    return plan.problems.length ? 1 : 0;
  },
});

export const apply = defineCommand({
  name: 'apply',
  summary: 'carry out a deploy file: show its plan, confirm, create the deployments it lists',
  description:
    'Computes the plan as `kiln plan` does and shows it, asks for a confirmation, then has the cloud create the deployments marked ' +
    'create. The cloud computes the plan again and refuses (nothing applied) when it is not the plan that was shown: the fleet ' +
    'changed in between. With --fingerprint (from `kiln plan`), only that exact plan is applied, without a question. Without a ' +
    'terminal to ask on, pass --yes. Deployments that exist already (same id: running, done or rolled back) are left alone, so ' +
    'applying the same file again changes nothing and says so.\n\n' +
    FORMAT_HELP +
    '\nExit status: 0 applied (or nothing to apply), 1 refused or cancelled, 2 the file or a flag is invalid.',
  options: {
    ...cloudOptions,
    yes: { type: 'boolean', short: 'y', description: 'apply without asking (scripts, CI)' },
    fingerprint: { type: 'string', valueName: 'F', description: 'apply only the plan with this fingerprint (from kiln plan; 12 characters are enough)' },
  },
  positionals: fileArg,
  examples: [
    { command: 'apply deploy.yaml', description: 'show the plan, ask, apply' },
    { command: 'apply deploy.yaml --fingerprint 3f9a1c2b7d4e', description: 'apply the plan that kiln plan showed, or refuse if the fleet changed' },
    { command: 'apply deploy.yaml --yes', description: 'in a script' },
  ],
  async run({ options, args, io, json, print, printJson, usageError }) {
    if (options.fingerprint !== undefined && !/^[0-9a-f]{12,64}$/.test(options.fingerprint))
      throw usageError(`--fingerprint '${options.fingerprint}': expected 12–64 hex characters, as kiln plan prints them`);
    const ctx = { io, options };
    const { file, plan } = await planOnCloud(ctx, args.file);
    const { fingerprintMatches } = await import('../../cloud/deployments/plan.js');
    const say = json ? () => {} : print;
    if (!json) printPlan(plan, file.name, print, 12);
    if (plan.problems.length) {
      if (json) printJson({ applied: false, plan });
      return 1;
    }
    if (options.fingerprint !== undefined && !fingerprintMatches(options.fingerprint, plan.fingerprint)) {
      if (json) printJson({ applied: false, reason: 'plan-changed', plan });
      else
        io.stderr.write(
          `kiln: the fleet changed since the plan ${options.fingerprint} was shown: the plan now is ${plan.fingerprint.slice(0, 12)} (above); nothing was applied — review it, then apply again\n`,
        );
      return 1;
    }
    if (!plan.summary.create) {
      if (json) printJson({ applied: true, created: [], unchanged: plan.deployments.map((d) => ({ id: d.id, reason: d.reason })), plan });
      else say(`Nothing to apply: every deployment in ${file.name} exists already or has nothing to change.`);
      return 0;
    }
    if (!options.yes && options.fingerprint === undefined) {
      if (!io.prompt)
        throw usageError('no terminal to confirm on: pass --yes to apply without a question, or --fingerprint F to apply the plan kiln plan showed');
      const answer = (
        await io.prompt(`\nApply this plan (${plan.summary.create} deployment${plan.summary.create === 1 ? '' : 's'} to create)? Type yes to apply: `)
      )
        .trim()
        .toLowerCase();
      if (answer !== 'yes' && answer !== 'y') {
        say('Cancelled: nothing was applied.');
        return 1;
      }
    }
    const answer = await callCloud(ctx, 'POST', '/api/apply', { file: file.file, fingerprint: options.fingerprint ?? plan.fingerprint });
    if (answer.status === 409 && answer.data?.error === 'plan-changed') {
      if (json) printJson({ applied: false, reason: 'plan-changed', plan: answer.data.plan });
      else {
        io.stderr.write(`kiln: ${answer.data.message}\n`);
        print('');
        print('The plan now:');
        printPlan(answer.data.plan as Plan, file.name, print, 12);
      }
      return 1;
    }
    if (!answer.ok) throw refusal(answer);
    const { created, unchanged } = answer.data as {
      created: { id: string; summary: { model: string; fromVersion: string; toVersion: string; devices: number; phase: string } }[];
      unchanged: { id: string; reason: string }[];
    };
    if (json) return void printJson({ applied: true, created, unchanged, plan: answer.data.plan });
    print('');
    for (const d of created)
      print(
        `created deployment ${d.id}: ${d.summary.model} ${d.summary.fromVersion} → ${d.summary.toVersion} on ${d.summary.devices} device${d.summary.devices === 1 ? '' : 's'} (${d.summary.phase})`,
      );
    for (const u of unchanged) print(`unchanged ${u.id}: ${u.reason}`);
    print(
      `Applied. Follow it with: kiln deployments show ${created[0].id}${created.length > 1 ? ' (and the others)' : ''}; check convergence with: kiln drift`,
    );
    return 0;
  },
});

/** Longest DETAIL shown without --verbose (an agent's reason can quote URLs and hashes). */
const DETAIL_WIDTH = 100;

export const drift = defineCommand({
  name: 'drift',
  summary: 'list devices whose reported state differs from desired: failed installs, other versions, stale, offline',
  description:
    'Asks the cloud which devices do not report what their desired state says, per model: failed (the install of the desired ' +
    "version failed; the agent's reason is shown and it keeps serving the last good version), version-mismatch (it reports or " +
    'serves another version), installing (downloading, verifying, on probation), missing (reports nothing for the model), stale ' +
    '(its report is about an older desired state than the latest) and offline (since its last contact). Devices without a desired ' +
    'state are not managed by the cloud and are not listed.\n\n' +
    'Exit status: 0 no drift, 1 some device drifts (for scripts: `kiln drift || alert`), 2 bad flags.',
  options: { ...cloudOptions, group: { type: 'string', valueName: 'G', description: 'only devices of this group' } },
  examples: [{ command: 'drift' }, { command: 'drift --group store-12 --json' }],
  async run({ options, io, json, verbose, print, printJson }) {
    const answer = await callCloud({ io, options }, 'GET', `/api/drift${options.group ? `?group=${encodeURIComponent(options.group)}` : ''}`);
    if (!answer.ok) throw refusal(answer);
    const report = answer.data.drift as DriftReport;
    if (json) printJson(report);
    else if (!report.entries.length)
      print(
        `No drift: ${report.managed} managed device${report.managed === 1 ? '' : 's'} report${report.managed === 1 ? 's' : ''} their desired state (${report.devices} device${report.devices === 1 ? '' : 's'}${options.group ? ` in group ${options.group}` : ''}).`,
      );
    else {
      print(
        table(
          report.entries.map((e) => {
            const detail = e.kind === 'offline' ? `${e.detail} (${ago(e.since)})` : e.detail;
            return [
              e.deviceId,
              e.group,
              e.model ?? '-',
              e.kind,
              e.desired ?? '-',
              e.reported ?? '-',
              e.serving ?? '-',
              e.deployment ?? '-',
              verbose || detail.length <= DETAIL_WIDTH ? detail : `${detail.slice(0, DETAIL_WIDTH - 1)}…`,
            ];
          }),
          { header: ['DEVICE', 'GROUP', 'MODEL', 'DRIFT', 'DESIRED', 'REPORTED', 'SERVING', 'DEPLOYMENT', 'DETAIL'] },
        ),
      );
      if (!verbose && report.entries.some((e) => e.detail.length > DETAIL_WIDTH)) print('(details cut short: --verbose or --json shows them whole)');
      print('');
      print(
        `${report.drifted} of ${report.managed} managed device${report.managed === 1 ? '' : 's'} drift${report.drifted === 1 ? 's' : ''} (${report.devices} device${report.devices === 1 ? '' : 's'}${options.group ? ` in group ${options.group}` : ''}).`,
      );
    }
    return report.entries.length ? 1 : 0;
  },
});
