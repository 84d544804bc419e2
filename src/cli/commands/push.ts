/**
 * `kiln push ARTIFACT` and `kiln cloud models list`: the cloud's model registry (src/cloud/registry),
 * loaded only when these run. Thin: flags in, src/cloud/registry/admin.ts does the work, text or JSON out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineCommand } from '../framework.js';

const dbOption = { type: 'string', valueName: 'FILE', description: 'the cloud database (SQLite); artifacts are kept in artifacts/ beside it (default: ./.kiln-cloud/cloud.db)' } as const;
const dbPath = (cwd: string, db: string | undefined) => resolve(cwd, db ?? '.kiln-cloud/cloud.db');
const databaseUrlOption = { type: 'string', valueName: 'URL', description: 'the registry in PostgreSQL, postgres://USER[:PASSWORD]@HOST[:PORT]/DB, as `kiln cloud start --database-url` uses it (default: KILN_DATABASE_URL, else --db)' } as const;

/** Where the registry is: --database-url (or KILN_DATABASE_URL) names PostgreSQL, else the SQLite --db. Both at once is a usage error. */
function registryAt(cwd: string, env: Record<string, string | undefined>, options: { db?: string; 'database-url'?: string }, usageError: (m: string) => Error) {
  if (options.db !== undefined && options['database-url'] !== undefined) throw usageError('--db and --database-url: give one (SQLite file or PostgreSQL URL)');
  const databaseUrl = options['database-url'] || (options.db === undefined ? env.KILN_DATABASE_URL : undefined);
  return databaseUrl ? { databaseUrl } : { dbPath: dbPath(cwd, options.db) };
}
const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;

export const push = defineCommand({
  name: 'push',
  summary: 'register a compiled artifact in the cloud model registry',
  description:
    'Checks the artifact (manifest, signature, every file hash) and stores it under its model, version and target, ' +
    'content-addressed by sha256. Pushing the same artifact again changes nothing; a different artifact for a model version ' +
    'and target that already has one is refused (versions are immutable). --model and --version, when given, must match the ' +
    'signed manifest.',
  options: {
    db: dbOption,
    'database-url': databaseUrlOption,
    model: { type: 'string', valueName: 'NAME', description: 'the model name the artifact must carry' },
    version: { type: 'string', valueName: 'V', description: 'the version the artifact must carry' },
    trust: { type: 'string', multiple: true, valueName: 'KEY|FILE', description: 'only accept artifacts signed by this public key (base64) or the key in this file' },
  },
  positionals: [{ name: 'artifact', description: 'an artifact directory or its .tgz' }],
  examples: [
    { command: 'push build/cnn-x86_64 --model cnn --version 1.2.0' },
    { command: 'push build/cnn-wasm.tgz --db /var/lib/kiln/cloud.db' },
    { command: 'push build/cnn-arm64 --database-url postgres://kiln@db.internal/kiln' },
  ],
  async run({ options, args, io, json, print, printJson, usageError }) {
    const { pushToRegistry } = await import('../../cloud/registry/admin.js');
    const keys = (options.trust ?? []).map((k) => {
      const f = resolve(io.cwd, k);
      return existsSync(f) ? readFileSync(f, 'utf8').trim() : k;
    });
    const r = await pushToRegistry(registryAt(io.cwd, io.env, options, usageError), resolve(io.cwd, args.artifact), {
      model: options.model,
      version: options.version,
      ...(keys.length ? { trustedKeys: keys } : {}),
    });
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
    const rows = models.flatMap((m) => m.versions.map((v) => [m.name, v.version, v.artifacts.map((a) => `${a.target} (${a.quantization})`).join(', '), v.createdAt]));
    const head = ['MODEL', 'VERSION', 'TARGETS', 'PUSHED'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [head, ...rows]) print(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
  },
});
