/**
 * Async inference: a job's payload is streamed to disk (never held whole in memory), recorded in
 * the state DB, and run in the background; its result is a file fetched later. Jobs and results
 * survive a restart: a job left running is queued again and run from the start.
 *
 * Payload formats: one OIP request (JSON, or binary with its header length), or NDJSON — one OIP
 * JSON request per line, answered line by line into an NDJSON result (a line that fails gets
 * `{"error": ...}` and the job goes on). Large inputs should be NDJSON: each line is read, run and
 * written on its own, so a 1 GB payload needs the memory of one line.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  type WriteStream,
} from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ServedVersion, VersionRunner } from './runner.js';
import { RequestError } from './errors.js';
import { encodeInferResponse, parseInferRequest } from './http/oip.js';
import type { Logger } from '../logger.js';
import type { JobFormat, JobRecord, StateDb } from './store/state-db.js';
import { DEFAULTS } from '../defaults.js';

export interface JobQueueOptions {
  /** Largest job payload, bytes. @default 1 GiB */
  maxJobBytes?: number;
  /** Largest single request inside a job (a JSON/binary job, or one NDJSON line), bytes. @default 64 MiB */
  maxItemBytes?: number;
}

export class JobQueue {
  readonly dir: string;
  readonly maxJobBytes: number;
  readonly maxItemBytes: number;
  private wake?: () => void;
  private running = false;
  private stopping = false;
  private loop?: Promise<void>;

  constructor(
    private readonly runner: VersionRunner,
    private readonly db: StateDb,
    dataDir: string,
    private readonly log: Logger,
    options: JobQueueOptions = {},
  ) {
    this.dir = join(dataDir, 'jobs');
    this.maxJobBytes = options.maxJobBytes ?? DEFAULTS.maxJobBytes;
    this.maxItemBytes = options.maxItemBytes ?? 64 * 2 ** 20;
    mkdirSync(this.dir, { recursive: true });
  }

  inputPath = (id: string): string => join(this.dir, `${id}.input`);
  resultPath = (id: string): string => join(this.dir, `${id}.result`);

  /** After a stop: running jobs back to the queue, half-written files away. */
  recover(): void {
    const requeued = this.db.requeueRunningJobs();
    if (requeued) this.log.warn('jobs interrupted by a stop are queued again', { jobs: requeued });
    for (const name of readdirSync(this.dir)) {
      const id = name.replace(/\.(input|result)(\.part)?$/, '');
      if (name.endsWith('.part') || !this.db.job(id)) rmSync(join(this.dir, name), { force: true });
    }
  }

  /**
   * Stream a payload into a new queued job. Rejects with RequestError(413) past maxJobBytes
   * (nothing is kept), or 400 for an upload that breaks off.
   */
  async submit(served: ServedVersion, explicitVersion: string | undefined, body: Readable, format: JobFormat, headerLength?: number): Promise<JobRecord> {
    const id = randomUUID();
    const part = `${this.inputPath(id)}.part`;
    let n = 0;
    const limit = this.maxJobBytes;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        n += chunk.length;
        if (n > limit) done(new RequestError(413, `the job payload is larger than the limit of ${limit} bytes (maxJobBytes)`));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(body, counter, createWriteStream(part, { flags: 'wx' }));
    } catch (err) {
      rmSync(part, { force: true });
      if (err instanceof RequestError) throw err;
      throw new RequestError(400, `the upload failed: ${(err as Error).message}`);
    }
    if (format !== 'ndjson' && n > this.maxItemBytes) {
      rmSync(part, { force: true });
      throw new RequestError(413, `a single-request job is limited to ${this.maxItemBytes} bytes (maxItemBytes); send NDJSON, one request per line`);
    }
    // On disk for good before the job exists: a job in the DB always has its whole payload.
    const fd = openSync(part, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(part, this.inputPath(id));
    const job = this.db.addJob({ id, model: served.record.model, version: explicitVersion ?? null, format, headerLength: headerLength ?? null, inputBytes: n });
    this.wake?.();
    return job;
  }

