/**
 * The compile cache: a content address of everything that decides an artifact (source, profile,
 * options, data, verifying runtime, pipeline), and the copy in and out of the cache folder.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ArtifactManifest } from '../../protocol/manifest.js';
import { canonicalJson, MANIFEST_FILE, type WrittenArtifact } from '../../protocol/artifact.js';
import type { TargetProfile } from '../../targets/profiles.js';
import type { ModelRunner } from '../verify.js';
import { pipelineCacheKey, type PipelineSource } from '../pipeline.js';
import { KILN_VERSION } from '../../version.js';
import type { UserQuantOptions } from '../quant-plan.js';

/** The options that change what a compile produces. */
export interface CacheRelevantOptions extends UserQuantOptions {
  shapes?: Record<string, number[]>;
  maxCalibrationSamples?: number;
  holdOut?: number;
  minCosine?: number;
  maxTop1Drop?: number;
  modelName?: string;
  modelVersion?: string;
  maxEmulatedSamples?: number;
}

export function cacheKeyOf(
  sourceSha: string,
  profile: TargetProfile,
  options: CacheRelevantOptions,
  dataLabel: string,
  pipeline: PipelineSource | undefined,
  runner: ModelRunner,
  defaultEmulatedSamples: number,
  host: unknown,
): string {
  const relevant = {
    kiln: KILN_VERSION,
    source: sourceSha,
    profile,
    quantize: options.quantize,
    calibration: options.calibration,
    includeOps: options.includeOps,
    excludeOps: options.excludeOps,
    includeNodes: options.includeNodes,
    excludeNodes: options.excludeNodes,
    measurePerNode: options.measurePerNode,
    shapes: options.shapes,
    data: dataLabel,
    maxCalibrationSamples: options.maxCalibrationSamples,
    holdOut: options.holdOut,
    minCosine: options.minCosine,
    maxTop1Drop: options.maxTop1Drop,
    modelName: options.modelName,
    modelVersion: options.modelVersion,
    // What verifies it: an arm64 compile verified under emulation is not the one verified on the x86 stand-in.
    verifiedOn: {
      label: runner.label,
      note: runner.note,
      maxEmulatedSamples: runner.emulated ? (options.maxEmulatedSamples ?? defaultEmulatedSamples) : undefined,
    },
    // Content, not paths: a changed pipeline.json or labels file is a changed artifact.
    pipeline: pipeline ? pipelineCacheKey(pipeline) : undefined,
    // The CPU it is tuned on: an artifact tuned on a VNNI host is not the one tuned on an AVX2 host.
    host,
  };
  return createHash('sha256').update(canonicalJson(relevant)).digest('hex');
}

/** Copy a cached artifact to `outDir`; undefined when the cache holds none. */
export function restoreCached(cached: string, outDir: string): { artifact: WrittenArtifact; manifest: ArtifactManifest } | undefined {
  if (!existsSync(join(cached, MANIFEST_FILE))) return undefined;
  const manifest = JSON.parse(readFileSync(join(cached, MANIFEST_FILE), 'utf8')) as ArtifactManifest;
  rmSync(outDir, { recursive: true, force: true });
  cpSync(cached, outDir, { recursive: true });
  if (existsSync(`${cached}.tgz`)) cpSync(`${cached}.tgz`, `${outDir}.tgz`);
  return { artifact: { dir: outDir, archive: `${outDir}.tgz`, manifest }, manifest };
}

/** Store a written artifact under `cached` (through a temporary copy, so a cache entry is whole or absent). */
export function storeInCache(artifact: WrittenArtifact, cacheDir: string, cached: string): void {
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${cached}.tmp-${process.pid}`;
  cpSync(artifact.dir, tmp, { recursive: true });
  cpSync(artifact.archive, `${cached}.tgz`);
  rmSync(cached, { recursive: true, force: true });
  cpSync(tmp, cached, { recursive: true });
  rmSync(tmp, { recursive: true, force: true });
}
