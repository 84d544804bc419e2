/**
 * Plan and apply for declarative deployments (`kiln plan` / `kiln apply`, POST /api/plan and
 * /api/apply). A plan is the change set a deploy file would make to the fleet now: per deployment,
 * create or unchanged (and why), and per device what it serves and what is desired → the version it
 * would get, at which step of the strategy, or why it stays. It runs the same checks as a real deploy
 * (unknown group or devices, no known target, missing artifacts per target, devices held by another
 * active deployment, an unclear baseline) and lists every problem with its path in the file.
 *
 * A plan carries a fingerprint of what it would do. `applyPlan` recomputes the plan and refuses when
 * the fingerprint differs (the fleet changed since the plan was shown), then creates exactly the
 * deployments marked create. Deployments that exist already (running or finished) are left alone,
 * so applying the same file twice changes nothing the second time.
 */
import { createHash } from 'node:crypto';
import { KilnError } from '../../errors.js';
import { closest } from '../../suggest.js';
import type { DeviceGateway, DeviceRecord } from '../gateway/index.js';
import type { ModelRegistry } from '../registry/index.js';
import {
  deviceOrder,
  devicesFor,
  isTerminal,
  planSteps,
  RolloutSpecError,
  validateSpec,
  type DeploymentSpec,
  type Guardrails,
  type Strategy,
  type StepMode,
} from '../rollout/index.js';
import type { DeploymentDetail, DeploymentManager, DeploymentSummary } from './manager.js';
import { checkDeployFile, DeployFileError, type DeployProblem, type NormalizedDeployment } from './declarative.js';

/** What planning reads (and `applyPlan` writes through `deployments.create`). */
export interface PlanContext {
  gateway: Pick<DeviceGateway, 'device' | 'devices'>;
  registry: Pick<ModelRegistry, 'missingTargets' | 'artifactsOf'>;
  deployments: Pick<DeploymentManager, 'list' | 'get' | 'create'>;
  /** A device's target when it has not reported one (as the DeploymentManager's). @default none: such a device is a problem */
  defaultTarget?: string;
  /** @default Date.now */
  clock?: () => number;
}

export interface PlannedDevice {
  id: string;
  name: string;
  online: boolean;
  target: string | null;
  /** The version the device reports serving (null: none, or no report). */
  serving: string | null;
  /** Its reported install status for the model and the version that status is about. */
  status: { status: string; version: string; reason?: string } | null;
  /** The version its desired state names for the model. */
  desired: string | null;
  change: 'update' | 'unchanged';
  /** update: the version it goes to. */
  to: string | null;
  /** update: the strategy step (1-based) that moves it; null for unchanged. */
  step: number | null;
  /** update: 'step 1 of 3 (5%)'; unchanged: why ('already on 2.0.0', 'in deployment X (rolling)'). */
  note: string;
}

export interface PlannedStep {
  step: number;
  /** Cumulative percentage of the deployment's devices. */
  percent: number;
  mode: StepMode;
  /** Devices moved by this step (blue/green: the switch moves those staged). */
  devices: number;
  /** Bake after it, ms (null: until a command). */
  bakeMs: number | null;
}

export interface PlannedDeployment {
  /** Its place in the file: 'deployments[0]'. */
  path: string;
  id: string;
  model: string;
  /** The baseline (null when it cannot be told: see the plan's problems). */
  from: string | null;
  to: string;
  scope: { group: string } | { devices: string[] };
  strategy: Strategy;
  guardrails: Guardrails;
  action: 'create' | 'unchanged';
  /** One line: what would happen, or why nothing. */
  reason: string;
  /** The deployment with this id, when one exists. */
  existing: { id: string; phase: string; toVersion: string } | null;
  steps: PlannedStep[];
  devices: PlannedDevice[];
  /** create: the spec `apply` hands to the DeploymentManager. */
  spec: DeploymentSpec | null;
}

export interface Plan {
  /** sha256 of what the plan would do (hex). `apply` refuses when the plan it computes has another. */
  fingerprint: string;
  createdAt: string;
  deployments: PlannedDeployment[];
  summary: { create: number; unchanged: number; devicesChanging: number; devicesUnchanged: number };
  /** Why the plan cannot be applied (every one, with its path in the file); empty when it can. */
  problems: DeployProblem[];
}

