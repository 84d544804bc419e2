/**
 * Drift (`kiln drift`, GET /api/drift): devices whose reported state differs from their desired
 * state. Per device and desired model, the first of:
 *
 * - `offline`: the device is offline (since its last contact), so what it reports may be old;
 * - `stale`: its report is about an older desired document than the latest (it has not picked the
 *   latest up yet, or it cannot);
 * - `missing`: it reports nothing for a model it should run;
 * - `failed`: the install of the desired version failed (with the agent's reason; it keeps serving
 *   the last good version);
 * - `installing`: downloading, verifying or on probation with the desired version;
 * - `version-mismatch`: it reports another version than desired, or serves another one.
 *
 * Devices without a desired state are not managed by the cloud and never drift. Pure over device records.
 */
import type { DeviceRecord } from '../gateway/index.js';

export const DRIFT_KINDS = ['offline', 'stale', 'missing', 'failed', 'installing', 'version-mismatch'] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

export interface DriftEntry {
  deviceId: string;
  name: string;
  group: string;
  online: boolean;
  lastSeen: string | null;
  kind: DriftKind;
  /** The model (null for a whole-device entry: offline, stale). */
  model: string | null;
  /** The version the desired state names. */
  desired: string | null;
  /** The version the device reports (its status is about), and the one it serves. */
  reported: string | null;
  serving: string | null;
  status: string | null;
  /** The agent's reason for a failed install. */
  reason?: string;
  /** Since when (ISO): the last contact for offline, the desired document's time for stale. */
  since: string | null;
  /** One line saying what differs. */
  detail: string;
  /** An active deployment holding this device and model, when one does. */
  deployment?: string;
}

export interface DriftReport {
  at: string;
  /** Devices looked at (all, or those of the group). */
  devices: number;
  /** Devices with a desired state. */
  managed: number;
  /** Devices with at least one entry. */
  drifted: number;
  entries: DriftEntry[];
}

/** `deploymentOf(deviceId, model)`: the id of an active deployment holding it, if any. */
export function computeDrift(
  records: readonly DeviceRecord[],
  options: { now?: number; deploymentOf?: (deviceId: string, model: string) => string | undefined } = {},
): DriftReport {
  const entries: DriftEntry[] = [];
  let managed = 0;
  for (const r of records) {
    const desired = r.desired;
    if (!desired || !Object.keys(desired.models).length) continue;
    managed++;
    const base = { deviceId: r.id, name: r.name, group: r.group, online: r.online, lastSeen: r.lastSeen };
    const add = (e: Omit<DriftEntry, keyof typeof base>) => {
      const deployment = e.model ? options.deploymentOf?.(r.id, e.model) : undefined;
      entries.push({ ...base, ...e, ...(deployment ? { deployment } : {}) });
    };
    const rep = r.reported;
    if (!r.online) {
      add({
        kind: 'offline',
        model: null,
        desired: null,
        reported: null,
        serving: null,
        status: null,
        since: r.lastSeen,
        detail: r.lastSeen ? `offline since ${r.lastSeen}` : 'never connected',
      });
    }
    if (r.online && (!rep || (rep.desiredVersion ?? -1) < desired.version)) {
      add({
        kind: 'stale',
        model: null,
        desired: null,
        reported: null,
        serving: null,
        status: null,
        since: desired.updatedAt,
        detail: rep
          ? `reports desired state #${rep.desiredVersion ?? 'none'}; #${desired.version} was sent at ${desired.updatedAt}`
          : `has not reported since desired state #${desired.version} was sent at ${desired.updatedAt}`,
      });
    }
    if (!rep || !r.online || (rep.desiredVersion ?? -1) < desired.version) continue;
    for (const [model, want] of Object.entries(desired.models).sort(([a], [b]) => a.localeCompare(b))) {
      const m = rep.models[model];
      const common = { model, desired: want.version, since: null };
      if (!m) {
        add({ ...common, kind: 'missing', reported: null, serving: null, status: null, detail: `reports nothing for ${model}; desired ${want.version}` });
        continue;
      }
      const seen = { reported: m.version, serving: m.serving ?? null, status: m.status };
      if (m.status === 'failed')
        add({
          ...common,
          ...seen,
          kind: 'failed',
          ...(m.reason ? { reason: m.reason } : {}),
          detail: `${model} ${m.version} failed to install${m.reason ? `: ${m.reason}` : ''}; serving ${m.serving ?? 'nothing'}`,
        });
      else if (m.version !== want.version)
        add({ ...common, ...seen, kind: 'version-mismatch', detail: `${model}: reports ${m.version} (${m.status}), desired ${want.version}` });
      else if (m.status !== 'current')
        add({ ...common, ...seen, kind: 'installing', detail: `${model} ${m.version}: ${m.status}; serving ${m.serving ?? 'nothing'} meanwhile` });
      else if (m.serving !== undefined && m.serving !== want.version && !want.shadowVersion && !want.weights)
        add({ ...common, ...seen, kind: 'version-mismatch', detail: `${model}: serves ${m.serving}, desired ${want.version}` });
    }
  }
  return {
    at: new Date(options.now ?? Date.now()).toISOString(),
    devices: records.length,
    managed,
    drifted: new Set(entries.map((e) => e.deviceId)).size,
    entries,
  };
}
