/**
 * What each rollout phase allows and how to say it: the rules `decide` applies to operator
 * commands, and a phase in words. The CLI and the dashboard (through the API's deployment view)
 * use these instead of their own copies. Pure.
 */
import type { AlarmResult, RolloutCommand, RolloutPhase } from './types.js';

/** The operator commands, in the order the UIs offer them. */
export const ROLLOUT_COMMANDS: readonly RolloutCommand['kind'][] = Object.freeze(['pause', 'resume', 'promote', 'rollback']);

/** Phases a deployment never leaves. */
export const FINISHED_PHASES: readonly RolloutPhase['phase'][] = Object.freeze(['promoted', 'rolled-back', 'aborted']);

export const isFinishedPhase = (phase: string): boolean => (FINISHED_PHASES as readonly string[]).includes(phase);

/**
 * Why a deployment in `status` does not take `command`, or undefined when it does. `decide` records
 * the reason in its 'command-ignored' event; the UIs show it on the disabled control.
 */
export function commandRefusal(command: RolloutCommand['kind'], status: RolloutPhase): string | undefined {
  const p = status.phase;
  if (isFinishedPhase(p)) return `the deployment is ${p}`;
  if (p === 'rolling-back') return 'the deployment is rolling back';
  switch (command) {
    case 'pause':
      return p === 'paused' ? 'the deployment is already paused' : undefined;
    case 'resume':
      return p === 'paused' ? undefined : 'only a paused deployment can be resumed';
    case 'promote':
      return p === 'rolling' && status.forced ? 'promote already requested' : undefined;
    case 'rollback':
      return undefined;
  }
}

/** Every command with the reason it is refused now (null: allowed). */
export function phaseCommands(status: RolloutPhase): Record<RolloutCommand['kind'], string | null> {
  return Object.fromEntries(ROLLOUT_COMMANDS.map((c) => [c, commandRefusal(c, status) ?? null])) as Record<RolloutCommand['kind'], string | null>;
}

/**
 * A phase in words, as parts: text, a moment (`until`: a deadline, which a UI may show as "in 5 s"),
 * or the alarms that fired. Each UI formats times and alarm values its own way.
 */
export type PhaseTextPart = string | { readonly time: number; readonly until?: true } | { readonly alarms: readonly AlarmResult[] };

export function describePhase(status: RolloutPhase): PhaseTextPart[] {
  const fired = (metrics: readonly AlarmResult[], reason: string): PhaseTextPart => {
    const alarms = metrics.filter((m) => m.outcome === 'fire');
    return alarms.length ? { alarms } : reason;
  };
  switch (status.phase) {
    case 'pending':
      return ['pending'];
    case 'rolling':
      return [`rolling out step ${status.step + 1}${status.forced ? ' (promoted by hand)' : ''}`];
    case 'baking':
      return status.until === null
        ? [`baking step ${status.step + 1} until a command`]
        : [`baking step ${status.step + 1} until `, { time: status.until, until: true }];
    case 'paused':
      return [`paused${status.reason ? `: ${status.reason}` : ''} (was `, ...describePhase(status.previous), ')'];
    case 'promoted':
      return ['promoted at ', { time: status.at }];
    case 'rolling-back':
      return ['rolling back: ', fired(status.metrics, status.reason)];
    case 'rolled-back':
      return ['rolled back at ', { time: status.at }, ': ', fired(status.metrics, status.reason)];
    case 'aborted':
      return ['aborted at ', { time: status.at }, `: ${status.reason} (${status.failed} of ${status.finished} finished installs failed)`];
  }
}

/** The parts joined into one line with the caller's formatting of moments and fired alarms. */
export function phaseText(
  status: RolloutPhase,
  format: { time: (ms: number, until: boolean) => string; alarms: (fired: readonly AlarmResult[]) => string },
): string {
  return describePhase(status)
    .map((p) => (typeof p === 'string' ? p : 'time' in p ? format.time(p.time, p.until === true) : format.alarms(p.alarms)))
    .join('');
}
