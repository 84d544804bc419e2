/**
 * The agent's configuration: defaults that work with no file at all, overridden by a YAML file,
 * then `KILN_AGENT_*` environment variables, then command-line flags (flags > env > file >
 * defaults). Each source is validated on its own (by hand, not zod: `kiln agent start` must start fast) — unknown keys are rejected — and every problem
 * of every source is reported in one AGENT_CONFIG error. The result is frozen.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import { isLoopback } from './http/server.js';
import { parseYaml, YamlError } from '../yaml.js';
import { variantProblems, type VariantConfig } from './variants.js';
import { DEFAULTS } from '../defaults.js';

export interface AgentConfig {
  /** Address to bind. @default '127.0.0.1' */
  readonly host: string;
  /** @default 8080 */
  readonly port: number;
  /** @default './.kiln-agent' (relative to the working directory) */
  readonly dataDir: string;
  /** Artifacts to install and serve at start. @default [] */
  readonly models: readonly string[];
  /** Bearer token; required when `host` is not a loopback address. @default none */
  readonly token?: string;
  /** Trusted public keys (base64, or files holding one), besides kiln's own. @default [] */
  readonly trustedKeys: readonly string[];
  /** Trust kiln's own signing key (in KILN_HOME). @default true */
  readonly trustKilnKey: boolean;
  /** Previous good versions kept per model. @default 3 */
  readonly keepVersions: number;
  /** Largest request body, bytes. @default 6 MiB */
  readonly maxRequestBytes: number;
  /** Largest async job payload (streamed to disk), bytes. @default 1 GiB */
  readonly maxJobBytes: number;
  /** Bytes of loaded models before LRU unloading. @default from the models' sizes */
  readonly memoryBudgetBytes?: number;
  /** onnxruntime intra-op threads per model. @default onnxruntime's choice (one per core; ort-web: 1) */
  readonly threads?: number;
  /** onnxruntime inter-op threads per model. @default 1 where threads is set, else onnxruntime's choice */
  readonly interOpThreads?: number;
  /** Serve an artifact whose target's runtime is missing here (gpu-cuda without CUDA, wasm without onnxruntime-web) on the CPU, logged and reported. @default false (refused) */
  readonly allowCpuFallback: boolean;
  /** Load served models at start. @default true */
  readonly preload: boolean;
  /** Most outbox rows kept. @default 10000 */
  readonly outboxMaxRows: number;
  /** Dynamic batching: most rows in one model run; 1 = off. @default 1 */
  readonly maxBatchSize: number;
  /** Dynamic batching: longest wait for a batch to fill, ms. @default 2 */
  readonly maxQueueDelayMs: number;
  /** Production variants per model name: `{weights: {version: weight}, shadow: version}`. @default {} */
  readonly variants: Readonly<Record<string, VariantConfig>>;
  /** @default 'info' */
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** JSON lines, or pretty lines for a terminal. @default 'json' */
  readonly logFormat: 'json' | 'pretty';
  /** The cloud's MQTT broker (mqtt:// or mqtts://): sync telemetry and desired state. Needs deviceId and deviceSecret. @default none (offline) */
  readonly cloud?: string;
  /** This device's id (from `kiln cloud devices add`). @default none */
  readonly deviceId?: string;
  /** This device's secret. @default none */
  readonly deviceSecret?: string;
}

export const CONFIG_DEFAULTS = Object.freeze({
  host: DEFAULTS.agentHost,
  port: DEFAULTS.agentPort,
  dataDir: './.kiln-agent',
  models: Object.freeze([]) as readonly string[],
  trustedKeys: Object.freeze([]) as readonly string[],
  trustKilnKey: true,
  keepVersions: DEFAULTS.keepVersions,
  maxRequestBytes: DEFAULTS.maxRequestBytes,
  maxJobBytes: DEFAULTS.maxJobBytes,
  preload: true,
  allowCpuFallback: false,
  outboxMaxRows: DEFAULTS.outboxMaxRows,
  maxBatchSize: 1,
  maxQueueDelayMs: 2,
  variants: Object.freeze({}) as Readonly<Record<string, VariantConfig>>,
  logLevel: 'info',
  logFormat: 'json',
} satisfies Partial<AgentConfig>);

const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/** '6MiB', '512 MB', '1048576' or a number → bytes. */
export function parseBytes(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) return undefined;
  const unit = UNITS[(m[2] || 'b').toLowerCase()];
  if (!unit) return undefined;
  const n = Math.round(Number(m[1]) * unit);
  return n > 0 ? n : undefined;
}

type Parser = (v: unknown) => { ok: true; value: unknown } | { ok: false; message: string };
const ok = (value: unknown) => ({ ok: true as const, value });
const no = (message: string) => ({ ok: false as const, message });

