/**
 * The rollout engine's public types: a deployment spec, the deployment's state (a discriminated union
 * keyed on `phase`, plus per-device assignments), the fleet observation `decide` reads, and the actions
 * it returns as data. Everything here is plain JSON (no Infinity, no Dates, no Maps) so a state can be
 * persisted and resumed after a restart.
 */

// ───────────── spec ─────────────

export const STRATEGY_KINDS = ['all-at-once', 'canary', 'linear', 'blue-green', 'shadow', 'ab'] as const;
export type StrategyKind = (typeof STRATEGY_KINDS)[number];

export type Strategy =
  /** Every device in one step (still baked and gated before `promoted`). */
  | { kind: 'all-at-once'; /** @default 0 */ bakeMs?: number }
  /** Steps as cumulative percentages of the group, strictly increasing, ending at 100; a bake at each. */
  | { kind: 'canary'; steps: number[]; bakeMs: number }
  /** Equal steps of `stepPercent` (the last one capped at 100), each baked for `intervalMs`. */
  | { kind: 'linear'; stepPercent: number; intervalMs: number }
  /** Stage the new version beside the old on every device (serving none of it), then switch all at once; switch-back is a weight flip. */
  | { kind: 'blue-green'; /** Bake after the switch before `promoted`. @default 0 */ bakeMs?: number }
  /** The candidate runs as a shadow variant everywhere (serving nothing) until a `promote` or `rollback` (drop) command. */
  | { kind: 'shadow' }
  /**
   * On-device A/B: every device serves both versions, `percent` of its requests (unkeyed ones by
   * chance, keyed ones sticky by key) to the candidate, until a `promote` (everyone on the candidate)
   * or a `rollback` (everyone back); alarms compare the candidate's requests with the baseline's.
   */
  | { kind: 'ab'; /** The candidate's share of each device's requests, in (0, 100). */ percent: number };

export const ALARM_METRICS = ['error-rate', 'p99-latency', 'failed-installs', 'agreement', 'output-shift'] as const;
export type AlarmMetric = (typeof ALARM_METRICS)[number];

/**
 * One alarm. `threshold` means, per metric:
 * - `error-rate`: fires when candidate error rate − baseline error rate > threshold (absolute, 0..1);
 *   a shadow candidate's requests are its shadow runs and its errors the runs that failed;
 * - `p99-latency`: fires when candidate p99 > baseline p99 × threshold (a ratio, e.g. 1.5);
 * - `failed-installs`: fires when failed ÷ finished installs > threshold (0..1); samples are devices;
 * - `agreement`: fires when the candidate's agreement with the baseline's outputs < threshold (0..1).
 *   Measured by a shadow run of the other version on the device: the candidate as the shadow (shadow
 *   strategy), or, with this alarm set, the baseline as the shadow of devices serving the candidate
 *   (canary, linear, all-at-once, blue/green after the switch, A/B);
 * - `output-shift`: fires when the total-variation distance between the candidate's and the baseline's
 *   output histograms > threshold (0..1).
 */
export interface AlarmSpec {
  metric: AlarmMetric;
  threshold: number;
  /** Fewest requests (compared requests for `agreement`, histogram counts for `output-shift`, finished installs for `failed-installs`) on each side before the alarm can judge. @default 100 */
  minRequests?: number;
  /** Fewest devices reporting on each side before the alarm can judge. @default 1 */
  minDevices?: number;
}

export interface Guardrails {
  /** Most devices sent the new version per rolling minute (rollbacks are never limited). @default unlimited */
  rateLimitPerMinute?: number;
  /** Abort when failed ÷ finished installs ≥ failedPercent/100, once at least minDevices installs finished. */
  abort?: { failedPercent: number; minDevices: number };
  /** Alarms evaluated at every decide while the candidate runs. @default [] */
  alarms?: AlarmSpec[];
}

export interface DeploymentSpec {
  /** Deployment id: also salts the device order. */
  id: string;
  model: string;
  /** The baseline: the version the group runs now and goes back to. */
  fromVersion: string;
  toVersion: string;
  /** The device group's members. */
  devices: string[];
  strategy: Strategy;
  guardrails: Guardrails;
}

// ───────────── observation ─────────────

export type InstallStatus = 'downloading' | 'verifying' | 'probation' | 'current' | 'failed';

/** What a device reports for the deployment's model (derived from its ReportedState by the caller). */
export interface DeviceModelReport {
  /** The desired version this status is about. */
  version: string;
  status: InstallStatus;
  /** The version serving traffic now (blue/green weights, or the last good one after a failure). */
  serving?: string;
  /** The shadow variant's install, when one is set. */
  shadow?: { version: string; status: InstallStatus };
}

