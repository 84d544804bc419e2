/**
 * Declarative deployments: the deploy file (`kiln plan deploy.yaml`, `kiln apply deploy.yaml`) and its
 * validation, which lists every problem with its path in the file (and its line, from YAML). Pure: the
 * CLI checks a file before sending it, and the cloud checks the same JSON again at its boundary.
 *
 * ```yaml
 * deployments:
 *   - model: cnn                  # required
 *     version: 2.0.0              # required: the version to roll out
 *     from: 1.0.0                 # the baseline (default: what the devices serve now)
 *     group: store-12             # a device group, or
 *     # devices: [cam-1, cam-2]   # a list of device ids
 *     id: cnn-2.0.0-store-12      # default: MODEL-VERSION-GROUP (stable, so a re-apply finds it)
 *     strategy:                   # or just: strategy: all-at-once
 *       kind: canary              # all-at-once | canary | linear | blue-green | shadow
 *       steps: [5, 20, 100]       # canary: cumulative percentages, ending at 100
 *       bake: 10m                 # canary, all-at-once, blue-green: 250ms, 30s, 5m, 1h30m
 *       # stepPercent: 25         # linear
 *       # interval: 5m            # linear
 *     guardrails:
 *       rateLimitPerMinute: 10
 *       abort: {failedPercent: 20, minDevices: 5}
 *       alarms:
 *         - metric: error-rate    # error-rate | p99-latency | failed-installs | agreement | output-shift
 *           threshold: 0.02
 * ```
 */
import { createHash } from 'node:crypto';
import { KilnError } from '../../errors.js';
import { closest } from '../../suggest.js';
import { STRATEGY_KINDS, validateSpec, RolloutSpecError, type Guardrails, type Strategy } from '../rollout/index.js';
import { parseDuration, strategyWithDefaults } from './flags.js';
import { joinPath, lineOf, parseYamlDocument, YamlError, type YamlDocument } from '../../yaml.js';

/** A strategy as written in a deploy file (durations human or ms). */
export interface DeclaredStrategy {
  kind: Strategy['kind'];
  steps?: number[];
  bake?: string | number;
  stepPercent?: number;
  interval?: string | number;
}

/** One deployment as written in a deploy file (and sent as JSON to POST /api/plan and /api/apply). */
export interface DeclaredDeployment {
  id?: string;
  model: string;
  version: string;
  from?: string;
  group?: string;
  devices?: string[];
  strategy: DeclaredStrategy | Strategy['kind'];
  guardrails?: Guardrails;
}

export interface DeployFile {
  deployments: DeclaredDeployment[];
}

/** A deployment after validation: defaults applied, durations in ms, `path` its place in the file. */
export interface NormalizedDeployment {
  /** 'deployments[0]' */
  path: string;
  id: string;
  model: string;
  version: string;
  from?: string;
  /** Exactly one of group and devices. */
  group?: string;
  devices?: string[];
  strategy: Strategy;
  guardrails: Guardrails;
}

/** One problem, located: `path` in the file ('deployments[0].strategy.steps'), `line` when the file was YAML. */
export interface DeployProblem {
  path: string;
  message: string;
  line?: number;
}

/** `file:line: path: message` (or without the parts that are unknown). */
export const problemText = (p: DeployProblem, file?: string): string =>
  `${file ? `${file}${p.line ? `:${p.line}` : ''}: ` : p.line ? `line ${p.line}: ` : ''}${p.path ? `${p.path}: ` : ''}${p.message}`;