const str =
  (min = 1): Parser =>
  (v) =>
    typeof v === 'string' && v.length >= min
      ? ok(v)
      : no(typeof v === 'string' ? `needs at least ${min} characters` : `expected a string, got ${JSON.stringify(v)}`);
const int =
  (min: number, max: number): Parser =>
  (v) => {
    const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) return no(`expected a whole number, got ${JSON.stringify(v)}`);
    return n < min || n > max ? no(`must be between ${min} and ${max} (got ${n})`) : ok(n);
  };
const bool: Parser = (v) => {
  if (typeof v === 'boolean') return ok(v);
  if (typeof v === 'string' && /^(true|false|1|0|yes|no)$/i.test(v)) return ok(/^(true|1|yes)$/i.test(v));
  return no(`expected true or false, got ${JSON.stringify(v)}`);
};
const bytes: Parser = (v) => {
  const n = parseBytes(v);
  return n === undefined ? no(`${JSON.stringify(v)} is not a size (use bytes, or a number with B, KB, MB, GB, KiB, MiB, GiB)`) : ok(n);
};
const list: Parser = (v) => {
  if (typeof v === 'string')
    return ok(
      v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    );
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0)) return ok(v);
  return no('expected a list of strings (or one comma-separated string)');
};
const oneOf =
  (values: readonly string[]): Parser =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? ok(v) : no(`expected one of ${values.join(', ')}, got ${JSON.stringify(v)}`);

const PARSERS = {
  host: str(),
  port: int(0, 65535),
  dataDir: str(),
  models: list,
  token: str(8),
  trustedKeys: list,
  trustKilnKey: bool,
  keepVersions: int(0, 1000),
  maxRequestBytes: bytes,
  maxJobBytes: bytes,
  memoryBudgetBytes: bytes,
  threads: int(1, 1024),
  interOpThreads: int(1, 1024),
  allowCpuFallback: bool,
  preload: bool,
  outboxMaxRows: int(1, 100_000_000),
  maxBatchSize: int(1, 4096),
  maxQueueDelayMs: int(0, 10_000),
  variants: (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return no('expected a mapping of model name → {weights, shadow}');
    const problems = Object.entries(v).flatMap(([m, c]) => variantProblems(m, c));
    if (problems.length) return no(problems.join('; '));
    // Version keys and shadow versions are strings, whatever YAML made of them.
    return ok(
      Object.fromEntries(
        Object.entries(v as Record<string, VariantConfig>).map(([m, c]) => [
          m,
          { ...(c.weights ? { weights: Object.fromEntries(Object.entries(c.weights)) } : {}), ...(c.shadow !== undefined ? { shadow: String(c.shadow) } : {}) },
        ]),
      ),
    );
  },
  logLevel: oneOf(['debug', 'info', 'warn', 'error', 'silent']),
  logFormat: oneOf(['json', 'pretty']),
  cloud: (v) =>
    typeof v === 'string' && /^(mqtts?|tcp|tls):\/\/[^/\s]+/.test(v) ? ok(v) : no(`expected an mqtt:// or mqtts:// URL, got ${JSON.stringify(v)}`),
  deviceId: (v) =>
    typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v)
      ? ok(v)
      : no(`expected a device id (1–64 of A-Z a-z 0-9 . _ -), got ${JSON.stringify(v)}`),
  deviceSecret: str(8),
} as const satisfies Record<string, Parser>;

type RawConfig = Record<string, unknown>;
export type ConfigKey = keyof typeof PARSERS;
export const CONFIG_KEYS = Object.freeze(Object.keys(PARSERS) as ConfigKey[]);

