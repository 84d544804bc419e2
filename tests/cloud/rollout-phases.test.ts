import { describe, expect, it } from 'vitest';
import {
  commandRefusal,
  describePhase,
  isFinishedPhase,
  phaseCommands,
  phaseText,
  type AlarmResult,
  type RolloutPhase,
} from '../../src/cloud/rollout/index.js';

const baking: RolloutPhase = { phase: 'baking', step: 0, until: 90_000 };
const fired: AlarmResult = {
  metric: 'error-rate',
  outcome: 'fire',
  candidate: 0.3,
  baseline: 0,
  threshold: 0.2,
  samples: { candidateRequests: 50, baselineRequests: 50 },
} as AlarmResult;

describe('what a rollout phase allows (the one rule the engine, the CLI and the dashboard use)', () => {
  it('takes every command but resume while running, and only resume, promote and rollback while paused', () => {
    expect(phaseCommands(baking)).toEqual({ pause: null, resume: 'only a paused deployment can be resumed', promote: null, rollback: null });
    expect(phaseCommands({ phase: 'paused', previous: baking })).toEqual({
      pause: 'the deployment is already paused',
      resume: null,
      promote: null,
      rollback: null,
    });
    expect(commandRefusal('promote', { phase: 'rolling', step: 2, forced: true })).toBe('promote already requested');
  });

  it('refuses everything once finished or rolling back, naming the phase', () => {
    for (const status of [
      { phase: 'promoted', at: 1 },
      { phase: 'aborted', reason: 'x', failed: 1, finished: 1, at: 1 },
    ] as RolloutPhase[]) {
      expect(isFinishedPhase(status.phase)).toBe(true);
      expect(Object.values(phaseCommands(status))).toEqual(Array(4).fill(`the deployment is ${status.phase}`));
    }
    expect(commandRefusal('pause', { phase: 'rolling-back', reason: 'r', metrics: [] })).toBe('the deployment is rolling back');
    expect(isFinishedPhase('rolling-back')).toBe(false);
  });
});

describe('a rollout phase in words', () => {
  it('leaves times and fired alarms to the caller to format', () => {
    expect(describePhase({ phase: 'paused', previous: baking, reason: 'look' })).toEqual([
      'paused: look (was ',
      'baking step 1 until ',
      { time: 90_000, until: true },
      ')',
    ]);
    expect(describePhase({ phase: 'rolled-back', reason: 'alarm', metrics: [fired], at: 5 })).toEqual([
      'rolled back at ',
      { time: 5 },
      ': ',
      { alarms: [fired] },
    ]);
    const format = {
      time: (ms: number, until: boolean) => `${until ? 'by ' : ''}t${ms}`,
      alarms: (a: readonly AlarmResult[]) => a.map((m) => m.metric).join(),
    };
    expect(phaseText(baking, format)).toBe('baking step 1 until by t90000');
    expect(phaseText({ phase: 'rolling-back', reason: 'manual: p99', metrics: [] }, format)).toBe('rolling back: manual: p99');
    expect(phaseText({ phase: 'rolling', step: 1, forced: true }, format)).toBe('rolling out step 2 (promoted by hand)');
  });
});
