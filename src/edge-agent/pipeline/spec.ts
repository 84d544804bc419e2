/**
 * Inference pipelines declared in an artifact: `pipeline.json`, listed in the manifest's `files`
 * (so its sha256 is signed with the manifest). Serial steps around one model run:
 *
 * ```json
 * {
 *   "preprocess": { "type": "image", "input": "input", "size": [224, 224], "resize": "cover",
 *                   "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "layout": "NCHW", "channels": "rgb" },
 *   "postprocess": [ { "op": "softmax" }, { "op": "topk", "k": 5 }, { "op": "threshold", "min": 0.1 } ],
 *   "output": "logits",
 *   "labels": ["tench", "goldfish", "..."]            (or "labelsFile": "labels.txt", also listed in files)
 * }
 * ```
 *
 * Postprocess reads one output (default: the first) as rows of scores along its last axis.
 * Steps: softmax, argmax, topk {k}, threshold {min}. Validation is pure and lists every problem.
 */
import type { ArtifactManifest } from '../../protocol/manifest.js';
import type { ImagePreprocess } from '../../compiler/image-preprocess.js';

export const PIPELINE_FILE = 'pipeline.json';

export type PostStep = { op: 'softmax' } | { op: 'argmax' } | { op: 'topk'; k: number } | { op: 'threshold'; min: number };

export interface ImagePreprocessStep extends ImagePreprocess {
  type: 'image';
  /** The model input the image feeds. @default the model's first input */
  input?: string;
}

export interface PipelineSpec {
  preprocess?: ImagePreprocessStep;
  postprocess: PostStep[];
  /** The output postprocessing reads. */
  output: string;
  labels?: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Check a parsed pipeline.json against the model. Returns the spec, or every problem in words. */
export function checkPipeline(raw: unknown, manifest: Pick<ArtifactManifest, 'inputs' | 'outputs'>, files: { labels?: string }): { ok: true; spec: PipelineSpec } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  if (!isObject(raw)) return { ok: false, problems: [`${PIPELINE_FILE} must hold an object`] };
  for (const k of Object.keys(raw)) if (!['preprocess', 'postprocess', 'output', 'labels', 'labelsFile'].includes(k)) problems.push(`unknown key '${k}' (valid: preprocess, postprocess, output, labels, labelsFile)`);
  let preprocess: ImagePreprocessStep | undefined;
  if (raw.preprocess !== undefined) {
    const p = raw.preprocess;
    if (!isObject(p) || p.type !== 'image') problems.push(`preprocess must be an object with "type": "image"`);
    else {
      const input = p.input ?? manifest.inputs[0]?.name;
      if (typeof input !== 'string' || !manifest.inputs.some((i) => i.name === input)) problems.push(`preprocess.input '${String(input)}' is not an input of the model (${manifest.inputs.map((i) => i.name).join(', ')})`);
      if (manifest.inputs.length !== 1) problems.push(`image preprocessing needs a single-input model (this one has ${manifest.inputs.length})`);
      preprocess = { ...(p as unknown as ImagePreprocessStep), input: input as string };
    }
  }
  const postprocess: PostStep[] = [];
  if (raw.postprocess !== undefined && !Array.isArray(raw.postprocess)) problems.push('postprocess must be a list of steps');
  for (const [i, s] of ((Array.isArray(raw.postprocess) ? raw.postprocess : []) as unknown[]).entries()) {
    if (!isObject(s) || typeof s.op !== 'string') {
      problems.push(`postprocess[${i}] must be an object with an "op"`);
      continue;
    }
    const extra = (allowed: string[]) => Object.keys(s).filter((k) => k !== 'op' && !allowed.includes(k));
    switch (s.op) {
      case 'softmax':
      case 'argmax':
        if (extra([]).length) problems.push(`postprocess[${i}] (${s.op}) takes no options (got ${extra([]).join(', ')})`);
        postprocess.push({ op: s.op });
        break;
      case 'topk':
        if (!Number.isInteger(s.k) || (s.k as number) < 1) problems.push(`postprocess[${i}] (topk) needs "k", a whole number ≥ 1`);
        else postprocess.push({ op: 'topk', k: s.k as number });
        break;
      case 'threshold':
        if (typeof s.min !== 'number' || !Number.isFinite(s.min)) problems.push(`postprocess[${i}] (threshold) needs "min", a number`);
        else postprocess.push({ op: 'threshold', min: s.min });
        break;
      default:
        problems.push(`postprocess[${i}]: unknown op '${s.op}' (valid: softmax, argmax, topk, threshold)`);
    }
  }
  const selects = postprocess.filter((s) => s.op === 'argmax' || s.op === 'topk');
  if (selects.length > 1) problems.push('postprocess may pick entries once (one argmax or one topk)');
  const output = raw.output ?? manifest.outputs[0]?.name;
  if (typeof output !== 'string' || !manifest.outputs.some((o) => o.name === output)) problems.push(`output '${String(output)}' is not an output of the model (${manifest.outputs.map((o) => o.name).join(', ')})`);
  let labels: string[] | undefined;
  if (raw.labels !== undefined) {
    if (!Array.isArray(raw.labels) || !raw.labels.every((l) => typeof l === 'string')) problems.push('labels must be a list of strings');
    else labels = raw.labels as string[];
  } else if (raw.labelsFile !== undefined) {
    if (files.labels === undefined) problems.push(`labelsFile '${String(raw.labelsFile)}' is not a file of the artifact`);
    else labels = files.labels.split(/\r?\n/).filter((l, i, all) => l !== '' || i < all.length - 1);
  }
  if (problems.length) return { ok: false, problems };
  return { ok: true, spec: { preprocess, postprocess, output: output as string, labels } };
}