  /** Start running queued jobs, one at a time, in the background. */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.work();
  }

  /** Stop after the item in progress; the job in progress is queued again for the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  get busy(): boolean {
    return this.running;
  }

  private async work(): Promise<void> {
    while (!this.stopping) {
      const job = this.db.nextJob();
      if (!job) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          // A slow poll as well, in case a job was added by another writer of the DB.
          setTimeout(resolve, 1000).unref();
        });
        this.wake = undefined;
        continue;
      }
      this.running = true;
      try {
        await this.runJob(job);
      } finally {
        this.running = false;
      }
    }
  }

  private async runJob(job: JobRecord): Promise<void> {
    let served: ServedVersion;
    try {
      served = this.runner.lookup(job.model, job.version ?? undefined);
    } catch (err) {
      this.db.finishJob(job.id, 'failed', (err as Error).message);
      return;
    }
    this.db.startJob(job.id, served.record.version);
    const part = `${this.resultPath(job.id)}.part`;
    const out = createWriteStream(part);
    const write = (text: string) => (out.write(text) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
    try {
      if (job.format === 'ndjson') {
        const { items, errors, interrupted } = await this.runLines(job, served, write);
        await closeStream(out);
        if (interrupted) {
          this.db.requeueRunningJobs();
          rmSync(part, { force: true });
          return;
        }
        renameSync(part, this.resultPath(job.id));
        this.db.jobProgress(job.id, items, errors);
      } else {
        const body = readFileSync(this.inputPath(job.id));
        const doc = await this.answer(served, body, job.headerLength ?? undefined);
        await write(doc);
        await closeStream(out);
        renameSync(part, this.resultPath(job.id));
        this.db.jobProgress(job.id, 1, 0);
      }
      this.db.finishJob(job.id, 'succeeded');
      this.log.info('job done', { id: job.id, model: job.model });
    } catch (err) {
      out.destroy();
      rmSync(part, { force: true });
      this.db.finishJob(job.id, 'failed', (err as Error).message);
      this.log.warn('job failed', { id: job.id, model: job.model, error: (err as Error).message });
    }
  }

  private async runLines(job: JobRecord, served: ServedVersion, write: (s: string) => Promise<void>) {
    const lines = createInterface({ input: createReadStream(this.inputPath(job.id)), crlfDelay: Infinity });
    let items = 0;
    let errors = 0;
    let last = Date.now();
    for await (const line of lines) {
      if (this.stopping) {
        lines.close();
        return { items, errors, interrupted: true };
      }
      if (!line.trim()) continue;
      items++;
      try {
        if (Buffer.byteLength(line) > this.maxItemBytes) throw new RequestError(400, `line ${items} is longer than maxItemBytes (${this.maxItemBytes})`);
        await write(`${await this.answer(served, Buffer.from(line), undefined)}\n`);
      } catch (err) {
        errors++;
        await write(`${JSON.stringify({ error: `line ${items}: ${(err as Error).message}` })}\n`);
      }
      if (Date.now() - last > 1000) {
        this.db.jobProgress(job.id, items, errors);
        last = Date.now();
      }
    }
    return { items, errors, interrupted: false };
  }

  /** One request → its OIP JSON response text. */
  private async answer(served: ServedVersion, body: Uint8Array, headerLength: number | undefined): Promise<string> {
    const request = parseInferRequest(body, headerLength, served.signature);
    const lease = await this.runner.lease(served);
    let outputs;
    try {
      outputs = (await this.runner.run(served, lease, request.inputs)).outputs;
    } finally {
      lease.release();
    }
    const encoded = encodeInferResponse(
      served.record.model,
      served.record.version,
      request.id,
      request.outputs.map((o) => ({ name: o.name, binary: false })),
      outputs,
    );
    return Buffer.from(encoded.chunks[0]).toString('utf8');
  }

  /** A job's public view. */
  describe(job: JobRecord) {
    const result = job.status === 'succeeded' && existsSync(this.resultPath(job.id));
    return {
      id: job.id,
      model: job.model,
      version: job.version,
      status: job.status,
      format: job.format,
      inputBytes: job.inputBytes,
      items: job.items,
      itemErrors: job.itemErrors,
      ...(job.error ? { error: job.error } : {}),
      createdAt: job.createdAt,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
      ...(result ? { resultBytes: statSync(this.resultPath(job.id)).size } : {}),
    };
  }

  /** Delete a job that is not running, and its files. */
  remove(id: string): boolean {
    const job = this.db.job(id);
    if (!job) return false;
    if (job.status === 'running') throw new RequestError(409, `job ${id} is running; delete it once it has finished`);
    rmSync(this.inputPath(id), { force: true });
    rmSync(this.resultPath(id), { force: true });
    return this.db.deleteJob(id);
  }
}

function closeStream(s: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.end(() => resolve());
  });
}
