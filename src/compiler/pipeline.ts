/**
 * `kiln compile --pipeline`: reading a pipeline.json (and its labels file), checking it against the
 * model, and the files it becomes in the artifact. The format and its checks are the protocol's
 * (src/protocol/pipeline.ts): the agent reads what this writes. File reads happen in
 * `readPipelineSource` only; the rest is pure.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import { canonicalJson, sha256Hex } from '../protocol/artifact.js';
import type { ArtifactManifest, TensorSpec } from '../protocol/manifest.js';
import { checkPipeline, LABELS_FILE, PIPELINE_FILE, type ImagePreprocessStep, type PipelineFile, type PipelineSpec } from '../protocol/pipeline.js';
import type { InputDType } from '../numerics/input-tensors.js';
import { planImageInput } from '../numerics/image-preprocess.js';

/** A pipeline as given, read but not yet checked against a model. Frozen. */
export interface PipelineSource {
  /** Where it came from, for messages: the pipeline file's path, or 'the pipeline option'. */
  readonly origin: string;
  /** The parsed pipeline.json, as given (a copy). */
  readonly raw: Readonly<Record<string, unknown>>;
  /** The labels file: the pipeline's labelsFile, or the one passed with --labels. */
  readonly labels?: { readonly path: string; readonly bytes: Uint8Array };
}

export interface ReadPipelineOptions {
  /** A labels file (one label per line) replacing the pipeline's labelsFile. */
  labels?: string;
  /** Where relative paths start (the pipeline path, --labels, an object pipeline's labelsFile). @default process.cwd() */
  cwd?: string;
  /** Told about a labelsFile that `labels` replaces. */
  warn?: (message: string) => void;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readOrThrow(path: string, what: string, hint: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KilnError(
      'FILE_NOT_FOUND',
      `${path}: ${code === 'ENOENT' ? `no such ${what}` : `the ${what} cannot be read (${code ?? (err as Error).message})`}`,
      { hint, cause: err },
    );
  }
}

/**
 * Read a pipeline (a pipeline.json path, or its content as an object) and its labels file. Throws a
 * KilnError naming the file when one is missing or is not JSON; the content is checked later, against
 * the model (`checkPipelineSource`). A labelsFile is relative to the pipeline file (to `cwd` for an object).
 */
export function readPipelineSource(pipeline: string | PipelineFile, options: ReadPipelineOptions = {}): PipelineSource {
  const cwd = options.cwd ?? process.cwd();
  let origin: string;
  let raw: Record<string, unknown>;
  let base: string;
  if (typeof pipeline === 'string') {
    origin = resolve(cwd, pipeline);
    base = dirname(origin);
    const text = readOrThrow(origin, 'pipeline file', `pass the path of a ${PIPELINE_FILE} (see \`kiln compile --help\` for its format)`).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new KilnError('BAD_PIPELINE', `${origin}: the pipeline is not JSON (${(err as Error).message})`, {
        hint: 'a pipeline file holds one JSON object; see `kiln compile --help` for its format',
      });
    }
    if (!isObject(parsed))
      throw new KilnError('BAD_PIPELINE', `${origin}: the pipeline must be a JSON object, not ${Array.isArray(parsed) ? 'a list' : JSON.stringify(parsed)}`, {
        hint: 'see `kiln compile --help` for its format',
      });
    raw = parsed;
  } else {
    origin = 'the pipeline option';
    base = cwd;
    if (!isObject(pipeline)) throw new TypeError(`compileModel: pipeline must be a path or a pipeline object, not ${JSON.stringify(pipeline)}`);
    // A copy, as JSON: the caller's object is never kept or changed, and what is signed is what was checked.
    raw = JSON.parse(JSON.stringify(pipeline)) as Record<string, unknown>;
  }
  let labels: PipelineSource['labels'];
  if (options.labels !== undefined) {
    const path = resolve(cwd, options.labels);
    if (raw.labels !== undefined)
      throw new KilnError('BAD_PIPELINE', `${origin}: the pipeline lists its labels inline, and a labels file (${path}) was also given`, {
        hint: 'drop "labels" from the pipeline or the --labels file',
      });
    if (raw.labelsFile !== undefined) options.warn?.(`${origin}: labelsFile ${JSON.stringify(raw.labelsFile)} replaced by the labels file ${path}`);
    labels = { path, bytes: readOrThrow(path, 'labels file', 'a labels file holds one label per line') };
  } else if (typeof raw.labelsFile === 'string' && raw.labelsFile !== '') {
    const path = resolve(base, raw.labelsFile);
    labels = {
      path,
      bytes: readOrThrow(
        path,
        `labels file (labelsFile ${JSON.stringify(raw.labelsFile)} in ${origin})`,
        typeof pipeline === 'string' ? 'labelsFile is relative to the pipeline file' : 'labelsFile is relative to the current directory',
      ),
    };
  }
  return Object.freeze({ origin, raw, ...(labels ? { labels: Object.freeze(labels) } : {}) });
}

