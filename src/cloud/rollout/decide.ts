/**
 * The rollout step function: `decide(spec, state, observation, now) → {state, actions}`. Pure: no I/O,
 * no clock (time is `now`), never mutates its inputs; the same inputs always give the same outputs.
 */
import { aggregate, evaluateAlarms } from './alarms.js';
import { deviceOrder, devicesFor, planSteps, type PlannedStep } from './spec.js';
import { commandRefusal, isFinishedPhase } from './phases.js';
import type {
  ActivePhase,
  AlarmResult,
  DecideOptions,
  Decision,
  DeploymentSpec,
  DeploymentState,
  DesiredForDevice,
  DeviceAssignment,
  FleetObservation,
  RolloutAction,
  RolloutPhase,
  StepMode,
  Verdict,
} from './types.js';

const MINUTE = 60_000;

/** A fresh deployment. */
export function initialState(spec: DeploymentSpec): DeploymentState {
  return { deploymentId: spec.id, status: { phase: 'pending' }, devices: {}, dispatches: [], hold: null, baselineSnapshot: null };
}

export const isTerminal = (s: DeploymentState): boolean => isFinishedPhase(s.status.phase);

/** With an agreement alarm, devices serving the candidate run the baseline as their shadow (to compare outputs). */
const comparesOutputs = (spec: DeploymentSpec): boolean => (spec.guardrails.alarms ?? []).some((a) => a.metric === 'agreement');

/** What a device is sent for a step mode. */
export function desiredFor(spec: DeploymentSpec, mode: StepMode | 'baseline'): DesiredForDevice {
  const { fromVersion: from, toVersion: to } = spec;
  const compare = comparesOutputs(spec) ? { shadowVersion: from } : {};
  switch (mode) {
    case 'rollout':
      return { version: to, ...compare };
    case 'stage':
      return { version: to, variants: { [from]: 1, [to]: 0 } };
    case 'switch':
      return { version: to, variants: { [to]: 1, [from]: 0 }, ...compare };
    case 'ab': {
      const pct = spec.strategy.kind === 'ab' ? spec.strategy.percent : 50;
      return { version: to, variants: { [from]: 100 - pct, [to]: pct }, ...compare };
    }
    case 'shadow':
      return { version: from, shadowVersion: to };
    case 'baseline':
      // Blue/green switches back by weights (the new version stays kept: instant); others reinstall the baseline.
      return spec.strategy.kind === 'blue-green' ? { version: to, variants: { [from]: 1, [to]: 0 } } : { version: from };
  }
}

/** The install outcome a device's report shows for a mode. */
function installOf(spec: DeploymentSpec, obs: FleetObservation, id: string, mode: StepMode | 'baseline'): 'pending' | 'current' | 'failed' {
  const r = obs.devices[id]?.models[spec.model];
  if (!r) return 'pending';
  const { fromVersion: from, toVersion: to } = spec;
  switch (mode) {
    case 'rollout':
    case 'stage':
    case 'ab':
      return r.version === to ? (r.status === 'current' ? 'current' : r.status === 'failed' ? 'failed' : 'pending') : 'pending';
    case 'switch':
      if (r.version === to && r.status === 'failed') return 'failed';
      return r.version === to && r.status === 'current' && (r.serving ?? to) === to ? 'current' : 'pending';
    case 'shadow':
      if (r.shadow?.version !== to) return 'pending';
      return r.shadow.status === 'current' ? 'current' : r.shadow.status === 'failed' ? 'failed' : 'pending';
    case 'baseline':
      return (r.serving ?? (r.status === 'current' ? r.version : undefined)) === from && r.shadow?.version !== to ? 'current' : 'pending';
  }
}

interface Ctx {
  spec: DeploymentSpec;
  obs: FleetObservation;
  now: number;
  s: DeploymentState;
  actions: RolloutAction[];
  steps: PlannedStep[];
  order: string[];
  evaluate: NonNullable<DecideOptions['evaluate']>;
  /** Devices sent a desired state in this decide: the observation predates it, so it says nothing of their install. */
  sent: Set<string>;
}

