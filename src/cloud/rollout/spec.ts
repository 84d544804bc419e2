/** Spec validation (one error listing every problem), the step plan, and the deterministic device order. Pure. */
import { createHash } from 'node:crypto';
import { KilnError } from '../../errors.js';
import { ALARM_METRICS, STRATEGY_KINDS, type DeploymentSpec, type StepMode } from './types.js';

/** A deployment spec was rejected; `problems` lists every one. */
export class RolloutSpecError extends KilnError {
  override name = 'RolloutSpecError';
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super('BAD_DEPLOYMENT_SPEC', `deployment spec is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${problems.join('; ')}`);
    this.problems = Object.freeze([...problems]);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function unknownKeys(where: string, o: Record<string, unknown>, allowed: string[], problems: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) problems.push(`${where}: unknown key '${k}' (allowed: ${allowed.join(', ')})`);
}

/** Validate a spec from outside (YAML, HTTP). Returns a frozen deep copy, or throws RolloutSpecError listing every problem. */
export function validateSpec(input: unknown): DeploymentSpec {
  const p: string[] = [];
  if (!isObj(input)) throw new RolloutSpecError(['spec must be an object']);
  unknownKeys('spec', input, ['id', 'model', 'fromVersion', 'toVersion', 'devices', 'strategy', 'guardrails'], p);
  for (const k of ['id', 'model', 'fromVersion', 'toVersion'] as const) if (!nonEmpty(input[k])) p.push(`${k} must be a non-empty string`);
  if (nonEmpty(input.fromVersion) && input.fromVersion === input.toVersion) p.push(`toVersion '${input.toVersion}' must differ from fromVersion`);
  const devices = input.devices;
  if (!Array.isArray(devices) || devices.length === 0) p.push('devices must be a non-empty array of device ids');
  else {
    if (devices.some((d) => !nonEmpty(d))) p.push('devices must all be non-empty strings');
    const seen = new Set<unknown>();
    const dup = devices.filter((d) => seen.size === seen.add(d).size);
    if (dup.length) p.push(`devices has duplicates: ${[...new Set(dup)].join(', ')}`);
  }
  const s = input.strategy;
  if (!isObj(s)) p.push(`strategy must be an object with kind one of ${STRATEGY_KINDS.join(', ')}`);
  else if (!(STRATEGY_KINDS as readonly unknown[]).includes(s.kind))
    p.push(`strategy.kind '${String(s.kind)}' is unknown (valid: ${STRATEGY_KINDS.join(', ')})`);
  else if (s.kind === 'canary') {
    unknownKeys('strategy', s, ['kind', 'steps', 'bakeMs'], p);
    const steps = s.steps;
    if (!Array.isArray(steps) || steps.length === 0) p.push('strategy.steps must be a non-empty array of percentages');
    else {
      steps.forEach((v, i) => {
        if (!num(v) || v <= 0 || v > 100) p.push(`strategy.steps[${i}] = ${JSON.stringify(v)} must be a percentage in (0, 100]`);
        else if (i > 0 && num(steps[i - 1]) && v <= (steps[i - 1] as number))
          p.push(`strategy.steps must be strictly increasing: steps[${i}] = ${v} follows ${steps[i - 1]}`);
      });
      if (steps[steps.length - 1] !== 100) p.push(`strategy.steps must end at 100 (ends at ${JSON.stringify(steps[steps.length - 1])})`);
    }
    if (!num(s.bakeMs) || s.bakeMs < 0) p.push('strategy.bakeMs must be a number ≥ 0');
  } else if (s.kind === 'linear') {
    unknownKeys('strategy', s, ['kind', 'stepPercent', 'intervalMs'], p);
    if (!num(s.stepPercent) || s.stepPercent <= 0 || s.stepPercent > 100) p.push('strategy.stepPercent must be a percentage in (0, 100]');
    if (!num(s.intervalMs) || s.intervalMs < 0) p.push('strategy.intervalMs must be a number ≥ 0');
  } else if (s.kind === 'all-at-once' || s.kind === 'blue-green') {
    unknownKeys('strategy', s, ['kind', 'bakeMs'], p);
    if (s.bakeMs !== undefined && (!num(s.bakeMs) || s.bakeMs < 0)) p.push('strategy.bakeMs must be a number ≥ 0');
  } else if (s.kind === 'ab') {
    unknownKeys('strategy', s, ['kind', 'percent'], p);
    if (!num(s.percent) || s.percent <= 0 || s.percent >= 100)
      p.push(`strategy.percent = ${JSON.stringify(s.percent)} must be the candidate's share of requests, a percentage in (0, 100)`);
  } else unknownKeys('strategy', s, ['kind'], p);

  const g = input.guardrails ?? {};
  if (!isObj(g)) p.push('guardrails must be an object');
  else {
    unknownKeys('guardrails', g, ['rateLimitPerMinute', 'abort', 'alarms'], p);
    if (g.rateLimitPerMinute !== undefined && (!num(g.rateLimitPerMinute) || g.rateLimitPerMinute < 1))
      p.push('guardrails.rateLimitPerMinute must be a number ≥ 1');
    if (g.abort !== undefined) {
      const a = g.abort;
      if (!isObj(a)) p.push('guardrails.abort must be {failedPercent, minDevices}');
      else {
        unknownKeys('guardrails.abort', a, ['failedPercent', 'minDevices'], p);
        if (!num(a.failedPercent) || a.failedPercent < 0 || a.failedPercent > 100) p.push('guardrails.abort.failedPercent must be in [0, 100]');
        if (!Number.isInteger(a.minDevices) || (a.minDevices as number) < 1) p.push('guardrails.abort.minDevices must be an integer ≥ 1');
      }
    }
    if (g.alarms !== undefined) {
      if (!Array.isArray(g.alarms)) p.push('guardrails.alarms must be an array');
      else
        g.alarms.forEach((a: unknown, i: number) => {
          const w = `guardrails.alarms[${i}]`;
          if (!isObj(a)) return void p.push(`${w} must be an object`);
          unknownKeys(w, a, ['metric', 'threshold', 'minRequests', 'minDevices'], p);
          if (!(ALARM_METRICS as readonly unknown[]).includes(a.metric))
            p.push(`${w}.metric '${String(a.metric)}' is unknown (valid: ${ALARM_METRICS.join(', ')})`);
          if (!num(a.threshold) || a.threshold < 0) p.push(`${w}.threshold must be a number ≥ 0`);
          if (a.minRequests !== undefined && (!Number.isInteger(a.minRequests) || (a.minRequests as number) < 0))
            p.push(`${w}.minRequests must be an integer ≥ 0`);
          if (a.minDevices !== undefined && (!Number.isInteger(a.minDevices) || (a.minDevices as number) < 1)) p.push(`${w}.minDevices must be an integer ≥ 1`);
        });
    }
  }
  if (p.length) throw new RolloutSpecError(p);
  const copy = JSON.parse(JSON.stringify({ ...input, guardrails: g })) as DeploymentSpec;
  return deepFreeze(copy);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export interface PlannedStep {
  /** Cumulative percentage of the group. */
  percent: number;
  mode: StepMode;
  /** Bake after the step's installs finish; null = until a command. */
  bakeMs: number | null;
  /** Rate limit applies (not to the blue/green switch). */
  rateLimited: boolean;
}

/** The steps a strategy takes. */
export function planSteps(spec: DeploymentSpec): PlannedStep[] {
  const s = spec.strategy;
  switch (s.kind) {
    case 'all-at-once':
      return [{ percent: 100, mode: 'rollout', bakeMs: s.bakeMs ?? 0, rateLimited: true }];
    case 'canary':
      return s.steps.map((percent) => ({ percent, mode: 'rollout', bakeMs: s.bakeMs, rateLimited: true }));
    case 'linear': {
      const out: PlannedStep[] = [];
      for (let k = 1; ; k++) {
        const percent = Math.min(100, Math.round(k * s.stepPercent * 1e6) / 1e6);
        out.push({ percent, mode: 'rollout', bakeMs: s.intervalMs, rateLimited: true });
        if (percent >= 100) return out;
      }
    }
    case 'blue-green':
      return [
        { percent: 100, mode: 'stage', bakeMs: 0, rateLimited: true },
        { percent: 100, mode: 'switch', bakeMs: s.bakeMs ?? 0, rateLimited: false },
      ];
    case 'shadow':
      return [{ percent: 100, mode: 'shadow', bakeMs: null, rateLimited: true }];
    case 'ab':
      return [{ percent: 100, mode: 'ab', bakeMs: null, rateLimited: true }];
    default:
      throw new RolloutSpecError([`strategy.kind '${String((s as { kind: unknown }).kind)}' is unknown (valid: ${STRATEGY_KINDS.join(', ')})`]);
  }
}

/** Devices in their rollout order: by sha256(deploymentId + '\0' + deviceId), ties by id. Stable across restarts. */
export function deviceOrder(spec: Pick<DeploymentSpec, 'id' | 'devices'>): string[] {
  // Every step of a deployment asks again: kept per spec object (specs are not changed once made).
  const known = orders.get(spec);
  if (known && known.id === spec.id && known.devices === spec.devices) return [...known.order];
  const key = (d: string) => createHash('sha256').update(`${spec.id}\0${d}`).digest('hex');
  const order = spec.devices
    .map((d) => [key(d), d] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([, d]) => d);
  orders.set(spec, { id: spec.id, devices: spec.devices, order });
  return [...order];
}
const orders = new WeakMap<object, { id: string; devices: readonly string[]; order: string[] }>();

/** How many devices a cumulative percentage covers (at least one). */
export const devicesFor = (percent: number, total: number): number => Math.min(total, Math.max(1, Math.ceil((percent * total) / 100 - 1e-9)));
