/**
 * Inference pipelines declared in an artifact: `pipeline.json`, listed in the manifest's `files`
 * (so its sha256 is signed with the manifest). The compiler writes it (`kiln compile --pipeline`),
 * the agent reads it and runs serial steps around one model run:
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
 * Steps: softmax, argmax, topk {k}, threshold {min}. A labels file holds one label per line.
 * Validation is pure and lists every problem; checking the image options against the model's input
 * needs the image planner, which callers pass in (`planImage`), so this module imports nothing of
 * the compiler's or the agent's.
 */
import type { ArtifactManifest, TensorSpec } from './manifest.js';

export const PIPELINE_FILE = 'pipeline.json';
/** The name the compiler gives a pipeline's labels file inside an artifact. */
export const LABELS_FILE = 'labels.txt';

export type ImageLayout = 'NCHW' | 'NHWC';
export type ResizeMode = 'fill' | 'cover' | 'contain';
export type ChannelOrder = 'rgb' | 'bgr' | 'gray';

/** How images become an input tensor. Every field is optional; the defaults suit most float models. */
export interface ImagePreprocess {
  /**
   * Tensor layout; a rank-3 input is the same without the batch dim.
   * @default 'NHWC' when the input's last dim is 1 or 3 and its channel-first dim is not, else 'NCHW'
   */
  layout?: ImageLayout;
  /** [height, width] to resize to; required when the model's height or width is symbolic and no --shape fixes it. */
  size?: readonly [number, number];
  /**
   * 'fill' stretches to the size; 'cover' scales to cover it and crops the centre; 'contain' scales
   * to fit inside and pads with black (letterbox).
   * @default 'fill'
   */
  resize?: ResizeMode;
  /** Subtracted after scaling, one value or one per channel (tensor channel order). @default [0] */
  mean?: readonly number[];
  /** Divided by after subtracting the mean, one value or one per channel. @default [1] */
  std?: readonly number[];
  /** Pixel values (0..255) are multiplied by this first. @default 1/255 for float inputs, 1 for uint8/int8 */
  scale?: number;
  /** Channel order of the tensor. @default 'gray' when the model's channel dim is 1, else 'rgb' */
  channels?: ChannelOrder;
}

export const IMAGE_PREPROCESS_KEYS: readonly (keyof ImagePreprocess)[] = Object.freeze(['layout', 'size', 'resize', 'mean', 'std', 'scale', 'channels']);

export type PostStep = { op: 'softmax' } | { op: 'argmax' } | { op: 'topk'; k: number } | { op: 'threshold'; min: number };

export interface ImagePreprocessStep extends ImagePreprocess {
  type: 'image';
  /** The model input the image feeds. @default the model's first input */
  input?: string;
}

/** A pipeline.json as written (what `kiln compile --pipeline` takes). */
export interface PipelineFile {
  preprocess?: ImagePreprocessStep;
  /** @default [] */
  postprocess?: PostStep[];
  /** The output postprocessing reads. @default the model's first output */
  output?: string;
  /** One label per class (index along the output's last axis). */
  labels?: string[];
  /** Instead of `labels`: a file of the artifact with one label per line. */
  labelsFile?: string;
}

/** A checked pipeline, defaults settled and labels read. */
export interface PipelineSpec {
  preprocess?: ImagePreprocessStep;
  postprocess: PostStep[];
  /** The output postprocessing reads. */
  output: string;
  labels?: string[];
}

export interface CheckPipelineOptions {
  /** The text of the file `labelsFile` names, when the pipeline has one and it exists. */
  labels?: string;
  /** Plan the image step for its input; throws when the options do not fit it (the message becomes a problem). */
  planImage?: (step: ImagePreprocessStep, input: TensorSpec) => void;
}

const TOP_KEYS = ['preprocess', 'postprocess', 'output', 'labels', 'labelsFile'];
const PREPROCESS_KEYS = ['type', 'input', ...IMAGE_PREPROCESS_KEYS];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A labels file's lines (one label per line; a final newline ends the last line, it adds no label). */
export const parseLabels = (text: string): string[] => text.split(/\r?\n/).filter((l, i, all) => l !== '' || i < all.length - 1);

