/**
 * Batch transform: score every input file of a folder with a served model, one JSON line per file
 * in a results file. Resumable: the results file is its own bookmark — each line names its file,
 * size and modification time — so a rerun scores only files that are new or changed since, and a
 * line cut short by a crash is dropped (its file is scored again).
 *
 * Inputs: images (through the model's declared preprocessing), .npy and .json (see inputs.ts).
 */
import { closeSync, existsSync, ftruncateSync, openSync, readdirSync, readFileSync, statSync, writeSync, fsyncSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { KilnError } from '../errors.js';
import type { Agent } from './agent.js';
import { readInput } from './inputs.js';
import { postprocess } from './pipeline/post.js';
import { tensorToJson, OIP_DATATYPE } from './tensors.js';

export const BATCH_INPUT_EXTENSIONS: readonly string[] = Object.freeze(['.json', '.npy', '.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

export interface BatchOptions {
  /** Model name served by `agent`. */
  model: string;
  /** A kept version instead of the current one. */
  version?: string;
  /** Folder of input files (searched recursively). */
  input: string;
  /** Results file (JSON lines), appended to. */
  output: string;
  /** Told after each file. */
  onProgress?(done: number, total: number, file: string): void;
}

export interface BatchSummary {
  /** Input files found. */
  files: number;
  /** Scored by this run. */
  scored: number;
  /** Already in the results (same size and mtime). */
  skipped: number;
  /** Scored by this run with an error line. */
  errors: number;
  output: string;
}

interface Line {
  file: string;
  size: number;
  mtimeMs: number;
}

function listInputs(dir: string, root = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listInputs(full, root));
    else if (entry.isFile() && BATCH_INPUT_EXTENSIONS.includes(extname(entry.name).toLowerCase())) out.push(relative(root, full));
  }
  return out;
}

/**
 * Read the results so far (the bookmark). A last line without its newline (a crash while writing)
 * is cut off the file.
 */
function readBookmark(output: string): Map<string, Line> {
  const done = new Map<string, Line>();
  if (!existsSync(output)) return done;
  const text = readFileSync(output, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length) {
    const fd = openSync(output, 'r+');
    try {
      ftruncateSync(fd, Buffer.byteLength(text.slice(0, end)));
    } finally {
      closeSync(fd);
    }
  }
  for (const raw of text.slice(0, end).split('\n')) {
    if (!raw.trim()) continue;
    try {
      const l = JSON.parse(raw) as Line;
      if (typeof l.file === 'string') done.set(l.file, l);
    } catch {
      /* a damaged line: its file is scored again */
    }
  }
  return done;
}

export async function runBatch(agent: Agent, options: BatchOptions): Promise<BatchSummary> {
  if (!existsSync(options.input) || !statSync(options.input).isDirectory()) {
    throw new KilnError('FILE_NOT_FOUND', `${options.input} is not a folder`, { hint: 'pass --input with a folder of .json, .npy or image files' });
  }
  const served = agent.lookup(options.model, options.version);
  const files = listInputs(options.input);
  const done = readBookmark(options.output);
  const todo = files.filter((f) => {
    const st = statSync(join(options.input, f));
    const prev = done.get(f);
    return !prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs;
  });
  const summary: BatchSummary = { files: files.length, scored: 0, skipped: files.length - todo.length, errors: 0, output: options.output };
  const fd = openSync(options.output, 'a');
  let synced = Date.now();
  try {
    for (const file of todo) {
      const path = join(options.input, file);
      const st = statSync(path);
      const head = { file, size: st.size, mtimeMs: st.mtimeMs };
      let line: Record<string, unknown>;
      try {
        const inputs = await readInput(path, served.signature, served.pipeline);
        const res = await agent.infer(options.model, inputs, options.version);
        line = {
          ...head,
          model: options.model,
          version: res.version,
          outputs: Object.entries(res.outputs).map(([name, t]) => ({
            name,
            datatype: OIP_DATATYPE[t.type] ?? t.type,
            shape: [...t.dims],
            data: tensorToJson(t),
          })),
          ...(served.pipeline?.postprocess.length ? { predictions: postprocess(served.pipeline, res.outputs[served.pipeline.output]) } : {}),
        };
      } catch (err) {
        summary.errors++;
        line = { ...head, error: (err as Error).message };
      }
      // A process crash keeps what was written (page cache); fsync once a second bounds a power cut's loss.
      writeSync(fd, `${JSON.stringify(line)}\n`);
      if (Date.now() - synced > 1000) {
        fsyncSync(fd);
        synced = Date.now();
      }
      summary.scored++;
      options.onProgress?.(summary.scored, todo.length, file);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return summary;
}
