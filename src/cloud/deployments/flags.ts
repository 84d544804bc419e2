/** The CLI's deployment flags (`--strategy canary --steps 5,20,100 --bake 10m`) as a rollout Strategy. Pure. */
import { KilnError } from '../../errors.js';
import { STRATEGY_KINDS, type Strategy } from '../rollout/index.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** '10m', '90s', '1h30m', '250ms' or a bare number of ms → milliseconds. KilnError('BAD_OPTION') otherwise. */
export function parseDuration(text: string): number {
  const t = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== t) throw new KilnError('BAD_OPTION', `'${text}' is not a duration (e.g. 250ms, 90s, 10m, 1h30m)`);
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * UNITS[p[2]], 0));
}

/** '5,20,100' → [5, 20, 100] (the engine's validateSpec checks order and the final 100). */
export function parseSteps(text: string): number[] {
  const steps = String(text).split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!steps.length || steps.some((n) => !Number.isFinite(n))) throw new KilnError('BAD_OPTION', `--steps '${text}' must be comma-separated percentages, e.g. 5,20,100`);
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
}

export function strategyFromFlags(f: StrategyFlags): Strategy {
  const bakeMs = f.bake !== undefined ? parseDuration(f.bake) : undefined;
  switch (f.strategy) {
    case 'canary':
      return { kind: 'canary', steps: parseSteps(f.steps ?? '5,20,100'), bakeMs: bakeMs ?? 10 * 60_000 };
    case 'linear':
      return { kind: 'linear', stepPercent: Number(f.stepPercent ?? 25), intervalMs: f.interval !== undefined ? parseDuration(f.interval) : 10 * 60_000 };
    case 'all-at-once':
    case 'blue-green':
      return { kind: f.strategy, ...(bakeMs !== undefined ? { bakeMs } : {}) };
    case 'shadow':
      return { kind: 'shadow' };
    default:
      throw new KilnError('BAD_OPTION', `--strategy '${f.strategy}' is unknown (valid: ${STRATEGY_KINDS.join(', ')})`);
  }
}
