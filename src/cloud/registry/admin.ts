/**
 * Operator actions behind `kiln push` and `kiln cloud models list`: open the registry at a database
 * path, do one thing, close it. The CLI only parses flags and prints.
 */
import { existsSync } from 'node:fs';
import { ModelRegistry } from './registry.js';
import type { ArtifactRecord, PushOptions, PushResult } from './types.js';

/** Push one artifact into the registry at `dbPath` (artifacts in `artifacts/` beside it). */
export function pushToRegistry(dbPath: string, artifactPath: string, options: PushOptions = {}): PushResult {
  const registry = new ModelRegistry({ dbPath });
  try {
    return registry.pushArtifact(artifactPath, options);
  } finally {
    registry.close();
  }
}

export interface ModelSummary {
  name: string;
  latest: string | null;
  versions: { version: string; createdAt: string; artifacts: Pick<ArtifactRecord, 'target' | 'sha256' | 'sizeBytes' | 'quantization' | 'keyId' | 'verification'>[] }[];
}

/** Every model with its versions and their artifacts (empty when the database does not exist). */
export function listRegistryModels(dbPath: string): ModelSummary[] {
  if (!existsSync(dbPath)) return [];
  const registry = new ModelRegistry({ dbPath });
  try {
    return registry.listModels().map((m) => ({
      name: m.name,
      latest: m.latest,
      versions: registry.listVersions(m.name).map((v) => ({
        version: v.version,
        createdAt: v.createdAt,
        artifacts: registry.artifactsOf(m.name, v.version).map((a) => ({ target: a.target, sha256: a.sha256, sizeBytes: a.sizeBytes, quantization: a.quantization, keyId: a.keyId, verification: a.verification })),
      })),
    }));
  } finally {
    registry.close();
  }
}