/** Telemetry over the evaluation window for one version on one device. */
export interface TelemetryWindow {
  requests: number;
  errors: number;
  p99Ms?: number;
  /** Requests compared against the baseline's output, and how many agreed. */
  agreement?: { compared: number; agreed: number };
  /** Output-distribution histogram (counts per bucket; every device uses the same buckets). */
  histogram?: number[];
}

export interface DeviceObservation {
  online: boolean;
  /** Per model name. */
  models: Record<string, DeviceModelReport | undefined>;
  /** Per version of the deployment's model. */
  telemetry?: Record<string, TelemetryWindow | undefined>;
}

export type RolloutCommand = { kind: 'pause'; reason?: string } | { kind: 'resume' } | { kind: 'promote' } | { kind: 'rollback'; reason?: string };

export interface FleetObservation {
  devices: Record<string, DeviceObservation | undefined>;
  /** A manual command, applied before anything else in this decide. */
  command?: RolloutCommand;
}

// ───────────── state ─────────────

/** Gate metrics: what the alarms saw. Keyed by metric. */
export interface AlarmResult {
  metric: AlarmMetric;
  outcome: 'pass' | 'fire' | 'no-data' | 'not-applicable';
  candidate?: number;
  baseline?: number;
  threshold: number;
  samples: { candidateRequests: number; candidateDevices: number; baselineRequests: number; baselineDevices: number };
  /** Whether the baseline side came from the last saved snapshot (no baseline devices left). */
  baselineFromSnapshot?: boolean;
}
export type Verdict = { outcome: 'pass' | 'fire' | 'no-data'; results: AlarmResult[] };

export type ActivePhase =
  | { phase: 'pending' }
  | { phase: 'rolling'; step: number; /** A manual promote: remaining steps, bakes and gates skipped. */ forced?: boolean }
  /** `until` null: bake until a command (shadow). */
  | { phase: 'baking'; step: number; until: number | null };

export type RolloutPhase =
  | ActivePhase
  | { phase: 'paused'; previous: ActivePhase; reason?: string }
  | { phase: 'promoted'; at: number }
  | { phase: 'rolling-back'; reason: string; metrics: AlarmResult[] }
  | { phase: 'rolled-back'; reason: string; metrics: AlarmResult[]; at: number }
  | { phase: 'aborted'; reason: string; failed: number; finished: number; at: number };

/** How a step installs the candidate on a device. */
export type StepMode = 'rollout' | 'stage' | 'switch' | 'shadow' | 'ab';

export interface DeviceAssignment {
  /** The desired we set: version, plus variant weights / shadow. */
  desired: DesiredForDevice;
  mode: StepMode | 'baseline';
  step: number;
  /** True once the device was sent the new version in any form (rollback targets exactly these). */
  tookNew: boolean;
  install: 'pending' | 'current' | 'failed';
  at: number;
}

export interface DesiredForDevice {
  version: string;
  /** Variant weights between kept versions (blue/green). */
  variants?: Record<string, number>;
  shadowVersion?: string;
}

export interface HoldInfo {
  since: number;
  why: string[];
}

export interface DeploymentState {
  deploymentId: string;
  status: RolloutPhase;
  /** Devices this deployment has set a desired for. */
  devices: Record<string, DeviceAssignment>;
  /** Times (ms) of candidate dispatches within the last minute (the rate limit's window). */
  dispatches: number[];
  /** Set while "no data" holds the rollout. */
  hold: HoldInfo | null;
  /** The last baseline aggregate with traffic, for gates once no baseline device remains. */
  baselineSnapshot: Aggregate | null;
}

export interface Aggregate {
  devices: number;
  requests: number;
  errors: number;
  p99Ms: number | null;
  agreement: { compared: number; agreed: number };
  histogram: number[] | null;
}

// ───────────── actions ─────────────

export type RolloutAction =
  | ({ type: 'set-desired'; deviceId: string } & DesiredForDevice)
  | { type: 'record'; event: RolloutEvent; detail?: Record<string, unknown>; metrics?: AlarmResult[] };

export type RolloutEvent =
  | 'started'
  | 'step-started'
  | 'step-installed'
  | 'step-passed'
  | 'hold'
  | 'hold-released'
  | 'alarm'
  | 'aborted'
  | 'rolled-back'
  | 'promoted'
  | 'paused'
  | 'resumed'
  | 'promote-requested'
  | 'rollback-requested'
  | 'command-ignored';

export interface Decision {
  state: DeploymentState;
  actions: RolloutAction[];
}

/** The alarm policy: injectable; the default compares candidate vs baseline per AlarmSpec. */
export type AlarmEvaluator = (input: {
  spec: DeploymentSpec;
  state: DeploymentState;
  candidate: Aggregate;
  baseline: Aggregate | null;
  baselineFromSnapshot: boolean;
  installs: { failed: number; finished: number };
}) => Verdict;

export interface DecideOptions {
  /** @default evaluateAlarms */
  evaluate?: AlarmEvaluator;
}
