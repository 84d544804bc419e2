/**
 * `kiln push ARTIFACT` and `kiln cloud models list`: the cloud's model registry (src/cloud/registry),
 * loaded only when these run. Thin: flags in, src/cloud/registry/admin.ts does the work (or, with
 * --cloud-url, the cloud's POST /api/artifacts over HTTP), text or JSON out.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { KilnError } from '../../errors.js';
import type { PushResult } from '../../cloud/registry/types.js';
import { cloudOptions, cloudUrl, refusal, uploadToCloud, type ApiAnswer, type CloudCtx } from '../cloud-client.js';
import { defineCommand } from '../framework.js';

const dbOption = {
  type: 'string',
  valueName: 'FILE',
  description: 'the cloud database (SQLite); artifacts are kept in artifacts/ beside it (default: ./.kiln-cloud/cloud.db)',
} as const;
const dbPath = (cwd: string, db: string | undefined) => resolve(cwd, db ?? '.kiln-cloud/cloud.db');
const databaseUrlOption = {
  type: 'string',
  valueName: 'URL',
  description:
    'the registry in PostgreSQL, postgres://USER[:PASSWORD]@HOST[:PORT]/DB, as `kiln cloud start --database-url` uses it (default: KILN_DATABASE_URL, else --db)',
} as const;

/** Where the registry is: --database-url (or KILN_DATABASE_URL) names PostgreSQL, else the SQLite --db. Both at once is a usage error. */
function registryAt(cwd: string, env: Record<string, string | undefined>, options: { db?: string; 'database-url'?: string }, usageError: (m: string) => Error) {
  if (options.db !== undefined && options['database-url'] !== undefined) throw usageError('--db and --database-url: give one (SQLite file or PostgreSQL URL)');
  const databaseUrl = options['database-url'] || (options.db === undefined ? env.KILN_DATABASE_URL : undefined);
  return databaseUrl ? { databaseUrl } : { dbPath: dbPath(cwd, options.db) };
}
const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;

