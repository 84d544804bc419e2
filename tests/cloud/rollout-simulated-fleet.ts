/**
 * SimulatedFleet: the device side of a rollout, in memory. The rollout core is pure, so this is the real
 * counterpart here: devices apply `set-desired` actions (when online), report install status, and
 * produce telemetry per serving version from a per-version profile.
 */
import {
  decide,
  initialState,
  type DeploymentSpec,
  type DeploymentState,
  type FleetObservation,
  type RolloutAction,
  type RolloutCommand,
  type TelemetryWindow,
  type DesiredForDevice,
} from '../../src/cloud/rollout/index.js';

export interface VersionProfile {
  errorRate: number;
  p99Ms: number;
  agreement?: number;
  histogram?: number[];
}

interface SimDevice {
  online: boolean;
  desired: DesiredForDevice | null;
  version: string;
  status: 'current' | 'failed';
  serving: string;
  shadow?: string;
  weights?: Record<string, number>;
  failInstall: boolean;
}

export class SimulatedFleet {
  readonly devices = new Map<string, SimDevice>();
  profiles: Record<string, VersionProfile> = {};
  requestsPerDevice = 200;
  constructor(
    readonly model: string,
    ids: string[],
    baseline: string,
  ) {
    for (const id of ids) this.devices.set(id, { online: true, desired: null, version: baseline, status: 'current', serving: baseline, failInstall: false });
  }
  apply(actions: RolloutAction[]): void {
    for (const a of actions)
      if (a.type === 'set-desired')
        this.devices.get(a.deviceId)!.desired = {
          version: a.version,
          ...(a.variants ? { variants: a.variants } : {}),
          ...(a.shadowVersion ? { shadowVersion: a.shadowVersion } : {}),
        };
    this.converge();
  }
  /** Online devices install their desired state. */
  converge(): void {
    for (const d of this.devices.values()) {
      if (!d.online || !d.desired) continue;
      const want = d.desired;
      if (d.failInstall && want.version !== d.serving && !want.variants) {
        d.version = want.version;
        d.status = 'failed';
        continue;
      }
      d.version = want.version;
      d.status = 'current';
      d.serving = want.variants ? Object.entries(want.variants).sort((a, b) => b[1] - a[1])[0][0] : want.version;
      d.shadow = want.shadowVersion;
      d.weights = want.variants;
    }
  }
  observe(command?: RolloutCommand): FleetObservation {
    const devices: FleetObservation['devices'] = {};
    for (const [id, d] of this.devices) {
      const telemetry: Record<string, TelemetryWindow> = {};
      if (d.online) {
        // Requests split by A/B weights (all to the serving version without), plus the shadow's copies.
        const total = Object.values(d.weights ?? {}).reduce((a, b) => a + b, 0);
        const share = (v: string) => (v === d.shadow ? 1 : d.weights && total > 0 ? (d.weights[v] ?? 0) / total : v === d.serving ? 1 : 0);
        const versions = [...new Set([d.serving, ...Object.keys(d.weights ?? {}), d.shadow].filter((x): x is string => !!x))];
        for (const v of versions.filter((x) => share(x) > 0)) {
          const p = this.profiles[v] ?? { errorRate: 0, p99Ms: 10 };
          const n = Math.round(this.requestsPerDevice * share(v));
          telemetry[v] = {
            requests: n,
            errors: Math.round(n * p.errorRate),
            p99Ms: p.p99Ms,
            ...(p.agreement !== undefined ? { agreement: { compared: n, agreed: Math.round(n * p.agreement) } } : {}),
            ...(p.histogram ? { histogram: p.histogram } : {}),
          };
        }
      }
      devices[id] = {
        online: d.online,
        models: {
          [this.model]: {
            version: d.version,
            status: d.status,
            serving: d.serving,
            ...(d.shadow ? { shadow: { version: d.shadow, status: 'current' as const } } : {}),
          },
        },
        telemetry,
      };
    }
    return { devices, ...(command ? { command } : {}) };
  }
  servingCount(v: string): number {
    return [...this.devices.values()].filter((d) => d.serving === v).length;
  }
}

export const ids = (n: number, prefix = 'dev'): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);

/** Drive decide + the fleet until `until(state)` or `maxTicks`; returns every action and the final state. */
export function run(
  spec: DeploymentSpec,
  fleet: SimulatedFleet,
  opts: {
    start?: DeploymentState;
    t0?: number;
    tickMs?: number;
    maxTicks?: number;
    until?: (s: DeploymentState) => boolean;
    commands?: Record<number, RolloutCommand>;
  } = {},
) {
  let state = opts.start ?? initialState(spec);
  let now = opts.t0 ?? 0;
  const log: { now: number; actions: RolloutAction[]; phase: string }[] = [];
  const until = opts.until ?? ((s) => ['promoted', 'rolled-back', 'aborted'].includes(s.status.phase));
  for (let i = 0; i < (opts.maxTicks ?? 1000); i++) {
    const d = decide(spec, state, fleet.observe(opts.commands?.[i]), now);
    fleet.apply(d.actions);
    state = d.state;
    log.push({ now, actions: d.actions, phase: state.status.phase });
    if (until(state)) break;
    now += opts.tickMs ?? 1000;
  }
  return { state, log, now, actions: log.flatMap((l) => l.actions) };
}
