/**
 * The zoo's public types: the Zoo interface and the tensors it hands out. The implementation is in
 * zoo.ts, exported through `createZoo`.
 */
import type { TypedTensor } from '../numerics/tensor.js';
import type { Catalog, CatalogEntry, ModelTask } from './catalog.js';

/** Named input tensors, one per model input. */
export type SampleFeeds = Record<string, TypedTensor>;

/** A zoo model found on disk and verified against the catalog. */
export interface ResolvedModel {
  entry: CatalogEntry;
  /** Absolute path of the model file. */
  path: string;
  /** Its sha256 (equal to entry.sha256). */
  sha256: string;
  size: number;
  /** For npm sources: the package's folder and installed version. */
  package?: { dir: string; version: string };
}

export interface ListOptions {
  /** Only models of this task. */
  task?: ModelTask;
}

export interface SampleOptions {
  /**
   * OCR models: the text to render (default per model: see DEFAULT_SAMPLE_TEXT in samples.ts).
   * Keep to characters the recognizer knows: ASCII letters, digits, common punctuation, CJK.
   */
  text?: string;
  /** OCR models: rotate the rendered line by 180° (what the direction classifier detects). @default false */
  rotate180?: boolean;
  /** Audio models: the signal of the frame (see synthesize). @default 'voiced' */
  signal?: 'silence' | 'tone' | 'noise' | 'voiced';
  /** Seed of the pseudo-random parts (noise, synthetic features). @default 1 */
  seed?: number;
}

export interface ZooOptions {
  /** Catalog file. @default `<kiln>/models/catalog.json` */
  catalogPath?: string;
  /** An already loaded catalog (validated again); takes precedence over `catalogPath`. */
  catalog?: unknown;
  /**
   * Folder that `{ kind: 'file' }` sources are relative to, and where npm packages are looked up
   * from (its node_modules, then its parents', as Node resolves modules). @default the kiln package root
   */
  root?: string;
  /** Hash function for model files (tests count its calls). @default sha256File */
  hashFile?: (path: string) => string;
}

/** The model zoo: a validated catalog plus resolution against what is installed. */
export interface Zoo {
  readonly catalog: Catalog;
  /** Folder that file sources are relative to and packages are resolved from. */
  readonly root: string;
  /** Catalog entries, in catalog order. */
  listModels(options?: ListOptions): readonly CatalogEntry[];
  /** One entry; KilnError 'ZOO' naming the closest names when unknown. */
  getEntry(name: string): CatalogEntry;
  /**
   * Find the model file and verify its sha256 (cached by path + size + mtime). KilnError 'ZOO' for an
   * unknown name, a package that is not installed, a missing file or a hash mismatch.
   */
  resolveModel(name: string): ResolvedModel;
  /** The model's labels (CTC vocabulary, class names), with a labels file resolved and verified. */
  labels(name: string): string[];
  /** Named input tensors that exercise the model the way its catalog entry says to feed it. */
  sampleInputs(name: string, options?: SampleOptions): Promise<SampleFeeds>;
  /** Model files read and hashed so far (cache misses). */
  readonly hashedFiles: number;
}
