/** Telemetry aggregation and the default alarm policy (candidate vs baseline). Pure. */
import type { Aggregate, AlarmEvaluator, AlarmResult, AlarmSpec, FleetObservation, Verdict } from './types.js';

/** Sum one version's telemetry windows over the given devices. p99 is the request-weighted mean of device p99s. */
export function aggregate(obs: FleetObservation, devices: readonly string[], version: string): Aggregate {
  const a: Aggregate = { devices: 0, requests: 0, errors: 0, p99Ms: null, agreement: { compared: 0, agreed: 0 }, histogram: null };
  let p99w = 0;
  let p99n = 0;
  for (const id of devices) {
    const w = obs.devices[id]?.telemetry?.[version];
    if (!w || w.requests <= 0) continue;
    a.devices++;
    a.requests += w.requests;
    a.errors += w.errors;
    if (w.p99Ms !== undefined) {
      p99w += w.p99Ms * w.requests;
      p99n += w.requests;
    }
    if (w.agreement) {
      a.agreement.compared += w.agreement.compared;
      a.agreement.agreed += w.agreement.agreed;
    }
    if (w.histogram) {
      a.histogram ??= new Array<number>(w.histogram.length).fill(0);
      w.histogram.forEach((c, i) => (a.histogram![i] = (a.histogram![i] ?? 0) + c));
    }
  }
  a.p99Ms = p99n > 0 ? p99w / p99n : null;
  return a;
}

const sum = (h: number[]) => h.reduce((x, y) => x + y, 0);

/** Total-variation distance between two histograms (0 = same shape, 1 = disjoint). */
export function totalVariation(a: number[], b: number[]): number {
  const sa = sum(a);
  const sb = sum(b);
  let d = 0;
  for (let i = 0; i < Math.max(a.length, b.length); i++) d += Math.abs((a[i] ?? 0) / sa - (b[i] ?? 0) / sb);
  return d / 2;
}

function judge(spec: AlarmSpec, c: Aggregate, b: Aggregate | null, fromSnapshot: boolean, installs: { failed: number; finished: number }): AlarmResult {
  const minReq = spec.minRequests ?? 100;
  const minDev = spec.minDevices ?? 1;
  const samples = { candidateRequests: c.requests, candidateDevices: c.devices, baselineRequests: b?.requests ?? 0, baselineDevices: b?.devices ?? 0 };
  const base: AlarmResult = {
    metric: spec.metric,
    outcome: 'no-data',
    threshold: spec.threshold,
    samples,
    ...(fromSnapshot ? { baselineFromSnapshot: true } : {}),
  };
  const enough = (x: Aggregate, n = x.requests) => n >= minReq && x.devices >= minDev;
  switch (spec.metric) {
    case 'failed-installs': {
      if (installs.finished < Math.max(minReq, minDev)) return { ...base, samples: { ...samples, candidateDevices: installs.finished } };
      const v = installs.failed / installs.finished;
      return { ...base, candidate: v, outcome: v > spec.threshold ? 'fire' : 'pass', samples: { ...samples, candidateDevices: installs.finished } };
    }
    case 'agreement': {
      if (!enough(c, c.agreement.compared)) return base;
      const v = c.agreement.agreed / c.agreement.compared;
      return { ...base, candidate: v, outcome: v < spec.threshold ? 'fire' : 'pass' };
    }
    case 'error-rate': {
      if (!b) return { ...base, outcome: 'not-applicable' };
      if (!enough(c) || !enough(b)) return base;
      const cv = c.errors / c.requests;
      const bv = b.errors / b.requests;
      return { ...base, candidate: cv, baseline: bv, outcome: cv - bv > spec.threshold ? 'fire' : 'pass' };
    }
    case 'p99-latency': {
      if (!b) return { ...base, outcome: 'not-applicable' };
      if (!enough(c) || !enough(b) || c.p99Ms === null || b.p99Ms === null) return base;
      return { ...base, candidate: c.p99Ms, baseline: b.p99Ms, outcome: c.p99Ms > b.p99Ms * spec.threshold ? 'fire' : 'pass' };
    }
    case 'output-shift': {
      if (!b) return { ...base, outcome: 'not-applicable' };
      if (!c.histogram || !b.histogram || !enough(c, sum(c.histogram)) || !enough(b, sum(b.histogram))) return base;
      const v = totalVariation(c.histogram, b.histogram);
      return { ...base, candidate: v, baseline: 0, outcome: v > spec.threshold ? 'fire' : 'pass' };
    }
  }
}

/** The default alarm policy: any alarm firing fires; else any without enough data holds ("no-data"); else pass. */
export const evaluateAlarms: AlarmEvaluator = ({ spec, candidate, baseline, baselineFromSnapshot, installs }): Verdict => {
  const results = (spec.guardrails.alarms ?? []).map((a) => judge(a, candidate, baseline, baselineFromSnapshot, installs));
  const outcome = results.some((r) => r.outcome === 'fire') ? 'fire' : results.some((r) => r.outcome === 'no-data') ? 'no-data' : 'pass';
  return { outcome, results };
};
