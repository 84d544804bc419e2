/**
 * sha256 of files, and a cache of verified hashes keyed by path + size + mtime so that resolving the
 * same model again costs one stat() instead of re-reading megabytes.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';

const CHUNK = 1 << 20;

/** sha256 of a file as lower-case hex, read in 1 MiB chunks. */
export function sha256File(path: string): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

export interface FileDigest {
  sha256: string;
  size: number;
}

interface CacheEntry extends FileDigest {
  mtimeMs: number;
}

/**
 * Hashes files, remembering each result until the file's size or mtime changes. One instance per
 * zoo: no process-wide state.
 */
export class HashCache {
  private readonly entries = new Map<string, CacheEntry>();
  /** Files actually read and hashed (cache misses), for callers that want to know. */
  hashed = 0;

  constructor(private readonly hashFile: (path: string) => string = sha256File) {}

  /** The file's digest; reads the file only when it changed since the last call. */
  digest(path: string): FileDigest {
    const st = statSync(path);
    const hit = this.entries.get(path);
    if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return { sha256: hit.sha256, size: hit.size };
    const sha256 = this.hashFile(path);
    this.hashed++;
    this.entries.set(path, { sha256, size: st.size, mtimeMs: st.mtimeMs });
    return { sha256, size: st.size };
  }

  clear(): void {
    this.entries.clear();
  }
}