/** A deploy file was refused; `problems` lists every one. */
export class DeployFileError extends KilnError {
  override name = 'DeployFileError';
  readonly problems: readonly DeployProblem[];
  constructor(problems: DeployProblem[], file?: string) {
    const what = file ?? 'the deploy file';
    super(
      'BAD_DEPLOYMENT_SPEC',
      `${what} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${problemText(p, file)}`).join('\n')}`,
      { hint: 'the format is in kiln plan --help' },
    );
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DEPLOYMENT_KEYS = ['id', 'model', 'version', 'from', 'group', 'devices', 'strategy', 'guardrails'];
/** Keys a strategy of each kind takes in a deploy file (durations as bake/interval, not bakeMs/intervalMs). */
const STRATEGY_KEYS: Readonly<Record<string, readonly string[]>> = {
  canary: ['kind', 'steps', 'bake'],
  linear: ['kind', 'stepPercent', 'interval'],
  'all-at-once': ['kind', 'bake'],
  'blue-green': ['kind', 'bake'],
  shadow: ['kind'],
  ab: ['kind', 'percent'],
};
const show = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));

/**
 * The deployment id a declaration gets when it names none: MODEL-VERSION-GROUP, or MODEL-VERSION-
 * and a hash of the device list. Stable, so applying the same file twice finds the deployment.
 */
export function defaultDeploymentId(d: { model: string; version: string; group?: string; devices?: readonly string[] }): string {
  const scope =
    d.group ??
    `devices-${createHash('sha256')
      .update([...(d.devices ?? [])].sort().join('\0'))
      .digest('hex')
      .slice(0, 8)}`;
  return `${d.model}-${d.version}-${scope}`
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 128);
}

/**
 * Check a deploy file's content (parsed YAML or JSON). Returns the normalized deployments and every
 * problem (empty when it is valid). `raw`: scalars' source text by path, so that `version: 2.0` is
 * read as '2.0' rather than the number 2.
 */
export function checkDeployFile(input: unknown, raw?: ReadonlyMap<string, string>): { deployments: NormalizedDeployment[]; problems: DeployProblem[] } {
  const problems: DeployProblem[] = [];
  const bad = (path: string, message: string) => void problems.push({ path, message });
  const unknownKeys = (path: string, o: Record<string, unknown>, allowed: readonly string[]) => {
    for (const k of Object.keys(o)) {
      if (allowed.includes(k)) continue;
      const guess = closest(k, allowed);
      bad(joinPath(path, k), `unknown key${guess ? ` (did you mean '${guess}'?)` : ''}; allowed here: ${allowed.join(', ')}`);
    }
  };
  /** A name: a string, or a number written in YAML (its source text). */
  const text = (path: string, v: unknown, what: string, pattern?: RegExp): string | undefined => {
    const s = typeof v === 'number' && raw?.has(path) ? raw.get(path)! : v;
    if (v === undefined || v === null) return void bad(path, `missing: ${what}`);
    if (typeof s !== 'string' || !s.trim()) return void bad(path, `must be ${what} (got ${show(v)})`);
    if (pattern && !pattern.test(s))
      return void bad(
        path,
        `${show(s)} is not a valid ${what}: use 1–${pattern === DEVICE_ID ? 64 : 128} of A-Z a-z 0-9 . _ - (starting with a letter or digit)`,
      );
    return s;
  };

  if (!isObj(input)) {
    bad(
      '',
      `expected a mapping with a 'deployments' list, e.g.\n    deployments:\n      - model: cnn\n        version: 2.0.0\n        group: fleet\n        strategy: all-at-once`,
    );
    return { deployments: [], problems };
  }
  unknownKeys('', input, ['deployments']);
  const list = input.deployments;
  if (!Array.isArray(list) || list.length === 0) {
    bad('deployments', list === undefined ? "missing: the file needs a 'deployments' list" : 'must be a non-empty list of deployments (- model: …)');
    return { deployments: [], problems };
  }

  const out: NormalizedDeployment[] = [];
  list.forEach((d: unknown, i: number) => {
    const base = joinPath('deployments', i);
    if (!isObj(d)) return bad(base, `must be a mapping (model:, version:, group: or devices:, strategy:), got ${show(d)}`);
    const before = problems.length;
    unknownKeys(base, d, DEPLOYMENT_KEYS);
    const model = text(joinPath(base, 'model'), d.model, 'a model name');
    const version = text(joinPath(base, 'version'), d.version, 'a version');
    const from = d.from === undefined ? undefined : text(joinPath(base, 'from'), d.from, 'a version');
    if (from !== undefined && version !== undefined && from === version) bad(joinPath(base, 'from'), `must differ from version (both are '${version}')`);
    const id = d.id === undefined ? undefined : text(joinPath(base, 'id'), d.id, 'deployment id', ID);
    let group: string | undefined;
    let devices: string[] | undefined;
    if (d.group !== undefined && d.devices !== undefined) bad(base, 'give either group: or devices:, not both');
    else if (d.group === undefined && d.devices === undefined) bad(base, 'missing the target: give group: NAME or devices: [ID, …]');
    else if (d.group !== undefined) group = text(joinPath(base, 'group'), d.group, 'a device group name');
    else if (!Array.isArray(d.devices) || d.devices.length === 0)
      bad(joinPath(base, 'devices'), `must be a non-empty list of device ids (got ${show(d.devices)})`);
    else {
      devices = [];
      d.devices.forEach((v: unknown, j: number) => {
        const s = text(joinPath(joinPath(base, 'devices'), j), v, 'device id', DEVICE_ID);
        if (s === undefined) return;
        if (devices!.includes(s)) bad(joinPath(joinPath(base, 'devices'), j), `'${s}' is listed twice`);
        else devices!.push(s);
      });
    }

    // The strategy: its shape here (with paths), its meaning by the engine's validateSpec below.
    const sPath = joinPath(base, 'strategy');
    let strategy: Strategy | undefined;
    const s: unknown = typeof d.strategy === 'string' ? { kind: d.strategy } : d.strategy;
    if (s === undefined) bad(sPath, `missing: give strategy: KIND (one of ${STRATEGY_KINDS.join(', ')}), or a mapping with kind:`);
    else if (!isObj(s)) bad(sPath, `must be a strategy kind (${STRATEGY_KINDS.join(', ')}) or a mapping with kind:, got ${show(s)}`);
    else if (!(STRATEGY_KINDS as readonly unknown[]).includes(s.kind)) {
      const guess = typeof s.kind === 'string' ? closest(s.kind, STRATEGY_KINDS) : undefined;
      bad(
        typeof d.strategy === 'string' ? sPath : joinPath(sPath, 'kind'),
        s.kind === undefined
          ? `missing: one of ${STRATEGY_KINDS.join(', ')}`
          : `${show(s.kind)} is unknown${guess ? ` (did you mean '${guess}'?)` : ''}; valid: ${STRATEGY_KINDS.join(', ')}`,
      );
    } else {
      const kind = s.kind as Strategy['kind'];
      unknownKeys(sPath, s, STRATEGY_KEYS[kind] ?? ['kind']);
      const duration = (key: 'bake' | 'interval'): number | undefined => {
        const v = s[key];
        if (v === undefined) return undefined;
        if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
        if (typeof v === 'string') {
          try {
            return parseDuration(v);
          } catch {
            /* reported below */
          }
        }
        return void bad(joinPath(sPath, key), `${show(v)} is not a duration: write 250ms, 30s, 5m, 1h30m (or a number of milliseconds)`);
      };
      const bakeMs = duration('bake');
      const intervalMs = duration('interval');
      const stepsOk = s.steps === undefined || (Array.isArray(s.steps) && s.steps.every((v) => typeof v === 'number'));
      if (!stepsOk) bad(joinPath(sPath, 'steps'), `must be a list of cumulative percentages, e.g. [5, 20, 100] (got ${show(s.steps)})`);
      const pct = (key: string): number | undefined => {
        if (s[key] === undefined || typeof s[key] === 'number') return s[key] as number | undefined;
        return void bad(joinPath(sPath, key), `must be a percentage, e.g. 25 (got ${show(s[key])})`);
      };
      const stepPercent = pct('stepPercent');
      const percent = pct('percent');
      // The same defaults as `kiln deploy` and POST /api/deployments. Built even after a problem above
      // (with a stand-in for the bad value), so that the engine's checks below still list theirs.
      strategy = strategyWithDefaults({
        kind,
        steps: stepsOk && s.steps ? (s.steps as number[]) : undefined,
        bakeMs,
        stepPercent,
        intervalMs,
        percent: typeof s.percent === 'number' ? percent : s.percent !== undefined ? 50 : undefined,
      });
    }

    // What the engine says about the strategy and the guardrails, each problem at its path.
    const guardrails = (d.guardrails ?? {}) as Guardrails;
    if (strategy || d.guardrails !== undefined) {
      try {
        validateSpec({ id: 'x', model: 'm', fromVersion: '\0from', toVersion: '\0to', devices: ['d'], strategy: strategy ?? { kind: 'shadow' }, guardrails });
      } catch (err) {
        if (!(err instanceof RolloutSpecError)) throw err;
        for (const p of err.problems) {
          const m = /^((?:strategy|guardrails)[\w.[\]]*?):? (.*)$/.exec(p);
          if (!m) continue;
          const path = `${base}.${m[1].replace(/\.bakeMs$/, '.bake').replace(/\.intervalMs$/, '.interval')}`;
          const unknown = /^unknown key '([^']*)' \((.*)\)$/.exec(m[2]);
          if (unknown) bad(joinPath(path, unknown[1]), `unknown key; ${unknown[2].replace(/^allowed:/, 'allowed here:')}`);
          else bad(path, m[2].replace(/^= undefined /, 'missing: ').replace(/^= /, ''));
        }
      }
    }
    if (problems.length > before || !model || !version || !strategy) return;
    const norm: NormalizedDeployment = {
      path: base,
      id: id ?? defaultDeploymentId({ model, version, group, devices }),
      model,
      version,
      ...(from !== undefined ? { from } : {}),
      ...(group !== undefined ? { group } : { devices }),
      strategy,
      guardrails: JSON.parse(JSON.stringify(guardrails)) as Guardrails,
    };
    const same = out.find((o) => o.id === norm.id);
    if (same)
      return bad(
        id ? joinPath(base, 'id') : base,
        `deployment id '${norm.id}' is also ${same.path}'s${id ? '' : ' (the default MODEL-VERSION-GROUP)'}: give one of them another id`,
      );
    out.push(norm);
  });
  return { deployments: problems.length ? [] : out, problems };
}

