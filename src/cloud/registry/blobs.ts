/**
 * The artifact directory: .tgz files named by their sha256. Writes are atomic (a temp file in the
 * same folder, fsync'd, then renamed), so a reader never sees half a file and a crash leaves only a
 * temp file behind. Existing content is never rewritten: the name is the content.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileSynced } from '../../durable-fs.js';

const SHA = /^[0-9a-f]{64}$/;

export class BlobStore {
  constructor(readonly dir: string) {}

  /** The file for `sha256` (whether or not it exists). Throws RangeError for anything but a lower-case hex sha256. */
  pathOf(sha256: string): string {
    if (!SHA.test(sha256)) throw new RangeError(`'${sha256}' is not a lower-case hex sha256`);
    return join(this.dir, `${sha256}.tgz`);
  }

  /** Size of the stored file, or undefined when there is none. */
  size(sha256: string): number | undefined {
    const p = this.pathOf(sha256);
    return existsSync(p) ? statSync(p).size : undefined;
  }

  /** Store `bytes` under `sha256` (the caller computed it) unless a file of that size is there already. */
  put(sha256: string, bytes: Uint8Array): void {
    const final = this.pathOf(sha256);
    if (this.size(sha256) === bytes.byteLength) return;
    mkdirSync(this.dir, { recursive: true });
    const tmp = join(this.dir, `.${sha256}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
    try {
      writeFileSynced(tmp, bytes);
      renameSync(tmp, final);
      fsyncDir(this.dir);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }
}
