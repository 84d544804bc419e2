/**
 * Operator actions behind `kiln push` and `kiln cloud models list`: open the registry (a SQLite
 * database path, or a PostgreSQL URL), do one thing, close it. The CLI only parses flags and prints.
 */
import { existsSync } from 'node:fs';
import { openModelRegistry } from './registry.js';
import type { ArtifactRecord, ModelRegistryOptions, PushOptions, PushResult } from './types.js';

/** Push one artifact into the registry at `at` (`{ dbPath }`: artifacts in `artifacts/` beside it; `{ databaseUrl }`: in PostgreSQL). */
export async function pushToRegistry(at: ModelRegistryOptions, artifactPath: string, options: PushOptions = {}): Promise<PushResult> {
  const registry = await openModelRegistry(at);
  try {
    return await registry.pushArtifact(artifactPath, options);
  } finally {
    await registry.close();
  }
}

export interface ModelSummary {
  name: string;
  latest: string | null;
  versions: {
    version: string;
    createdAt: string;
    artifacts: Pick<ArtifactRecord, 'target' | 'sha256' | 'sizeBytes' | 'quantization' | 'keyId' | 'verification'>[];
  }[];
}

/** Every model with its versions and their artifacts (empty when the SQLite database does not exist: listing creates nothing). */
export async function listRegistryModels(at: ModelRegistryOptions): Promise<ModelSummary[]> {
  if (at.dbPath !== undefined && !existsSync(at.dbPath)) return [];
  const registry = await openModelRegistry(at);
  try {
    const out: ModelSummary[] = [];
    for (const m of await registry.listModels()) {
      const versions: ModelSummary['versions'] = [];
      for (const v of await registry.listVersions(m.name)) {
        const artifacts = (await registry.artifactsOf(m.name, v.version)).map((a) => ({
          target: a.target,
          sha256: a.sha256,
          sizeBytes: a.sizeBytes,
          quantization: a.quantization,
          keyId: a.keyId,
          verification: a.verification,
        }));
        versions.push({ version: v.version, createdAt: v.createdAt, artifacts });
      }
      out.push({ name: m.name, latest: m.latest, versions });
    }
    return out;
  } finally {
    await registry.close();
  }
}