/** The image step planned for its input the way the agent plans it (throws when it does not fit). */
const planImage = (step: ImagePreprocessStep, spec: TensorSpec): void => {
  const { type: _t, input: _i, ...options } = step;
  planImageInput({ name: spec.name, dtype: spec.dtype as InputDType, shape: spec.shape }, options);
};

/** The pipeline as checked against a model: labelsFile names the real file, so problems name it too. */
const forChecking = (source: PipelineSource): Record<string, unknown> =>
  source.labels ? { ...source.raw, labelsFile: source.labels.path } : { ...source.raw };

/**
 * Check a pipeline against a model's inputs and outputs (names, shapes, the image plan, the labels
 * against the output's classes). Throws one KilnError listing every problem, prefixed by `origin`.
 */
export function checkPipelineSource(source: PipelineSource, model: Pick<ArtifactManifest, 'inputs' | 'outputs'>, stage = 'the model'): PipelineSpec {
  const labels = source.labels ? Buffer.from(source.labels.bytes).toString('utf8') : undefined;
  const checked = checkPipeline(forChecking(source), model, { labels, planImage });
  if (checked.ok) return checked.spec;
  const n = checked.problems.length;
  const io = `inputs ${model.inputs.map((i) => `${i.name} ${i.dtype} [${i.shape.join(', ')}]`).join(', ')}; outputs ${model.outputs.map((o) => `${o.name} [${o.shape.join(', ')}]`).join(', ')}`;
  throw new KilnError(
    'BAD_PIPELINE',
    `${source.origin}: the pipeline does not fit ${stage} (${io}); ${n} problem${n === 1 ? '' : 's'}:\n  • ${checked.problems.join('\n  • ')}`,
    {
      hint: 'fix the pipeline; `kiln compile --help` shows its format',
    },
  );
}

/** What the compile cache key takes from the pipeline: its content and its labels', not their paths. */
export function pipelineCacheKey(source: PipelineSource): string {
  const { labelsFile: _l, ...rest } = source.raw;
  return sha256Hex(Buffer.from(canonicalJson({ pipeline: rest, labels: source.labels ? sha256Hex(source.labels.bytes) : (source.raw.labelsFile ?? null) })));
}

/**
 * The artifact's files for a checked pipeline: pipeline.json (canonical JSON, with the model input and
 * output it uses written out, and labelsFile pointing at the copied labels file) and the labels file.
 */
export function pipelineArtifactFiles(source: PipelineSource, spec: PipelineSpec): Record<string, Uint8Array> {
  const raw = source.raw;
  const written: Record<string, unknown> = {
    ...raw,
    output: spec.output,
    ...(spec.preprocess && isObject(raw.preprocess) ? { preprocess: { ...raw.preprocess, input: spec.preprocess.input } } : {}),
    ...(source.labels ? { labelsFile: LABELS_FILE } : {}),
  };
  return {
    [PIPELINE_FILE]: Buffer.from(canonicalJson(written)),
    ...(source.labels ? { [LABELS_FILE]: source.labels.bytes } : {}),
  };
}