/** The one-line KilnError for each way the cloud can refuse an upload of `what`. */
function uploadRefusal(answer: ApiAnswer, what: string, base: string): KilnError {
  const d = answer.data ?? {};
  const said = String(d.message ?? JSON.stringify(d));
  if (answer.status === 401)
    return new KilnError('UNAUTHORIZED', `the cloud at ${base} refused the operator token (401): ${said}`, {
      hint: 'pass --token, set KILN_CLOUD_TOKEN, or point --db at the cloud database (its api-token file)',
    });
  if (answer.status === 400 && d.error === 'bad-artifact') {
    const problems: string[] = Array.isArray(d.problems) ? d.problems.map(String) : [said];
    return new KilnError(
      'BAD_ARTIFACT',
      `${what}: the cloud refused it, the artifact did not pass its checks (nothing was stored):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      {
        hint: 'push an artifact exactly as `kiln compile` wrote it, signed by a key the cloud trusts (kiln cloud start --trust)',
      },
    );
  }
  if (answer.status === 400) return new KilnError('REQUEST_REFUSED', `${what}: the cloud refused it: ${said}`);
  if (answer.status === 409) return new KilnError('ARTIFACT_CONFLICT', `${what}: the cloud refused it: ${said}`);
  if (answer.status === 413) {
    return new KilnError('PAYLOAD_TOO_LARGE', `${what}: the cloud refused it (413): ${said}`, {
      hint: "raise the cloud's limit (kiln cloud start --max-upload-mib N), or push with --db/--database-url where the registry's database is",
    });
  }
  return refusal(answer);
}

/** Upload the artifact at `path` (a directory is packed the way the registry stores it; a .tgz goes as it is) to the cloud's registry. */
async function pushOverHttp(ctx: CloudCtx, path: string, what: string, query: { model?: string; version?: string }): Promise<PushResult> {
  const { readArtifactFiles } = await import('../../protocol/artifact.js');
  const { packEntries } = await import('../../protocol/archive.js');
  if (!existsSync(path)) throw new KilnError('FILE_NOT_FOUND', `${what}: no such artifact`, { hint: 'pass an artifact directory or its .tgz' });
  const bytes = statSync(path).isDirectory() ? packEntries([...readArtifactFiles(path)].map(([p, data]) => ({ path: p, data }))) : readFileSync(path);
  const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined)).toString();
  const answer = await uploadToCloud(ctx, `/api/artifacts${q ? `?${q}` : ''}`, bytes, 'application/gzip');
  if (!answer.ok) throw uploadRefusal(answer, what, cloudUrl(ctx));
  return answer.data as PushResult;
}

export const push = defineCommand({
  name: 'push',
  summary: 'register a compiled artifact in the cloud model registry (over HTTP with --cloud-url, or straight into its database)',
  description:
    'Checks the artifact (manifest, signature, every file hash) and stores it under its model, version and target, ' +
    'content-addressed by sha256. Pushing the same artifact again changes nothing; a different artifact for a model version ' +
    'and target that already has one is refused (versions are immutable). --model and --version, when given, must match the ' +
    'signed manifest. Two ways to reach the registry: with --cloud-url (or KILN_CLOUD_URL) the artifact is uploaded to a running ' +
    "cloud's API (POST /api/artifacts, operator token from --token, KILN_CLOUD_TOKEN or the api-token beside --db; a directory is " +
    'packed to .tgz first), and the cloud checks it and decides which signers it trusts (kiln cloud start --trust) and how large ' +
    'an upload may be (--max-upload-mib, 512 by default). Without it, the artifact is written straight into the database: the SQLite ' +
    '--db file, or the PostgreSQL --database-url (KILN_CLOUD_URL is ignored when --db or --database-url is given).',
  options: {
    ...cloudOptions,
    'cloud-url': {
      ...cloudOptions['cloud-url'],
      description: "upload to the running cloud's API at this URL instead of writing into a database (default: KILN_CLOUD_URL)",
    },
    db: { ...dbOption, description: `${dbOption.description}; with --cloud-url, only where the api-token file is read from` },
    'database-url': databaseUrlOption,
    model: { type: 'string', valueName: 'NAME', description: 'the model name the artifact must carry' },
    version: { type: 'string', valueName: 'V', description: 'the version the artifact must carry' },
    trust: {
      type: 'string',
      multiple: true,
      valueName: 'KEY|FILE',
      description: 'only accept artifacts signed by this public key (base64) or the key in this file (direct mode only: over HTTP the cloud decides)',
    },
  },
  positionals: [{ name: 'artifact', description: 'an artifact directory or its .tgz' }],
  examples: [
    { command: 'push build/cnn-x86_64 --cloud-url https://kiln.example.com', description: 'upload to a running cloud (token: KILN_CLOUD_TOKEN)' },
    { command: 'push build/cnn-wasm.tgz --cloud-url http://10.0.0.5:8300 --token $TOKEN --model cnn --version 1.2.0' },
    { command: 'push build/cnn-x86_64 --model cnn --version 1.2.0', description: 'straight into ./.kiln-cloud/cloud.db on this machine' },
    { command: 'push build/cnn-wasm.tgz --db /var/lib/kiln/cloud.db' },
    { command: 'push build/cnn-arm64 --database-url postgres://kiln@db.internal/kiln' },
  ],
  async run({ options, args, io, json, print, printJson, usageError }) {
    const path = resolve(io.cwd, args.artifact);
    const overHttp =
      options['cloud-url'] !== undefined ||
      (io.env.KILN_CLOUD_URL !== undefined && io.env.KILN_CLOUD_URL !== '' && options.db === undefined && options['database-url'] === undefined);
    let r: PushResult;
    if (overHttp) {
      if (options['database-url'] !== undefined)
        throw usageError('--cloud-url and --database-url: give one (upload to a running cloud, or write into its database)');
      if (options.trust?.length)
        throw usageError('--trust: over --cloud-url the cloud decides which signers it accepts (kiln cloud start --trust KEY); leave --trust out');
      r = await pushOverHttp({ io, options }, path, args.artifact, { model: options.model, version: options.version });
    } else {
      const { pushToRegistry } = await import('../../cloud/registry/admin.js');
      const keys = (options.trust ?? []).map((k) => {
        const f = resolve(io.cwd, k);
        return existsSync(f) ? readFileSync(f, 'utf8').trim() : k;
      });
      r = await pushToRegistry(registryAt(io.cwd, io.env, options, usageError), path, {
        model: options.model,
        version: options.version,
        ...(keys.length ? { trustedKeys: keys } : {}),
      });
    }
    if (json) return printJson(r);
    const a = r.artifact;
    print(`${r.created ? 'pushed' : 'already there'}: ${a.model} ${a.version} for ${a.target} (${a.quantization}, ${mib(a.sizeBytes)}, signed by ${a.keyId})`);
    print(`  sha256 ${a.sha256}`);
  },
});

export const cloudModelsList = defineCommand({
  name: 'cloud models list',
  summary: 'list models in the registry: versions and the targets each has an artifact for',
  options: { db: dbOption, 'database-url': databaseUrlOption },
  async run({ options, io, json, print, printJson, usageError }) {
    const { listRegistryModels } = await import('../../cloud/registry/admin.js');
    const models = await listRegistryModels(registryAt(io.cwd, io.env, options, usageError));
    if (json) return printJson(models);
    if (!models.length) return print('no models (push one with: kiln push ARTIFACT)');
    const rows = models.flatMap((m) =>
      m.versions.map((v) => [m.name, v.version, v.artifacts.map((a) => `${a.target} (${a.quantization})`).join(', '), v.createdAt]),
    );
    const head = ['MODEL', 'VERSION', 'TARGETS', 'PUSHED'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [head, ...rows]) print(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
  },
});
