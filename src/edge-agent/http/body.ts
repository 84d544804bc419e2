/**
 * Request bodies, read with a size limit enforced while streaming (a lying or absent
 * Content-Length cannot get past it). Binary-extension bodies are placed so that the tensor bytes
 * after the JSON header start 64-byte aligned: typed arrays view them without a copy, and the
 * model's kernels read them as fast as onnxruntime's own buffers.
 */
import type { IncomingMessage } from 'node:http';
import { RequestError } from '../errors.js';

export class PayloadTooLarge extends RequestError {
  /** True when the rest of the upload was read and thrown away, so the connection can be reused. */
  constructor(
    limit: number,
    readonly drained: boolean,
    what = 'the request body',
    setting = 'maxRequestBytes',
  ) {
    super(413, `${what} is larger than the limit of ${limit} bytes (${setting})`);
  }
}

/**
 * Reusable request-body memory: a 600 KB image tensor per request would otherwise be a fresh,
 * zero-filled allocation each time, and garbage for the collector right after. Buffers come back
 * once the request's model run is over. Bounded in count per size class and in total bytes.
 */
export class BodyPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private pooled = 0;

  constructor(
    /** Most bytes kept for reuse. @default 32 MiB */
    readonly maxBytes = 32 * 2 ** 20,
    /** Most buffers kept per size class. @default 4 */
    readonly perClass = 4,
  ) {}

  private static classOf(n: number): number {
    return Math.max(65536, Math.ceil(n / 65536) * 65536);
  }

  /** At least `n` bytes (contents undefined). */
  take(n: number): ArrayBuffer {
    const size = BodyPool.classOf(n);
    const list = this.free.get(size);
    const ab = list?.pop();
    if (ab) {
      this.pooled -= ab.byteLength;
      return ab;
    }
    return Buffer.allocUnsafeSlow(size).buffer as ArrayBuffer;
  }

  give(ab: ArrayBuffer): void {
    const size = ab.byteLength;
    if (size !== BodyPool.classOf(size) || this.pooled + size > this.maxBytes) return;
    const list = this.free.get(size) ?? [];
    if (list.length >= this.perClass) return;
    list.push(ab);
    this.free.set(size, list);
    this.pooled += size;
  }
}

/** How much of an unwanted upload is read and discarded (to answer cleanly) before the connection is cut. */
export const drainCap = (limit: number): number => Math.max(64 * 2 ** 20, 4 * limit);

/** Read and discard the rest of a body, up to `cap` bytes. Resolves true when it all went. */
export function discardBody(req: IncomingMessage, cap: number): Promise<boolean> {
  if (req.complete || req.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    let n = 0;
    const onData = (chunk: Buffer) => {
      n += chunk.length;
      if (n > cap) {
        cleanup();
        resolve(false);
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(true);
    };
    const onError = () => {
      cleanup();
      resolve(false);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onError);
    req.resume();
  });
}

/**
 * Read a whole body of at most `limit` bytes. With `alignAt` (the JSON header length of a binary
 * request), the bytes from that offset on start at a 64-byte boundary of their ArrayBuffer. With a
 * pool, the memory comes from it: give `result.buffer` back when nothing uses the body any more.
 * Rejects with PayloadTooLarge (after draining what it can) or a 400 for an aborted upload.
 */
export function readBody(req: IncomingMessage, limit: number, alignAt = 0, pool?: BodyPool): Promise<Uint8Array> {
  const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
  // 64 bytes: a cache line, and what onnxruntime's own allocator gives its kernels.
  const pad = (64 - (alignAt % 64)) % 64;
  if (declared !== undefined && declared > limit) {
    if (declared > drainCap(limit)) return Promise.reject(new PayloadTooLarge(limit, false));
    return discardBody(req, drainCap(limit)).then((drained) => Promise.reject(new PayloadTooLarge(limit, drained)));
  }
  return new Promise((resolve, reject) => {
    const alloc = (n: number): Buffer => (pool ? Buffer.from(pool.take(n + pad), pad, n) : Buffer.from(Buffer.allocUnsafeSlow(n + pad).buffer, pad, n));
    let target: Buffer | undefined = declared !== undefined && Number.isSafeInteger(declared) ? alloc(declared) : undefined;
    const chunks: Buffer[] = [];
    let n = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      if (n + chunk.length > limit) {
        cleanup();
        target = undefined;
        chunks.length = 0;
        discardBody(req, drainCap(limit) - n).then((drained) => reject(new PayloadTooLarge(limit, drained)));
        return;
      }
      if (target) {
        if (n + chunk.length > target.length) {
          cleanup();
          reject(new RequestError(400, `the body is longer than its Content-Length (${declared})`));
          return;
        }
        chunk.copy(target, n);
      } else chunks.push(chunk);
      n += chunk.length;
    };
    const onEnd = () => {
      cleanup();
      if (target) {
        if (n !== target.length) reject(new RequestError(400, `the body has ${n} bytes, its Content-Length says ${declared}`));
        else resolve(target);
        return;
      }
      const out = alloc(n);
      let off = 0;
      for (const c of chunks) {
        c.copy(out, off);
        off += c.length;
      }
      resolve(out);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new RequestError(400, `the upload failed: ${err.message}`));
    };
    const onAborted = () => {
      cleanup();
      reject(new RequestError(400, 'the client aborted the upload'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