/**
 * Parse and check a deploy file's text (YAML; JSON is YAML too). Throws DeployFileError listing every
 * problem as `file:line: path: message`. `file` names it in messages.
 */
export function parseDeployFile(source: string, file?: string): { file: DeployFile; deployments: NormalizedDeployment[]; doc: YamlDocument } {
  let doc: YamlDocument;
  try {
    doc = parseYamlDocument(source);
  } catch (err) {
    if (err instanceof YamlError) {
      const advice = err.code === 'multiple-documents' ? ': put every deployment under one deployments: list' : '';
      throw new DeployFileError([{ path: '', message: `not valid YAML: ${err.reason}${advice}`, line: err.line }], file);
    }
    throw err;
  }
  const { deployments, problems } = checkDeployFile(doc.value, doc.raw);
  if (problems.length)
    throw new DeployFileError(
      locate(problems, doc).sort((a, b) => (a.line ?? 0) - (b.line ?? 0)),
      file,
    );
  // What goes over the wire: the file as written, with numbers typed as versions made strings again.
  const wire = JSON.parse(JSON.stringify(doc.value)) as DeployFile;
  wire.deployments.forEach((d, i) => {
    for (const k of ['model', 'version', 'from', 'group', 'id'] as const)
      if (typeof d[k] === 'number') (d as unknown as Record<string, unknown>)[k] = doc.raw.get(`deployments[${i}].${k}`) ?? String(d[k]);
  });
  return { file: wire, deployments, doc };
}

/** Add YAML lines to problems found by path (the cloud's problems come back without lines). */
export function locate(problems: readonly DeployProblem[], doc: Pick<YamlDocument, 'lines'>): DeployProblem[] {
  return problems.map((p) => {
    const line = p.line ?? lineOf(doc, p.path);
    return line !== undefined ? { ...p, line } : { ...p };
  });
}