const record = (c: Ctx, event: Extract<RolloutAction, { type: 'record' }>['event'], detail?: Record<string, unknown>, metrics?: AlarmResult[]): void =>
  void c.actions.push({ type: 'record', event, ...(detail ? { detail } : {}), ...(metrics ? { metrics } : {}) });

/** `final`: a forced promote's install, without the baseline shadow that measures agreement (nothing is judged any more). */
function send(c: Ctx, id: string, mode: StepMode | 'baseline', step: number, final = false): void {
  const desired = desiredFor(c.spec, mode);
  if (final && mode !== 'shadow' && desired.shadowVersion === c.spec.fromVersion) delete desired.shadowVersion;
  const prev = c.s.devices[id];
  const a: DeviceAssignment = { desired, mode, step, tookNew: mode !== 'baseline' || (prev?.tookNew ?? false), install: 'pending', at: c.now };
  c.s.devices[id] = a;
  c.sent.add(id);
  c.actions.push({ type: 'set-desired', deviceId: id, ...desired });
}

function installCounts(s: DeploymentState): { failed: number; finished: number } {
  let failed = 0;
  let finished = 0;
  for (const a of Object.values(s.devices)) {
    if (a.mode === 'baseline' || !a.tookNew) continue;
    if (a.install === 'failed') failed++;
    if (a.install !== 'pending') finished++;
  }
  return { failed, finished };
}

function verdict(c: Ctx): Verdict {
  const { spec, obs, s } = c;
  const candidate = aggregate(obs, spec.devices, spec.toVersion);
  let baseline: ReturnType<typeof aggregate> | null = aggregate(obs, spec.devices, spec.fromVersion);
  let fromSnapshot = false;
  if (baseline.requests > 0) s.baselineSnapshot = baseline;
  else {
    // No baseline traffic: if every device took the candidate, gate against the last snapshot.
    const baselineDevicesLeft = spec.devices.some((d) => !s.devices[d]?.tookNew || spec.strategy.kind === 'shadow' || s.devices[d]?.mode === 'stage');
    if (!baselineDevicesLeft) {
      baseline = s.baselineSnapshot;
      fromSnapshot = baseline !== null;
    }
  }
  return c.evaluate({ spec, state: s, candidate, baseline, baselineFromSnapshot: fromSnapshot, installs: installCounts(s) });
}

function startRollback(c: Ctx, reason: string, metrics: AlarmResult[]): void {
  c.s.status = { phase: 'rolling-back', reason, metrics };
  c.s.hold = null;
  const ids = c.order.filter((id) => c.s.devices[id]?.tookNew);
  for (const id of ids) send(c, id, 'baseline', c.s.devices[id].step);
  record(c, 'alarm' === reason.split(':')[0] ? 'alarm' : 'rollback-requested', { reason, devices: ids }, metrics);
}

function setHold(c: Ctx, why: string[]): void {
  if (!c.s.hold) {
    c.s.hold = { since: c.now, why };
    record(c, 'hold', { why });
  } else c.s.hold = { since: c.s.hold.since, why };
}
function releaseHold(c: Ctx): void {
  if (c.s.hold) {
    record(c, 'hold-released', { heldMs: c.now - c.s.hold.since });
    c.s.hold = null;
  }
}

