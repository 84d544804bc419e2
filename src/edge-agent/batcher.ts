/**
 * Dynamic batching for one loaded model version: concurrent requests are queued and run together
 * as one batch along axis 0 (up to `maxBatchSize` rows, waiting at most `maxQueueDelayMs` for the
 * batch to fill), then each request gets its own rows of the outputs back. While a batch runs, the
 * next one gathers; it starts as soon as the running one ends.
 *
 * Only models whose every input and output has a free leading (batch) dimension are batched;
 * requests whose other dimensions differ from the batch being gathered start a new one.
 */
import type { TensorSpec } from '../protocol/manifest.js';
import type { NamedTensors, TensorData } from '../runtime/backend.js';
import { KilnError } from '../errors.js';

export interface BatchingOptions {
  /** Most rows in one run. 1 turns batching off. @default 1 */
  maxBatchSize: number;
  /** Longest a request waits for others to join its batch, in ms. @default 2 */
  maxQueueDelayMs: number;
}

export interface BatchRun {
  outputs: NamedTensors;
  /** Seconds of the model run this request was part of. */
  modelSeconds: number;
  /** Rows in that run. */
  batchRows: number;
}

type Runner = (feeds: NamedTensors) => Promise<NamedTensors>;

interface Pending {
  inputs: NamedTensors;
  /** Runs a batch: the model handle this request leased (all of a batch lease the same version). */
  run: Runner;
  rows: number;
  key: string;
  resolve(r: BatchRun): void;
  reject(e: unknown): void;
}

const freeDim = (d: number | string | undefined): boolean => typeof d === 'string' || (typeof d === 'number' && d < 0);

/** Can a model with this signature be batched along axis 0? */
export function isBatchable(inputs: readonly TensorSpec[], outputs: readonly TensorSpec[]): boolean {
  return inputs.length > 0 && [...inputs, ...outputs].every((s) => s.shape.length > 0 && freeDim(s.shape[0]));
}

/** Rows of axis 0 in one tensor, and the shape of the rest as a key. */
const rowsOf = (t: TensorData): number => (t.dims.length ? t.dims[0] : 1);

type Typed = TensorData['data'] & { set(a: ArrayLike<number | bigint>, off: number): void; subarray(a: number, b: number): Typed };

/**
 * Join requests' tensors along axis 0, into `scratch` when it is of the same kind and big enough
 * (a fresh array of a few MB per batch costs page faults and zero-filling on every run).
 */
function concat(parts: readonly TensorData[], scratch?: Typed): TensorData {
  if (parts.length === 1) return parts[0];
  const first = parts[0];
  const rows = parts.reduce((n, p) => n + rowsOf(p), 0);
  const Ctor = first.data.constructor as new (n: number) => Typed;
  const total = parts.reduce((n, p) => n + p.data.length, 0);
  const data = scratch && scratch.constructor === Ctor && scratch.length >= total ? scratch.subarray(0, total) : new Ctor(total);
  let off = 0;
  for (const p of parts) {
    data.set(p.data as ArrayLike<number>, off);
    off += p.data.length;
  }
  return { type: first.type, dims: [rows, ...first.dims.slice(1)], data: data as unknown as TensorData['data'] };
}

function slice(t: TensorData, from: number, rows: number): TensorData {
  const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const d = t.data as unknown as { subarray(a: number, b: number): TensorData['data'] };
  return { type: t.type, dims: [rows, ...t.dims.slice(1)], data: d.subarray(from * per, (from + rows) * per) };
}

export class Batcher {
  private queue: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private running = false;
  /** Each input's batch memory, reused run after run (one batch runs at a time). */
  private readonly scratch = new Map<string, Typed>();

  constructor(
    private readonly options: BatchingOptions,
    /** Told of each model run and its rows (for the batch size metric). */
    private readonly onRun?: (rows: number, seconds: number) => void,
  ) {}

  /** Requests waiting now. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Queue a request; resolves with its own rows of the batch's outputs. */
  submit(inputs: NamedTensors, run: Runner): Promise<BatchRun> {
    const tensors = Object.entries(inputs);
    const rows = tensors.length ? rowsOf(tensors[0][1]) : 1;
    const key = tensors.map(([n, t]) => `${n}:${t.type}:${t.dims.slice(1).join('x')}`).join('|');
    return new Promise<BatchRun>((resolve, reject) => {
      // A request as big as a batch (or one whose rows disagree between inputs) runs alone.
      if (rows >= this.options.maxBatchSize || tensors.some(([, t]) => rowsOf(t) !== rows)) {
        this.queue.push({ inputs, run, rows, key: `alone:${Math.random()}`, resolve, reject });
      } else this.queue.push({ inputs, run, rows, key, resolve, reject });
      this.schedule();
    });
  }

  private queuedRows(): number {
    let n = 0;
    for (const p of this.queue) n += p.rows;
    return n;
  }

  private schedule(): void {
    if (this.running || !this.queue.length) return;
    if (this.queuedRows() >= this.options.maxBatchSize || this.queue[0].key.startsWith('alone:')) {
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => this.flush(), this.options.maxQueueDelayMs);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || !this.queue.length) return;
    const first = this.queue[0];
    const batch: Pending[] = [first];
    let rows = first.rows;
    if (!first.key.startsWith('alone:')) {
      for (let i = 1; i < this.queue.length; i++) {
        const p = this.queue[i];
        if (p.key !== first.key || rows + p.rows > this.options.maxBatchSize) break;
        batch.push(p);
        rows += p.rows;
      }
    }
    this.queue = this.queue.slice(batch.length);
    this.running = true;
    void this.execute(batch, rows).finally(() => {
      this.running = false;
      // What gathered meanwhile goes next, without waiting for a timer — but after one turn of the
      // event loop: onnxruntime-node runs on the main thread, so requests that arrived during the
      // run are still unread in their sockets; setImmediate lets the poll phase queue them first.
      if (this.queue.length) setImmediate(() => this.flush());
    });
  }

  private async execute(batch: Pending[], rows: number): Promise<void> {
    try {
      const feeds: NamedTensors = {};
      for (const name of Object.keys(batch[0].inputs)) {
        const scratch = this.scratch.get(name);
        feeds[name] = concat(
          batch.map((p) => p.inputs[name]),
          scratch,
        );
        // A batch that needed a new (bigger) array keeps it for the next runs.
        const data = feeds[name].data as Typed;
        if (batch.length > 1 && data.buffer !== scratch?.buffer) this.scratch.set(name, data);
      }
      const t0 = performance.now();
      const out = await batch[0].run(feeds);
      // An output that is a view of a batch input (an identity model) must not be overwritten by the next batch.
      for (const t of Object.values(out)) {
        for (const [name, mem] of this.scratch) if (t.data.buffer === mem.buffer) this.scratch.delete(name);
      }
      const modelSeconds = (performance.now() - t0) / 1000;
      this.onRun?.(rows, modelSeconds);
      if (batch.length === 1) {
        batch[0].resolve({ outputs: out, modelSeconds, batchRows: rows });
        return;
      }
      for (const [name, t] of Object.entries(out)) {
        if (rowsOf(t) !== rows)
          throw new KilnError('MODEL_RUN_FAILED', `output '${name}' has ${rowsOf(t)} rows for a batch of ${rows}: the model cannot be batched`);
      }
      let from = 0;
      for (const p of batch) {
        const mine: NamedTensors = {};
        for (const [name, t] of Object.entries(out)) mine[name] = slice(t, from, p.rows);
        from += p.rows;
        p.resolve({ outputs: mine, modelSeconds, batchRows: rows });
      }
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