/** The first characters of a fingerprint that the CLI shows and accepts. */
export const SHORT_FINGERPRINT = 12;

/** The plan could not be applied: it has problems, or the fleet changed since it was shown. */
export class PlanRefusedError extends KilnError {
  override name = 'PlanRefusedError';
  constructor(
    readonly kind: 'problems' | 'plan-changed',
    message: string,
    readonly plan: Plan,
  ) {
    super('DEPLOYMENT_CONFLICT', message, {
      hint: kind === 'plan-changed' ? 'review the new plan (kiln plan FILE) and apply again' : 'fix the file or the fleet, then plan again',
    });
  }
}

const phaseOf = (d: DeploymentDetail): string => d.state.status.phase;
const version = (v: string | null | undefined): string => v ?? '(none)';

/** The plan for a deploy file's content (parsed YAML or the JSON body). Throws DeployFileError when the file itself is invalid. */
export async function computePlan(ctx: PlanContext, file: unknown): Promise<Plan> {
  const { deployments: declared, problems: fileProblems } = checkDeployFile(file);
  if (fileProblems.length) throw new DeployFileError(fileProblems);
  const problems: DeployProblem[] = [];
  // (Awaited: the manager's queries may become asynchronous with its store.)
  const running = (await ctx.deployments.list()).filter((s: DeploymentSummary) => !['promoted', 'rolled-back', 'aborted'].includes(s.phase));
  const active = (await Promise.all(running.map(async (s) => ctx.deployments.get(s.id)))).filter(
    (d): d is DeploymentDetail => d !== undefined && !isTerminal(d.state),
  );
  const allDevices = ctx.gateway.devices();
  const planned: PlannedDeployment[] = [];
  for (const d of declared) planned.push(await planOne(ctx, d, active, allDevices, problems));

  // Two deployments of one file may not move the same device's model.
  for (let i = 0; i < planned.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = planned[i];
      const b = planned[j];
      if (a.action !== 'create' || b.action !== 'create' || a.model !== b.model) continue;
      const moves = (p: PlannedDeployment) => p.devices.filter((x) => x.change === 'update').map((x) => x.id);
      const shared = moves(a).filter((id) => moves(b).includes(id));
      if (shared.length)
        problems.push({
          path: a.path,
          message: `device(s) ${shared.join(', ')} are also in ${b.path} (${b.id}), which deploys ${b.model} too: one deployment per device and model`,
        });
    }
  }
  const create = planned.filter((p) => p.action === 'create');
  const changing = planned.reduce((n, p) => n + p.devices.filter((d) => d.change === 'update').length, 0);
  const unchangedDevices = planned.reduce((n, p) => n + p.devices.filter((d) => d.change === 'unchanged').length, 0);
  return {
    fingerprint: fingerprintOf(planned),
    createdAt: new Date((ctx.clock ?? Date.now)()).toISOString(),
    deployments: planned,
    summary: { create: create.length, unchanged: planned.length - create.length, devicesChanging: changing, devicesUnchanged: unchangedDevices },
    problems,
  };
}

/** What apply did: the deployments it created, and those it left as they were. */
export interface ApplyResult {
  plan: Plan;
  created: DeploymentDetail[];
  unchanged: { id: string; reason: string }[];
}

/**
 * Apply a deploy file: compute the plan, refuse (PlanRefusedError) when it has problems or when
 * `fingerprint` (the plan that was shown; a prefix of SHORT_FINGERPRINT or more characters is enough)
 * is not its fingerprint, then create the deployments marked create, in file order.
 */