function applyCommand(c: Ctx): void {
  const cmd = c.obs.command;
  if (!cmd) return;
  const st = c.s.status;
  const why = commandRefusal(cmd.kind, st);
  if (why) return record(c, 'command-ignored', { command: cmd.kind, phase: st.phase, why });
  switch (cmd.kind) {
    case 'pause':
      c.s.status = { phase: 'paused', previous: st as ActivePhase, ...(cmd.reason ? { reason: cmd.reason } : {}) };
      return record(c, 'paused', cmd.reason ? { reason: cmd.reason } : undefined);
    case 'resume':
      c.s.status = (st as Extract<RolloutPhase, { phase: 'paused' }>).previous;
      return record(c, 'resumed');
    case 'promote': {
      c.s.status = { phase: 'rolling', step: c.steps.length - 1, forced: true };
      c.s.hold = null;
      return record(c, 'promote-requested');
    }
    case 'rollback':
      return startRollback(c, `manual: ${cmd.reason ?? 'rollback requested'}`, []);
  }
}

/** The mode a forced promote installs: what "done" means for the strategy (A/B: the candidate only). */
const finalMode = (spec: DeploymentSpec): StepMode => (spec.strategy.kind === 'blue-green' ? 'switch' : 'rollout');

/** One step of the rollout. */
export function decide(spec: DeploymentSpec, state: DeploymentState, observation: FleetObservation, now: number, options: DecideOptions = {}): Decision {
  const s: DeploymentState = structuredClone(state);
  if (s.deploymentId !== spec.id) throw new RangeError(`decide: state is for deployment '${s.deploymentId}', spec is '${spec.id}'`);
  const c: Ctx = {
    spec,
    obs: observation,
    now,
    s,
    actions: [],
    steps: planSteps(spec),
    order: deviceOrder(spec),
    evaluate: options.evaluate ?? evaluateAlarms,
    sent: new Set(),
  };
  s.dispatches = s.dispatches.filter((t) => t > now - MINUTE);

  if (isTerminal(s)) return { state: s, actions: [] };
  applyCommand(c);

  // Refresh install outcomes.
  for (const [id, a] of Object.entries(s.devices)) if (a.install === 'pending' || a.mode === 'baseline') a.install = installOf(spec, observation, id, a.mode);

  const st = s.status;
  if (st.phase === 'rolling-back') {
    const back = c.order.filter((id) => s.devices[id]?.mode === 'baseline');
    const waiting = back.filter((id) => s.devices[id].install !== 'current');
    if (waiting.length === 0) {
      s.status = { phase: 'rolled-back', reason: st.reason, metrics: st.metrics, at: now };
      record(c, 'rolled-back', { reason: st.reason, devices: back }, st.metrics);
    }
    return { state: s, actions: c.actions };
  }

  if (st.phase === 'pending') {
    s.status = { phase: 'rolling', step: 0 };
    record(c, 'started', { strategy: spec.strategy.kind, devices: spec.devices.length });
    record(c, 'step-started', { step: 0, percent: c.steps[0].percent });
  }

  // Guardrails at every decide while the candidate runs (paused included: pausing never silences an alarm).
  const abort = spec.guardrails.abort;
  if (abort) {
    const { failed, finished } = installCounts(s);
    if (finished >= abort.minDevices && (failed * 100) / finished >= abort.failedPercent) {
      const reason = `abort threshold: ${failed} of ${finished} finished installs failed (≥ ${abort.failedPercent}%)`;
      const ids = c.order.filter((id) => s.devices[id]?.tookNew);
      for (const id of ids) send(c, id, 'baseline', s.devices[id].step);
      s.status = { phase: 'aborted', reason, failed, finished, at: now };
      s.hold = null;
      record(c, 'aborted', { reason, failed, finished, devices: ids });
      return { state: s, actions: c.actions };
    }
  }
  const v = verdict(c);
  if (v.outcome === 'fire') {
    const fired = v.results.filter((r) => r.outcome === 'fire').map((r) => r.metric);
    startRollback(c, `alarm: ${fired.join(', ')}`, v.results);
    return { state: s, actions: c.actions };
  }

  const cur = s.status;
  if (cur.phase === 'paused' || (cur.phase !== 'rolling' && cur.phase !== 'baking')) return { state: s, actions: c.actions };

  if (cur.phase === 'rolling') {
    const planned = c.steps[cur.step];
    const mode = cur.forced ? finalMode(spec) : planned.mode;
    const percent = cur.forced ? 100 : planned.percent;
    const rateLimited = cur.forced ? true : planned.rateLimited;
    const cohort = c.order.slice(0, devicesFor(percent, c.order.length));
    const need = cohort.filter((id) => s.devices[id]?.mode !== mode);
    const limit = spec.guardrails.rateLimitPerMinute;
    const room = rateLimited && limit !== undefined ? Math.max(0, Math.floor(limit) - s.dispatches.length) : need.length;
    for (const id of need.slice(0, room)) {
      send(c, id, mode, cur.step, cur.forced === true);
      if (rateLimited) s.dispatches.push(now);
    }
    // (An A/B promote keeps the version: the old report would look like a finished install.)
    for (const id of cohort) if (s.devices[id]?.install === 'pending' && !c.sent.has(id)) s.devices[id].install = installOf(spec, observation, id, mode);
    const unfinished = cohort.filter((id) => s.devices[id]?.mode !== mode || s.devices[id].install === 'pending');
    if (unfinished.length > 0) {
      const offline = unfinished.filter((id) => s.devices[id]?.mode === mode && !observation.devices[id]?.online);
      if (offline.length > 0) setHold(c, [`${offline.length} device(s) offline before installing: ${offline.join(', ')}`]);
      else releaseHold(c);
      return { state: s, actions: c.actions };
    }
    releaseHold(c);
    record(c, 'step-installed', { step: cur.step, percent, devices: cohort.length, ...installCounts(s) });
    if (cur.forced) return promote(c);
    s.status = { phase: 'baking', step: cur.step, until: planned.bakeMs === null ? null : now + planned.bakeMs };
  }

  const bake = s.status as Extract<ActivePhase, { phase: 'baking' }>;
  if (bake.until === null || now < bake.until) return { state: s, actions: c.actions };
  // A blue/green stage serves none of the candidate: nothing to judge yet, so "no data" does not hold it.
  if (v.outcome === 'no-data' && c.steps[bake.step].mode !== 'stage') {
    setHold(
      c,
      v.results
        .filter((r) => r.outcome === 'no-data')
        .map((r) => `${r.metric}: not enough data (${r.samples.candidateRequests} candidate / ${r.samples.baselineRequests} baseline requests)`),
    );
    return { state: s, actions: c.actions };
  }
  releaseHold(c);
  record(c, 'step-passed', { step: bake.step }, v.results);
  if (bake.step + 1 >= c.steps.length) return promote(c);
  s.status = { phase: 'rolling', step: bake.step + 1 };
  record(c, 'step-started', { step: bake.step + 1, percent: c.steps[bake.step + 1].percent });
  return decideRolling(c, spec, observation, now, options);
}

function promote(c: Ctx): Decision {
  c.s.status = { phase: 'promoted', at: c.now };
  c.s.hold = null;
  // The baseline shadow that measured agreement has done its job: the promoted desired drops it.
  for (const id of c.order) {
    const a = c.s.devices[id];
    if (!a || a.mode === 'baseline' || a.mode === 'shadow' || a.desired.shadowVersion !== c.spec.fromVersion) continue;
    const { shadowVersion: _, ...desired } = a.desired;
    c.s.devices[id] = { ...a, desired, at: c.now };
    c.actions.push({ type: 'set-desired', deviceId: id, ...desired });
  }
  record(c, 'promoted', { version: c.spec.toVersion, devices: c.spec.devices.length });
  return { state: c.s, actions: c.actions };
}

/** After a step passes, dispatch the next one in the same decide (no idle tick between steps). */
function decideRolling(c: Ctx, spec: DeploymentSpec, observation: FleetObservation, now: number, options: DecideOptions): Decision {
  const next = decide(spec, c.s, { devices: observation.devices }, now, options);
  return { state: next.state, actions: [...c.actions, ...next.actions] };
}
