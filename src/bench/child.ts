/**
 * Running models in a child process (child/run-models.cjs): a fresh process per variant for cold
 * start and peak memory, and the arm64 run under qemu. This module writes the job, spawns the
 * process and reads its one result line.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../errors.js';
import type { NamedTensors, TensorData } from '../runtime/backend.js';
import { typedArrayFor } from '../numerics/tensor.js';
import { hostNode, type ChildLauncher } from '../runtime/launcher.js';

export { hostNode, type ChildLauncher };

export const CHILD_SCRIPT = fileURLToPath(new URL('./child/run-models.cjs', import.meta.url));

export interface ChildJob {
  runtime: 'onnxruntime-node' | 'onnxruntime-web';
  /** Intra-op threads (0 / undefined: the runtime's default). */
  threads?: number;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  executionProviders?: string[];
  models: { id: string; path: string }[];
  warmup?: number;
  iterations?: number;
  /** Write each model's first outputs, to compare them with this process's. */
  keepOutputs?: boolean;
}

export interface ChildModelResult {
  id: string;
  loadMs?: number;
  firstRunMs?: number;
  samplesMs?: number[];
  error?: string;
  outputs?: NamedTensors;
}

export interface ChildResult {
  arch: string;
  node: string;
  runtimeVersion: string;
  importMs: number;
  rssAtStart: number;
  rssBeforeLoad: number;
  peakRssBytes: number;
  totalMs: number;
  models: ChildModelResult[];
}

/** Run a job in a child process and return what it measured. KilnError('INTERNAL') when it crashes. */
export async function runChild(job: ChildJob, feeds: NamedTensors, launcher: ChildLauncher = hostNode()): Promise<ChildResult> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-child-'));
  try {
    const inputs = Object.entries(feeds).map(([name, t], i) => {
      const file = join(dir, `input-${i}.bin`);
      const view = t.data as ArrayBufferView;
      writeFileSync(file, new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      return { name, type: t.type, dims: [...t.dims], file };
    });
    const outputsDir = job.keepOutputs ? join(dir, 'outputs') : undefined;
    if (outputsDir) mkdirSync(outputsDir);
    const jobFile = join(dir, 'job.json');
    writeFileSync(jobFile, JSON.stringify({ ...job, inputs, outputsDir }));
    const { stdout, stderr, code, signal } = await spawnCollect(launcher, [CHILD_SCRIPT, jobFile]);
    const line = stdout.split('\n').find((l) => l.startsWith('KILN_RESULT '));
    const parsed = line ? (JSON.parse(line.slice('KILN_RESULT '.length)) as ChildResult & { fatal?: string }) : undefined;
    if (!parsed || parsed.fatal) {
      const why = parsed?.fatal ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
      const tail = stderr.trim().split('\n').slice(-3).join(' | ');
      throw new KilnError('INTERNAL', `benchmark child process failed (${why})${tail ? `: ${tail}` : ''}`);
    }
    for (const m of parsed.models) {
      const raw = (m as { outputs?: { name: string; type: string; dims: number[]; file: string }[] }).outputs;
      if (!raw) continue;
      m.outputs = Object.fromEntries(
        raw.map((o) => {
          const bytes = readFileSync(o.file);
          const copy = new Uint8Array(bytes.byteLength);
          copy.set(bytes);
          const Ctor = typedArrayFor(o.type) ?? Float32Array;
          return [o.name, { type: o.type, dims: o.dims, data: new Ctor(copy.buffer) }];
        }),
      );
    }
    return parsed;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function spawnCollect(launcher: ChildLauncher, args: string[]): Promise<{ stdout: string; stderr: string; code: number | null; signal: string | null }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(launcher.command, [...launcher.args, ...args], { env: { ...process.env, ...launcher.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), launcher.timeoutMs ?? 600_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new KilnError('INTERNAL', `could not start ${launcher.command}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ stdout, stderr, code, signal });
    });
  });
}