export async function applyPlan(ctx: PlanContext, file: unknown, fingerprint: string): Promise<ApplyResult> {
  const plan = await computePlan(ctx, file);
  if (plan.problems.length)
    throw new PlanRefusedError(
      'problems',
      `the plan cannot be applied (${plan.problems.length} problem${plan.problems.length === 1 ? '' : 's'}): ${plan.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      plan,
    );
  if (!fingerprintMatches(fingerprint, plan.fingerprint)) {
    throw new PlanRefusedError(
      'plan-changed',
      `the fleet changed since the plan was shown: its fingerprint was ${fingerprint.slice(0, SHORT_FINGERPRINT)}, the plan now is ${plan.fingerprint.slice(0, SHORT_FINGERPRINT)}; nothing was applied`,
      plan,
    );
  }
  const created: DeploymentDetail[] = [];
  for (const p of plan.deployments) {
    if (p.action !== 'create' || !p.spec) continue;
    try {
      created.push(await ctx.deployments.create(p.spec));
    } catch (err) {
      // Something changed between the plan and this create (the manager checks again): say what was done.
      if (!created.length || !(err instanceof KilnError)) throw err;
      throw new KilnError(
        err.code,
        `applied in part: created ${created.map((c) => c.spec.id).join(', ')}; then ${p.path} (${p.id}) was refused: ${err.message}`,
        { cause: err },
      );
    }
  }
  return { plan, created, unchanged: plan.deployments.filter((p) => p.action === 'unchanged').map((p) => ({ id: p.id, reason: p.reason })) };
}

/** Whether `given` (full, or a prefix of at least SHORT_FINGERPRINT hex characters) names `actual`. */
export const fingerprintMatches = (given: string, actual: string): boolean =>
  /^[0-9a-f]+$/.test(given) && given.length >= SHORT_FINGERPRINT && actual.startsWith(given);

// ───────────── one deployment ─────────────

async function planOne(
  ctx: PlanContext,
  d: NormalizedDeployment,
  active: DeploymentDetail[],
  all: DeviceRecord[],
  problems: DeployProblem[],
): Promise<PlannedDeployment> {
  const problem = (path: string, message: string) => void problems.push({ path, message });
  const scope = d.group !== undefined ? { group: d.group } : { devices: d.devices! };
  const base = { path: d.path, id: d.id, model: d.model, to: d.version, scope, strategy: d.strategy, guardrails: d.guardrails };

  // The devices it is about (an unknown group or device matters only to a deployment still to create).
  const existing = await ctx.deployments.get(d.id);
  const scopeProblem = (path: string, message: string) => void (existing ? undefined : problem(path, message));
  let records: DeviceRecord[];
  if (d.group !== undefined) {
    records = ctx.gateway.devices({ group: d.group });
    if (!records.length) {
      const groups = [...new Set(all.map((r) => r.group))].sort();
      const guess = closest(d.group, groups);
      scopeProblem(
        `${d.path}.group`,
        `group '${d.group}' has no devices${guess ? ` (did you mean '${guess}'?)` : ''}; groups: ${groups.join(', ') || 'none (add devices with kiln cloud devices add NAME --group G)'}`,
      );
    }
  } else {
    records = [];
    d.devices!.forEach((id, j) => {
      const r = ctx.gateway.device(id);
      if (r) return void records.push(r);
      const guess = closest(
        id,
        all.map((x) => x.id),
      );
      scopeProblem(`${d.path}.devices[${j}]`, `no device '${id}'${guess ? ` (did you mean '${guess}'?)` : ''}`);
    });
  }
  const row = (r: DeviceRecord, change: PlannedDevice['change'], note: string, to: string | null = null, step: number | null = null): PlannedDevice => {
    const m = r.reported?.models[d.model];
    return {
      id: r.id,
      name: r.name,
      online: r.online,
      target: r.reported?.target ?? ctx.defaultTarget ?? null,
      serving: m?.serving ?? null,
      status: m ? { status: m.status, version: m.version, ...(m.reason ? { reason: m.reason } : {}) } : null,
      desired: r.desired?.models[d.model]?.version ?? null,
      change,
      to,
      step,
      note,
    };
  };

  // A deployment with this id exists: applying again leaves it alone.
  if (existing) {
    const s = existing.spec;
    const differs: string[] = [];
    if (s.model !== d.model) differs.push(`model ${s.model}`);
    if (s.toVersion !== d.version) differs.push(`version ${s.toVersion}`);
    if (d.from !== undefined && s.fromVersion !== d.from) differs.push(`from ${s.fromVersion}`);
    if (JSON.stringify(s.strategy) !== JSON.stringify(d.strategy)) differs.push(`strategy ${JSON.stringify(s.strategy)}`);
    if (differs.length)
      problem(
        d.path,
        `deployment '${d.id}' exists already with another spec (${differs.join(', ')}): give this one a new id, or restore the file as it was applied`,
      );
    const phase = phaseOf(existing);
    const status = existing.state.status;
    const reason = !isTerminal(existing.state)
      ? `deployment ${d.id} is in progress (${phase})`
      : status.phase === 'promoted'
        ? `deployment ${d.id} is done (promoted at ${new Date(status.at).toISOString()})`
        : `deployment ${d.id} ended ${phase}${'reason' in status && status.reason ? `: ${status.reason}` : ''} (give it a new id to try again)`;
    const inSpec = new Set(s.devices);
    const seen = new Map(records.map((r) => [r.id, r] as const));
    for (const id of s.devices) {
      const r = seen.has(id) ? undefined : ctx.gateway.device(id);
      if (r) seen.set(id, r);
    }
    const devices = [...seen.values()].map((r) =>
      row(r, 'unchanged', inSpec.has(r.id) ? `in deployment ${d.id} (${phase})` : `not in deployment ${d.id} (joined since)`),
    );
    return {
      ...base,
      from: s.fromVersion,
      action: 'unchanged',
      reason,
      existing: { id: existing.spec.id, phase, toVersion: s.toVersion },
      steps: [],
      devices,
      spec: null,
    };
  }

  // Which devices change: those not on the version already.
  const current = (r: DeviceRecord): string | null => r.reported?.models[d.model]?.serving ?? r.desired?.models[d.model]?.version ?? null;
  const already = records.filter((r) => current(r) === d.version);
  const moving = records.filter((r) => current(r) !== d.version);
  let from = d.from ?? null;
  if (from === null && moving.length) {
    const by = new Map<string, string[]>();
    for (const r of moving) by.set(version(current(r)), [...(by.get(version(current(r))) ?? []), r.id]);
    if (by.size === 1 && !by.has('(none)')) from = [...by.keys()][0];
    else {
      const what = [...by].map(([v, ids]) => `${v}: ${ids.join(', ')}`).join('; ');
      problem(
        d.path,
        by.size === 1
          ? `the devices run no version of ${d.model} (${what}): a deployment needs a baseline they can go back to; give from: VERSION, or install one first`
          : `cannot tell which version the devices run (${what}): name the baseline with from: VERSION`,
      );
    }
  }
  const noTarget = moving.filter((r) => !(r.reported?.target ?? ctx.defaultTarget));
  if (noTarget.length)
    problem(d.path, `no known target for device(s) ${noTarget.map((r) => r.id).join(', ')} (they have not reported one): wait until they have connected`);
  const targeted = moving
    .filter((r) => r.reported?.target ?? ctx.defaultTarget)
    .map((r) => ({ deviceId: r.id, target: (r.reported?.target ?? ctx.defaultTarget)! }));
  for (const [key, v] of [
    ['version', d.version],
    ['from', from],
  ] as const) {
    if (v === null || !targeted.length) continue;
    const missing = await ctx.registry.missingTargets(d.model, v, targeted);
    if (!missing.length) continue;
    const byTarget = new Map<string, string[]>();
    for (const m of missing) byTarget.set(m.target, [...(byTarget.get(m.target) ?? []), m.deviceId ?? '?']);
    const has = (await ctx.registry.artifactsOf(d.model, v)).map((a) => a.target);
    problem(
      key === 'from' && d.from === undefined ? d.path : `${d.path}.${key}`,
      `${d.model} ${v} has no artifact for ${[...byTarget].map(([t, ids]) => `target '${t}' (${ids.join(', ')})`).join(', ')}; it has: ${has.join(', ') || 'none'} — compile and push them with kiln push, or leave those devices out`,
    );
  }
  for (const other of active) {
    if (other.spec.model !== d.model) continue;
    const shared = moving.filter((r) => other.spec.devices.includes(r.id)).map((r) => r.id);
    if (shared.length)
      problem(
        d.path,
        `device(s) ${shared.join(', ')} are in active deployment '${other.spec.id}' of ${d.model} (${phaseOf(other)}): wait for it to finish, or roll it back`,
      );
  }

  const unchangedRows = already.map((r) => row(r, 'unchanged', `already on ${d.version}`));
  if (!moving.length) {
    return {
      ...base,
      from,
      action: 'unchanged',
      reason: records.length ? `every device already runs ${d.model} ${d.version}` : 'no devices',
      existing: null,
      steps: [],
      devices: unchangedRows,
      spec: null,
    };
  }
  let spec: DeploymentSpec | null = null;
  try {
    spec = validateSpec({
      id: d.id,
      model: d.model,
      fromVersion: from ?? '\0unknown',
      toVersion: d.version,
      devices: moving.map((r) => r.id),
      strategy: d.strategy,
      guardrails: d.guardrails,
    });
  } catch (err) {
    if (!(err instanceof RolloutSpecError)) throw err;
    for (const p of err.problems) problem(d.path, p);
  }
  const { steps, stepOf } = spec ? stepsFor(spec) : { steps: [], stepOf: () => null };
  const moveRows = moving.map((r) => {
    const s = stepOf(r.id);
    return row(r, 'update', s ? stepLabel(spec!.strategy, steps, s) : '', d.version, s);
  });
  const order = spec ? deviceOrder(spec) : moving.map((r) => r.id);
  moveRows.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  return {
    ...base,
    from,
    action: 'create',
    reason: `create deployment ${d.id}: ${d.model} ${version(from)} → ${d.version} on ${moving.length} device${moving.length === 1 ? '' : 's'}${already.length ? ` (${already.length} already on ${d.version})` : ''}`,
    existing: null,
    steps,
    devices: [...moveRows, ...unchangedRows],
    spec: from === null ? null : spec,
  };
}

/** The strategy's steps over the spec's devices, and the step (1-based) that first moves each device. */
function stepsFor(spec: DeploymentSpec): { steps: PlannedStep[]; stepOf: (id: string) => number | null } {
  const order = deviceOrder(spec);
  const planned = planSteps(spec);
  const first = new Map<string, number>();
  let covered = 0;
  const steps = planned.map((p, k): PlannedStep => {
    const upTo = devicesFor(p.percent, order.length);
    const moved = p.mode === 'switch' ? upTo : upTo - covered;
    for (const id of order.slice(covered, upTo)) first.set(id, k + 1);
    covered = Math.max(covered, upTo);
    return { step: k + 1, percent: p.percent, mode: p.mode, devices: moved, bakeMs: p.bakeMs };
  });
  return { steps, stepOf: (id) => first.get(id) ?? null };
}

function stepLabel(strategy: Strategy, steps: PlannedStep[], step: number): string {
  const s = steps[step - 1];
  if (strategy.kind === 'blue-green') return 'stage, then switch (all devices)';
  if (strategy.kind === 'shadow') return 'shadow (all devices)';
  if (strategy.kind === 'all-at-once') return 'step 1 of 1 (all devices)';
  if (strategy.kind !== 'canary' && strategy.kind !== 'linear') return `${strategy.kind} (all devices)`;
  return `step ${step} of ${steps.length} (${s.percent}%)`;
}

/**
 * sha256 over what the plan would do: for a deployment to create, its spec and each device's target,
 * serving, desired version and step; for one left unchanged, only that (a running deployment's
 * progress does not change what apply does).
 */
function fingerprintOf(planned: readonly PlannedDeployment[]): string {
  const essence = planned.map((p) =>
    p.action === 'unchanged'
      ? { id: p.id, action: p.action, existing: p.existing?.id ?? null }
      : {
          id: p.id,
          action: p.action,
          model: p.model,
          from: p.from,
          to: p.to,
          strategy: p.strategy,
          guardrails: p.guardrails,
          devices: p.devices.map((x) => [x.id, x.target, x.serving, x.desired, x.change, x.to, x.step]),
        },
  );
  return createHash('sha256').update(JSON.stringify(essence)).digest('hex');
}
