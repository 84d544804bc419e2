/** Reading an installed artifact's pipeline.json (and its labels file), checked against the model. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ArtifactManifest } from '../../protocol/manifest.js';
import { checkPipeline, PIPELINE_FILE, type PipelineSpec } from '../../protocol/pipeline.js';
import { planImage } from './image.js';
import { KilnError } from '../../errors.js';

/** Read and check the pipeline.json an artifact lists in its files (undefined when none); throws with every problem. */
export function readPipeline(dir: string, manifest: ArtifactManifest): PipelineSpec | undefined {
  if (!manifest.files[PIPELINE_FILE]) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, PIPELINE_FILE), 'utf8'));
  } catch (err) {
    throw new KilnError('AGENT_INSTALL', `${PIPELINE_FILE} is not JSON (${(err as Error).message})`);
  }
  const labelsFile = (raw as { labelsFile?: unknown })?.labelsFile;
  // Only a file the signed manifest lists is read: its sha256 was checked with the artifact.
  const labels = typeof labelsFile === 'string' && Object.hasOwn(manifest.files, labelsFile) ? readFileSync(join(dir, labelsFile), 'utf8') : undefined;
  const checked = checkPipeline(raw, manifest, { labels, planImage });
  if (!checked.ok) throw new KilnError('AGENT_INSTALL', `${PIPELINE_FILE}: ${checked.problems.join('; ')}`);
  return checked.spec;
}
