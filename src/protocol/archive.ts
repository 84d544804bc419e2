/**
 * A single-file form of an artifact directory: a gzip'd POSIX ustar archive holding regular files
 * only. Reading is strict, because archives arrive from the network: entries that are not regular
 * files, absolute paths, `..` components, duplicates and truncated data are all refused.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, isAbsolute, sep } from 'node:path';
import { KilnError } from '../errors.js';

const BLOCK = 512;

export interface ArchiveEntry {
  path: string;
  data: Uint8Array;
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  buf.write(value.toString(8).padStart(length - 1, '0') + '\0', offset, length, 'ascii');
}

function header(path: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  let name = path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(path.slice(cut + 1)) > 100) throw new RangeError(`archive path too long: ${path}`);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
  }
  h.write(name, 0, 100, 'utf8');
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, mtime);
  h.fill(' ', 148, 156);
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  writeOctal(h, 148, 7, sum);
  return h;
}

/** Pack entries into a .tar.gz buffer (deterministic: fixed mtime, sorted by path). */
export function packEntries(entries: ArchiveEntry[], mtime = 0): Buffer {
  const parts: Buffer[] = [];
  for (const { path, data } of [...entries].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    parts.push(header(path, data.byteLength, mtime), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const pad = (BLOCK - (data.byteLength % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return gzipSync(Buffer.concat(parts), { level: 6 });
}

/** Every regular file under dir, as archive entries with '/'-separated relative paths. */
export function readDirEntries(dir: string, base = ''): ArchiveEntry[] {
  const out: ArchiveEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    const rel = base ? `${base}/${name}` : name;
    const st = statSync(full);
    if (st.isDirectory()) out.push(...readDirEntries(full, rel));
    else if (st.isFile()) out.push({ path: rel, data: readFileSync(full) });
  }
  return out;
}

export const packDir = (dir: string): Buffer => packEntries(readDirEntries(dir));

function readOctal(buf: Buffer, offset: number, length: number): number {
  const s = buf
    .toString('ascii', offset, offset + length)
    .replace(/[\0 ]+$/g, '')
    .trim();
  if (!/^[0-7]*$/.test(s)) return NaN;
  return s ? parseInt(s, 8) : 0;
}

export interface UnpackLimits {
  /** Largest total unpacked size accepted (default 4 GiB). */
  maxBytes?: number;
  /** Most entries accepted (default 1000). */
  maxEntries?: number;
}

/** Parse a .tar.gz (or plain .tar) buffer into entries, refusing anything unsafe. */
export function unpackEntries(archive: Uint8Array, source = 'archive', limits: UnpackLimits = {}): ArchiveEntry[] {
  const maxBytes = limits.maxBytes ?? 4 * 2 ** 30;
  const maxEntries = limits.maxEntries ?? 1000;
  const bad = (why: string) => new KilnError('BAD_ARTIFACT', `${source}: not a valid kiln archive (${why})`, { hint: 'download or copy the archive again' });
  let tar: Buffer;
  try {
    tar = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive, { maxOutputLength: Math.min(maxBytes + 1e6, 2 ** 32) }) : Buffer.from(archive);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw bad(`it unpacks to more than ${(maxBytes / 2 ** 20).toFixed(0)} MiB, the most accepted here`);
    throw bad(`gzip: ${(err as Error).message}`);
  }
  const entries: ArchiveEntry[] = [];
  const seen = new Set<string>();
  let total = 0;
  let off = 0;
  while (off + BLOCK <= tar.length) {
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) return entries;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    if (readOctal(h, 148, 8) !== sum) throw bad(`bad header checksum at byte ${off}`);
    const type = String.fromCharCode(h[156] || 0x30);
    const name = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
    const prefix = h.toString('utf8', 345, 500).replace(/\0.*$/s, '');
    const path = prefix ? `${prefix}/${name}` : name;
    const size = readOctal(h, 124, 12);
    if (type !== '0') throw bad(`entry '${path}' is not a regular file (type '${type}')`);
    const norm = normalize(path);
    if (!path || isAbsolute(path) || norm.startsWith('..') || norm.split(sep).includes('..')) throw bad(`unsafe path '${path}'`);
    if (seen.has(norm)) throw bad(`duplicate entry '${path}'`);
    if (!Number.isFinite(size)) throw bad(`bad size for '${path}'`);
    if (++total > maxEntries) throw bad(`more than ${maxEntries} entries`);
    const start = off + BLOCK;
    if (start + size > tar.length) throw bad(`'${path}' is truncated`);
    seen.add(norm);
    entries.push({ path: norm.split(sep).join('/'), data: tar.subarray(start, start + size) });
    off = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  throw bad('missing end-of-archive marker (truncated)');
}

/** Write entries under dir (which must not escape: paths were checked by unpackEntries). */
export function writeEntries(entries: ArchiveEntry[], dir: string): void {
  for (const e of entries) {
    const file = join(dir, e.path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, e.data);
  }
}
