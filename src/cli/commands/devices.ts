/**
 * `kiln devices list|show`: the fleet as the running cloud sees it, over its API (GET /api/devices,
 * GET /api/devices/:id). `kiln cloud devices add|list` stay for working on the database directly.
 */
import { defineCommand } from '../framework.js';
import { keyValues, table } from '../../format.js';
import { ago, cloudApi, cloudOptions, timeText } from '../cloud-client.js';

interface DeviceView {
  id: string;
  name: string;
  group: string;
  tags: string[];
  target: string | null;
  online: boolean;
  lastSeen: string | null;
  createdAt: string;
  reportedAt: string | null;
  models: Record<string, { version: string; status: string; serving: string | null; reason?: string }>;
  desired: { version: number; updatedAt: string; models: Record<string, string> } | null;
  reported?: { desiredVersion: number | null } | null;
}

/** 'cnn 2.0.0 (current)', with what differs from desired. */
function modelsText(d: DeviceView): string {
  const names = [...new Set([...Object.keys(d.models), ...Object.keys(d.desired?.models ?? {})])].sort();
  return (
    names
      .map((m) => {
        const r = d.models[m];
        const want = d.desired?.models[m];
        if (!r) return `${m} (desired ${want}, not reported)`;
        const notes = [
          r.status,
          ...(r.serving && r.serving !== r.version ? [`serving ${r.serving}`] : []),
          ...(want && want !== r.version ? [`desired ${want}`] : []),
        ];
        return `${m} ${r.version} (${notes.join(', ')})`;
      })
      .join(', ') || '-'
  );
}

export const devicesList = defineCommand({
  name: 'devices list',
  summary: 'list the fleet: id, name, group, target, online, last seen, models (from the cloud API)',
  description:
    'The devices the running cloud knows (kiln cloud start), with what each reports per model and, where it differs, what is desired. To see only the differences, use kiln drift.',
  options: {
    ...cloudOptions,
    group: { type: 'string', valueName: 'G', description: 'only this group' },
    tag: { type: 'string', valueName: 'KEY=VALUE', description: 'only devices with this tag' },
  },
  examples: [{ command: 'devices list' }, { command: 'devices list --group store-12 --json' }],
  async run({ options, io, json, print, printJson, usageError }) {
    if (options.tag !== undefined && !/^[^=\s]+=[^\s]+$/.test(options.tag))
      throw usageError(`--tag '${options.tag}': expected KEY=VALUE, e.g. --tag site=store-12`);
    const query = new URLSearchParams({ ...(options.group ? { group: options.group } : {}), ...(options.tag ? { tag: options.tag } : {}) }).toString();
    const { devices } = (await cloudApi({ io, options }, 'GET', `/api/devices${query ? `?${query}` : ''}`)) as { devices: DeviceView[] };
    if (json) return printJson(devices);
    if (!devices.length) return print(options.group || options.tag ? 'no devices match' : 'no devices (add one with: kiln cloud devices add NAME)');
    const now = Date.now();
    print(
      table(
        devices.map((d) => [
          d.id,
          d.name,
          d.group,
          d.target ?? '-',
          d.online ? 'online' : 'offline',
          d.lastSeen ? ago(d.lastSeen, now) : 'never',
          modelsText(d),
        ]),
        { header: ['ID', 'NAME', 'GROUP', 'TARGET', 'STATE', 'LAST SEEN', 'MODELS'] },
      ),
    );
  },
});

export const devicesShow = defineCommand({
  name: 'devices show',
  summary: 'show one device: group, tags, target, presence, and per model what is desired and what it reports',
  options: { ...cloudOptions },
  positionals: [{ name: 'id', description: 'the device id' }],
  examples: [{ command: 'devices show cam-7' }],
  async run({ options, args, io, json, print, printJson }) {
    const { device: d } = (await cloudApi({ io, options }, 'GET', `/api/devices/${encodeURIComponent(args.id)}`)) as { device: DeviceView };
    if (json) return printJson(d);
    const now = Date.now();
    print(`device ${d.id} (${d.name})`);
    print(
      keyValues(
        [
          ['group:', d.group],
          ['tags:', d.tags.join(' ') || '-'],
          ['target:', d.target ?? 'not reported'],
          ['state:', `${d.online ? 'online' : 'offline'}, last seen ${d.lastSeen ? `${timeText(d.lastSeen)} (${ago(d.lastSeen, now)})` : 'never'}`],
          ['desired:', d.desired ? `#${d.desired.version}, set ${timeText(d.desired.updatedAt)}` : 'none (not managed by the cloud)'],
          [
            'reported:',
            d.reportedAt
              ? `${timeText(d.reportedAt)}, about desired #${d.reported?.desiredVersion ?? 'none'}${d.desired && (d.reported?.desiredVersion ?? -1) < d.desired.version ? ' (older than the latest)' : ''}`
              : 'never',
          ],
          ['created:', timeText(d.createdAt)],
        ],
        { indent: 2 },
      ),
    );
    const names = [...new Set([...Object.keys(d.models), ...Object.keys(d.desired?.models ?? {})])].sort();
    if (!names.length) return print('  models:   none');
    print('  models:');
    print(
      table(
        names.map((m) => {
          const r = d.models[m];
          return [m, d.desired?.models[m] ?? '-', r?.version ?? '-', r?.status ?? 'not reported', r?.serving ?? '-', r?.reason ?? ''];
        }),
        { header: ['MODEL', 'DESIRED', 'REPORTED', 'STATUS', 'SERVING', 'REASON'], indent: 4 },
      ),
    );
  },
});