/** KILN_AGENT_DATA_DIR → dataDir. */
const envName = (key: string): string => `KILN_AGENT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
const ENV_KEYS: Readonly<Record<string, ConfigKey>> = Object.freeze(Object.fromEntries(CONFIG_KEYS.map((k) => [envName(k), k])));
/** Environment variables that are not config keys but are understood. */
const ENV_EXTRA = new Set(['KILN_AGENT_CONFIG']);

export interface ConfigSources {
  /** Values from flags (already named as config keys; undefined = not given). */
  flags?: Partial<Record<ConfigKey, unknown>>;
  /** The environment (only KILN_AGENT_* is read). */
  env?: Readonly<Record<string, string | undefined>>;
  /** A YAML file; else KILN_AGENT_CONFIG when set. */
  configFile?: string;
  /** Relative paths in flags and env resolve against this. */
  cwd: string;
}

interface Problem {
  where: string;
  message: string;
}

function validate(raw: RawConfig, where: (key: string) => string, problems: Problem[]): Partial<Record<ConfigKey, unknown>> {
  const out: Partial<Record<ConfigKey, unknown>> = {};
  for (const [key, value] of Object.entries(raw)) {
    const parse = (PARSERS as Record<string, Parser>)[key];
    if (!parse) {
      problems.push({ where: where(key), message: `unknown option (valid: ${CONFIG_KEYS.join(', ')})` });
      continue;
    }
    const res = parse(value);
    if (res.ok) out[key as ConfigKey] = res.value;
    else problems.push({ where: where(key), message: res.message });
  }
  return out;
}

const clean = <T extends Record<string, unknown>>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** Resolve the agent's configuration. Throws one KilnError('AGENT_CONFIG') listing every problem. */
export function resolveAgentConfig(sources: ConfigSources): AgentConfig {
  const problems: Problem[] = [];
  const env = sources.env ?? {};

  // The file.
  let fromFile: Partial<Record<ConfigKey, unknown>> = {};
  const file = sources.configFile ?? env.KILN_AGENT_CONFIG;
  let fileDir = sources.cwd;
  if (file) {
    const path = resolve(sources.cwd, file);
    fileDir = dirname(path);
    if (!existsSync(path)) problems.push({ where: path, message: 'no such config file' });
    else {
      try {
        const doc = parseYaml(readFileSync(path, 'utf8'));
        if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc))) problems.push({ where: path, message: 'the file must hold a mapping of options' });
        else fromFile = validate((doc ?? {}) as RawConfig, (k) => `${path}: ${k}`, problems);
      } catch (err) {
        problems.push({ where: path, message: err instanceof YamlError ? err.message : `cannot read it: ${(err as Error).message}` });
      }
    }
  }

  // The environment.
  const rawEnv: RawConfig = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('KILN_AGENT_') || value === undefined || ENV_EXTRA.has(name)) continue;
    const key = ENV_KEYS[name];
    if (!key)
      problems.push({
        where: name,
        message: `unknown variable (valid: ${Object.keys(ENV_KEYS)
          .concat([...ENV_EXTRA])
          .join(', ')})`,
      });
    else rawEnv[key] = value;
  }
  const fromEnv = validate(rawEnv, (k) => envName(k), problems);

  // The flags.
  const fromFlags = validate(clean(sources.flags ?? {}) as RawConfig, (k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, problems);

  // Paths: relative to the file for file values, to cwd otherwise.
  const paths = (o: Partial<Record<ConfigKey, unknown>>, base: string) => {
    const out = { ...o };
    if (typeof out.dataDir === 'string') out.dataDir = resolve(base, out.dataDir);
    if (Array.isArray(out.models)) out.models = (out.models as string[]).map((m) => resolve(base, m));
    if (Array.isArray(out.trustedKeys)) out.trustedKeys = (out.trustedKeys as string[]).map((k) => readKey(k, base, problems));
    return out;
  };
  const merged = {
    ...CONFIG_DEFAULTS,
    dataDir: resolve(sources.cwd, CONFIG_DEFAULTS.dataDir),
    ...paths(fromFile, fileDir),
    ...paths(fromEnv, sources.cwd),
    ...paths(fromFlags, sources.cwd),
  } as AgentConfig;

  if (!isLoopback(merged.host) && !merged.token) {
    problems.push({ where: 'host', message: `binding ${merged.host} (not loopback) needs a token: set --token, KILN_AGENT_TOKEN or token: in the file` });
  }
  if (merged.cloud && (!merged.deviceId || !merged.deviceSecret)) {
    problems.push({
      where: 'cloud',
      message: 'syncing with the cloud needs a device id and secret: set --device-id and --device-secret (or KILN_AGENT_DEVICE_ID / KILN_AGENT_DEVICE_SECRET)',
    });
  }
  if (problems.length) {
    throw new KilnError(
      'AGENT_CONFIG',
      `the agent's configuration has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  • ${problems.map((p) => `${p.where}: ${p.message}`).join('\n  • ')}`,
      {
        hint: 'see kiln agent start --help',
      },
    );
  }
  return Object.freeze({ ...merged, models: Object.freeze([...merged.models]), trustedKeys: Object.freeze([...merged.trustedKeys]) });
}

/** A trusted key: base64 of 32 raw bytes, or a file holding one (signing-key.pub). */
function readKey(k: string, base: string, problems: Problem[]): string {
  if (/^[A-Za-z0-9+/]{43}=$/.test(k)) return k;
  const path = resolve(base, k);
  if (!existsSync(path)) {
    problems.push({ where: `trustedKeys: ${k}`, message: 'neither a base64 ed25519 public key nor a file holding one' });
    return k;
  }
  const text = readFileSync(path, 'utf8').trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(text))
    problems.push({ where: `trustedKeys: ${path}`, message: 'the file does not hold a base64 ed25519 public key (as signing-key.pub does)' });
  return text;
}
