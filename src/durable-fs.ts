/**
 * Writes that survive a power cut: the file's bytes reach the disk before it is renamed into place,
 * and the folder's entry after. Used wherever kiln keeps what it must not lose half of (the agent's
 * installed models, the cloud's artifact blobs).
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

/** Write `data` to `path` and fsync it. `flags` 'wx' refuses an existing file. */
export function writeFileSynced(path: string, data: Uint8Array, flags: 'w' | 'wx' = 'w'): void {
  const fd = openSync(path, flags, 0o644);
  try {
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync a folder, so that a rename or a new entry in it is on disk. */
export function fsyncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
