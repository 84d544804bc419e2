/** Deployment options from outside as rollout specs: the CLI's flags (`--strategy canary --steps 5,20,100 --bake 10m`, `--alarm …`), and the one set of strategy defaults that flags, API bodies and deploy files share. Pure. */
import { KilnError } from '../../errors.js';
import { closest } from '../../suggest.js';
import { ALARM_METRICS, STRATEGY_KINDS, type AlarmMetric, type AlarmSpec, type Guardrails, type Strategy, type StrategyKind } from '../rollout/index.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** '10m', '90s', '1h30m', '250ms' or a bare number of ms → milliseconds. KilnError('BAD_DEPLOYMENT_SPEC') otherwise. */
export function parseDuration(text: string): number {
  const t = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== t)
    throw new KilnError('BAD_DEPLOYMENT_SPEC', `'${text}' is not a duration (e.g. 250ms, 90s, 10m, 1h30m)`);
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * UNITS[p[2]], 0));
}

/** '5,20,100' → [5, 20, 100] (the engine's validateSpec checks order and the final 100). */
export function parseSteps(text: string): number[] {
  const steps = String(text)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!steps.length || steps.some((n) => !Number.isFinite(n)))
    throw new KilnError('BAD_DEPLOYMENT_SPEC', `--steps '${text}' must be comma-separated percentages, e.g. 5,20,100`);
  return steps;
}

export interface StrategyFlags {
  strategy: string;
  /** canary */
  steps?: string;
  /** canary, all-at-once, blue-green */
  bake?: string;
  /** linear */
  stepPercent?: string | number;
  /** linear */
  interval?: string;
  /** ab: the candidate's share of requests, percent */
  percent?: string | number;
}

export function strategyFromFlags(f: StrategyFlags): Strategy {
  if (!(STRATEGY_KINDS as readonly string[]).includes(f.strategy))
    throw new KilnError('BAD_DEPLOYMENT_SPEC', `--strategy '${f.strategy}' is unknown (valid: ${STRATEGY_KINDS.join(', ')})`);
  return strategyWithDefaults({
    kind: f.strategy as StrategyKind,
    ...(f.steps !== undefined ? { steps: parseSteps(f.steps) } : {}),
    ...(f.bake !== undefined ? { bakeMs: parseDuration(f.bake) } : {}),
    ...(f.stepPercent !== undefined ? { stepPercent: Number(f.stepPercent) } : {}),
    ...(f.interval !== undefined ? { intervalMs: parseDuration(f.interval) } : {}),
    ...(f.percent !== undefined ? { percent: Number(f.percent) } : {}),
  });
}

/** What a user may give of a strategy, by any road in (CLI flags, API bodies, deploy files); the rest has defaults. */
export interface StrategyInput {
  kind: StrategyKind;
  steps?: number[];
  bakeMs?: number;
  stepPercent?: number;
  intervalMs?: number;
  percent?: number;
}

/** The defaults of `kiln deploy`, POST /api/deployments and deploy files alike. */
export const STRATEGY_DEFAULTS = Object.freeze({
  steps: Object.freeze([5, 20, 100]),
  bakeMs: 10 * 60_000,
  stepPercent: 25,
  intervalMs: 10 * 60_000,
  percent: 10,
});

/** A Strategy from what was given, defaults filled in and options the kind does not take left out (the engine validates the values). Pure. */
export function strategyWithDefaults(s: StrategyInput): Strategy {
  const D = STRATEGY_DEFAULTS;
  switch (s.kind) {
    case 'canary':
      return { kind: 'canary', steps: s.steps ?? [...D.steps], bakeMs: s.bakeMs ?? D.bakeMs };
    case 'linear':
      return { kind: 'linear', stepPercent: s.stepPercent ?? D.stepPercent, intervalMs: s.intervalMs ?? D.intervalMs };
    case 'all-at-once':
    case 'blue-green':
      return { kind: s.kind, ...(s.bakeMs !== undefined ? { bakeMs: s.bakeMs } : {}) };
    case 'shadow':
      return { kind: 'shadow' };
    case 'ab':
      return { kind: 'ab', percent: s.percent ?? D.percent };
  }
}

export interface GuardrailFlags {
  /** devices per minute */
  rateLimit?: string;
  /** METRIC=THRESHOLD, repeatable */
  alarms?: readonly string[];
  alarmMinRequests?: string;
  /** P%@N */
  abort?: string;
}

/** `--alarm error-rate=0.02 --alarm-min-requests 50 --abort 20%@5 --rate-limit 10` as Guardrails (undefined when none given). Pure. */
export function guardrailsFromFlags(f: GuardrailFlags): Guardrails | undefined {
  const g: Guardrails = {};
  if (f.rateLimit !== undefined) {
    const n = Number(f.rateLimit);
    if (!(n >= 1)) throw new KilnError('BAD_DEPLOYMENT_SPEC', `--rate-limit '${f.rateLimit}': expected a number of devices per minute ≥ 1`);
    g.rateLimitPerMinute = n;
  }
  let minRequests: number | undefined;
  if (f.alarmMinRequests !== undefined) {
    minRequests = Number(f.alarmMinRequests);
    if (!Number.isInteger(minRequests) || minRequests < 0)
      throw new KilnError('BAD_DEPLOYMENT_SPEC', `--alarm-min-requests '${f.alarmMinRequests}': expected a whole number ≥ 0`);
  }
  if (f.alarms?.length) {
    g.alarms = f.alarms.map((text): AlarmSpec => {
      const m = /^([A-Za-z0-9_-]+)=(\d+(?:\.\d+)?)$/.exec(text.trim());
      if (!m)
        throw new KilnError('BAD_DEPLOYMENT_SPEC', `--alarm '${text}': expected METRIC=THRESHOLD, e.g. error-rate=0.02 (metrics: ${ALARM_METRICS.join(', ')})`);
      const metric = m[1] as AlarmMetric;
      if (!(ALARM_METRICS as readonly string[]).includes(metric))
        throw new KilnError(
          'BAD_DEPLOYMENT_SPEC',
          `--alarm '${text}': unknown metric '${m[1]}'${hint(closest(m[1], ALARM_METRICS))} (valid: ${ALARM_METRICS.join(', ')})`,
        );
      return { metric, threshold: Number(m[2]), ...(minRequests !== undefined ? { minRequests } : {}) };
    });
  } else if (minRequests !== undefined) throw new KilnError('BAD_DEPLOYMENT_SPEC', '--alarm-min-requests needs at least one --alarm');
  if (f.abort !== undefined) {
    const m = /^(\d+(?:\.\d+)?)%@(\d+)$/.exec(f.abort.trim());
    if (!m || Number(m[1]) > 100 || Number(m[2]) < 1)
      throw new KilnError(
        'BAD_DEPLOYMENT_SPEC',
        `--abort '${f.abort}': expected PERCENT%@DEVICES, e.g. 20%@5 (abort when 20% of installs failed, once 5 devices finished)`,
      );
    g.abort = { failedPercent: Number(m[1]), minDevices: Number(m[2]) };
  }
  return Object.keys(g).length ? g : undefined;
}

const hint = (name: string | undefined): string => (name ? ` — did you mean '${name}'?` : '');