/** Check a parsed pipeline.json against the model. Returns the spec, or every problem in words. */
export function checkPipeline(
  raw: unknown,
  manifest: Pick<ArtifactManifest, 'inputs' | 'outputs'>,
  options: CheckPipelineOptions = {},
): { ok: true; spec: PipelineSpec } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  if (!isObject(raw)) return { ok: false, problems: [`${PIPELINE_FILE} must hold an object`] };
  for (const k of Object.keys(raw)) if (!TOP_KEYS.includes(k)) problems.push(`unknown key '${k}' (valid: ${TOP_KEYS.join(', ')})`);
  let preprocess: ImagePreprocessStep | undefined;
  if (raw.preprocess !== undefined) {
    const p = raw.preprocess;
    if (!isObject(p) || p.type !== 'image') problems.push(`preprocess must be an object with "type": "image"`);
    else {
      const before = problems.length;
      const unknown = Object.keys(p).filter((k) => !PREPROCESS_KEYS.includes(k));
      if (unknown.length)
        problems.push(
          `preprocess: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (valid: ${PREPROCESS_KEYS.join(', ')})`,
        );
      const input = p.input ?? manifest.inputs[0]?.name;
      const spec = manifest.inputs.find((i) => i.name === input);
      if (typeof input !== 'string' || !spec)
        problems.push(`preprocess.input '${String(input)}' is not an input of the model (${manifest.inputs.map((i) => i.name).join(', ')})`);
      if (manifest.inputs.length !== 1) problems.push(`image preprocessing needs a single-input model (this one has ${manifest.inputs.length})`);
      preprocess = { ...(p as unknown as ImagePreprocessStep), input: input as string };
      if (problems.length === before && spec && options.planImage) {
        try {
          options.planImage(preprocess, spec);
        } catch (err) {
          const e = err as Error & { hint?: string };
          const message = e.hint && e.message.endsWith(` — ${e.hint}`) ? e.message.slice(0, -` — ${e.hint}`.length) : e.message;
          problems.push(`preprocess: ${message.replace(/^image preprocessing: /, '')}${e.hint ? ` (${e.hint})` : ''}`);
        }
      }
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
        if (extra(['k']).length) problems.push(`postprocess[${i}] (topk) takes only "k" (got ${extra(['k']).join(', ')})`);
        break;
      case 'threshold':
        if (typeof s.min !== 'number' || !Number.isFinite(s.min)) problems.push(`postprocess[${i}] (threshold) needs "min", a number`);
        else postprocess.push({ op: 'threshold', min: s.min });
        if (extra(['min']).length) problems.push(`postprocess[${i}] (threshold) takes only "min" (got ${extra(['min']).join(', ')})`);
        break;
      default:
        problems.push(`postprocess[${i}]: unknown op '${s.op}' (valid: softmax, argmax, topk, threshold)`);
    }
  }
  const selects = postprocess.filter((s) => s.op === 'argmax' || s.op === 'topk');
  if (selects.length > 1) problems.push('postprocess may pick entries once (one argmax or one topk)');
  const output = raw.output ?? manifest.outputs[0]?.name;
  const outSpec = manifest.outputs.find((o) => o.name === output);
  if (typeof output !== 'string' || !outSpec)
    problems.push(`output '${String(output)}' is not an output of the model (${manifest.outputs.map((o) => o.name).join(', ')})`);
  let labels: string[] | undefined;
  if (raw.labels !== undefined && raw.labelsFile !== undefined) problems.push('give labels or labelsFile, not both');
  else if (raw.labels !== undefined) {
    if (!Array.isArray(raw.labels) || !raw.labels.every((l) => typeof l === 'string')) problems.push('labels must be a list of strings');
    else labels = raw.labels as string[];
  } else if (raw.labelsFile !== undefined) {
    if (typeof raw.labelsFile !== 'string' || raw.labelsFile === '') problems.push('labelsFile must be a file name (a string)');
    else if (options.labels === undefined) problems.push(`labelsFile '${raw.labelsFile}' is not a file of the artifact`);
    else labels = parseLabels(options.labels);
  }
  const classes = outSpec?.shape.at(-1);
  if (labels && typeof classes === 'number' && classes >= 0 && labels.length !== classes) {
    problems.push(
      `${raw.labels !== undefined ? 'labels' : `labelsFile '${String(raw.labelsFile)}'`} has ${labels.length} label${labels.length === 1 ? '' : 's'}, but output '${outSpec!.name}' [${outSpec!.shape.join(', ')}] has ${classes} classes (its last dim)`,
    );
  }
  if (problems.length) return { ok: false, problems };
  return { ok: true, spec: { preprocess, postprocess, output: output as string, labels } };
}
