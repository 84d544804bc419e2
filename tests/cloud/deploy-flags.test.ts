/** The CLI's deployment flags as rollout specs: durations, steps, guardrails, and every bad flag's message. */
import { describe, expect, it } from 'vitest';
import { guardrailsFromFlags, parseDuration, parseSteps, strategyFromFlags } from '../../src/cloud/deployments/flags.js';
import { checkDeployFile } from '../../src/cloud/deployments/declarative.js';
import { strategyFromBody } from '../../src/cloud/api/deployments.js';
import { STRATEGY_KINDS } from '../../src/cloud/rollout/index.js';
import { validateSpec } from '../../src/cloud/rollout/index.js';

describe('deployment flags', () => {
  it('durations and steps', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('4s')).toBe(4000);
    expect(parseDuration('1500')).toBe(1500);
    expect(parseSteps('5, 20,100')).toEqual([5, 20, 100]);
    expect(strategyFromFlags({ strategy: 'canary', steps: '25,100', bake: '4s' })).toEqual({ kind: 'canary', steps: [25, 100], bakeMs: 4000 });
  });

  it('guardrails from --alarm, --alarm-min-requests, --abort and --rate-limit make a valid spec', () => {
    const g = guardrailsFromFlags({ alarms: ['error-rate=0.02', 'output-shift=0.3'], alarmMinRequests: '40', abort: '20%@5', rateLimit: '30' });
    expect(g).toEqual({
      rateLimitPerMinute: 30,
      alarms: [
        { metric: 'error-rate', threshold: 0.02, minRequests: 40 },
        { metric: 'output-shift', threshold: 0.3, minRequests: 40 },
      ],
      abort: { failedPercent: 20, minDevices: 5 },
    });
    const spec = validateSpec({ id: 'd', model: 'm', fromVersion: '1', toVersion: '2', devices: ['a'], strategy: { kind: 'all-at-once' }, guardrails: g });
    expect(spec.guardrails.alarms).toHaveLength(2);
    expect(guardrailsFromFlags({})).toBeUndefined();
  });

  it('BAD FLAGS: each one says what was wrong and what to write', () => {
    expect(() => guardrailsFromFlags({ alarms: ['error_rate=0.02'] })).toThrow(/unknown metric 'error_rate' — did you mean 'error-rate'\?/);
    expect(() => guardrailsFromFlags({ alarms: ['error-rate>0.02'] })).toThrow(/expected METRIC=THRESHOLD, e\.g\. error-rate=0\.02/);
    expect(() => guardrailsFromFlags({ alarms: ['p99-latency=fast'] })).toThrow(/--alarm 'p99-latency=fast'/);
    expect(() => guardrailsFromFlags({ alarmMinRequests: '50' })).toThrow(/needs at least one --alarm/);
    expect(() => guardrailsFromFlags({ alarms: ['agreement=0.9'], alarmMinRequests: '-1' })).toThrow(/whole number ≥ 0/);
    expect(() => guardrailsFromFlags({ abort: '20' })).toThrow(/PERCENT%@DEVICES, e\.g\. 20%@5/);
    expect(() => guardrailsFromFlags({ abort: '120%@5' })).toThrow(/--abort '120%@5'/);
    expect(() => guardrailsFromFlags({ rateLimit: '0' })).toThrow(/--rate-limit '0'/);
    expect(() => parseDuration('ten minutes')).toThrow(/not a duration \(e\.g\. 250ms/);
    expect(() => strategyFromFlags({ strategy: 'canery' })).toThrow(/--strategy 'canery' is unknown/);
  });

  it('every road in — CLI flags, API body, deploy file — gives the same strategy with nothing but the kind', () => {
    for (const kind of STRATEGY_KINDS) {
      const flags = strategyFromFlags({ strategy: kind });
      expect(strategyFromBody({ kind })).toEqual(flags);
      const { deployments, problems } = checkDeployFile({ deployments: [{ model: 'm', version: '2', group: 'g', strategy: kind }] });
      expect(problems).toEqual([]);
      expect(deployments[0].strategy).toEqual(flags);
    }
    expect(strategyFromFlags({ strategy: 'ab' })).toEqual({ kind: 'ab', percent: 10 });
    expect(strategyFromFlags({ strategy: 'canary' })).toEqual({ kind: 'canary', steps: [5, 20, 100], bakeMs: 600_000 });
  });
});
