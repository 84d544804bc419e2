/**
 * Artifact downloads over HTTP(S): resumable with Range into a `.part` file, bounded in size,
 * checked against the sha256 the desired state names before anything is installed. The only sync
 * module that touches HTTP.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';

export class DownloadError extends Error {
  override name = 'DownloadError';
  constructor(
    message: string,
    /** Worth another try (network, 5xx, a short or corrupt body); false for 4xx. */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export interface DownloadOptions {
  url: string;
  sha256: string;
  /** Expected size, bytes (checked when given). */
  sizeBytes?: number;
  /** Folder for `.part` and finished files. */
  dir: string;
  /** Largest body accepted. @default 2 GiB */
  maxBytes?: number;
  /** No byte for this long aborts the attempt. @default 30000 */
  idleTimeoutMs?: number;
  onProgress?(bytes: number): void;
  signal?: AbortSignal;
}

const fileSha256 = (path: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });

function get(url: string, headers: Record<string, string>, idleMs: number, signal?: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return reject(new DownloadError(`bad artifact URL ${url}`, false));
    }
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { headers, signal, timeout: idleMs }, resolve);
    req.on('timeout', () => req.destroy(new DownloadError(`no answer from ${u.host} in ${idleMs} ms`, true)));
    req.on('error', (err) => reject(err instanceof DownloadError ? err : new DownloadError(`GET ${url}: ${err.message}`, true)));
    req.end();
  });
}

/**
 * Download one attempt's worth: resume from the `.part` file when there is one (Range), write,
 * then check size and sha256. Resolves with the finished file's path (`{sha256}.tgz` in `dir`).
 * A sha256 mismatch deletes the partial file (the next attempt starts over).
 */
export async function downloadArtifact(o: DownloadOptions): Promise<string> {
  mkdirSync(o.dir, { recursive: true });
  const final = join(o.dir, `${o.sha256}.tgz`);
  if (existsSync(final) && (await fileSha256(final)) === o.sha256) return final;
  const part = join(o.dir, `${o.sha256}.part`);
  const maxBytes = o.maxBytes ?? 2 ** 31;
  const have = existsSync(part) ? statSync(part).size : 0;
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  const res = await get(o.url, headers, o.idleTimeoutMs ?? 30_000, o.signal);
  const status = res.statusCode ?? 0;
  if (status === 416) {
    // The part file is as long as (or longer than) the artifact: start over.
    res.resume();
    rmSync(part, { force: true });
    throw new DownloadError(`GET ${o.url}: range not satisfiable; restarting`, true);
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    throw new DownloadError(`GET ${o.url}: HTTP ${status}`, status >= 500 || status === 408 || status === 429);
  }
  let start = 0;
  if (status === 206) {
    const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
    if (!m || Number(m[1]) !== have) {
      res.resume();
      rmSync(part, { force: true });
      throw new DownloadError(`GET ${o.url}: unexpected Content-Range '${res.headers['content-range']}'`, true);
    }
    start = have;
  }
  let written = start;
  await new Promise<void>((resolve, reject) => {
    const out = createWriteStream(part, { flags: start > 0 ? 'a' : 'w' });
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      if (err) reject(err);
      else resolve();
    };
    out.on('error', (err) => {
      res.destroy();
      finish(new DownloadError(`cannot write ${part}: ${err.message}`, false));
    });
    // A cut connection: keep what was written (flushed), so the next attempt resumes from there.
    const cut = (err: Error) => {
      res.destroy();
      if (!out.destroyed) out.end(() => finish(err));
      else finish(err);
    };
    res.on('data', (chunk: Buffer) => {
      if (done) return;
      written += chunk.length;
      if (written > maxBytes || (o.sizeBytes !== undefined && written > o.sizeBytes)) {
        res.destroy();
        out.destroy();
        rmSync(part, { force: true });
        return finish(new DownloadError(`GET ${o.url}: body is larger than ${o.sizeBytes ?? maxBytes} bytes`, false));
      }
      if (!out.write(chunk)) {
        res.pause();
        out.once('drain', () => res.resume());
      }
      o.onProgress?.(written);
    });
    res.on('aborted', () => cut(new DownloadError(`GET ${o.url}: connection closed after ${written} bytes`, true)));
    res.on('error', (err) => cut(new DownloadError(`GET ${o.url}: ${err.message}`, true)));
    res.on('end', () => {
      if (!res.complete) return cut(new DownloadError(`GET ${o.url}: connection closed after ${written} bytes`, true));
      out.end(() => finish());
    });
  });
  if (o.sizeBytes !== undefined && written < o.sizeBytes) {
    // A short body: keep the part, the next attempt resumes from here.
    throw new DownloadError(`GET ${o.url}: got ${written} of ${o.sizeBytes} bytes`, true);
  }
  const got = await fileSha256(part);
  if (got !== o.sha256) {
    rmSync(part, { force: true });
    throw new DownloadError(`sha256 mismatch: the artifact at ${o.url} hashes to ${got}, the desired state says ${o.sha256}`, true);
  }
  renameSync(part, final);
  return final;
}
