/**
 * Serving stored artifacts over HTTP: `GET|HEAD /artifacts/{sha256}.tgz`, with single byte ranges
 * (RFC 9110: `bytes=a-b`, `bytes=a-`, `bytes=-n`; 206 + Content-Range, 416 when unsatisfiable),
 * a strong ETag (the sha256), If-None-Match and If-Range. The agent's downloader resumes with Range.
 * The only registry module that serves HTTP (postgres-store.ts is the one that talks to a database).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen } from '../listen.js';
import type { StoredBlob } from './store.js';

/** Where the handler finds an artifact's bytes (ModelRegistry.artifactBlob fits). */
export interface ArtifactSource {
  artifactBlob(sha256: string): Promise<StoredBlob | undefined>;
}

const ROUTE = /^\/artifacts\/([0-9a-f]{64})\.tgz$/;

/** Parse a Range header against `size`: a [start, end] pair (inclusive), 'unsatisfiable', or undefined to send everything. */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // several ranges or another unit: ignore Range, send all (allowed)
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined; // invalid range: ignore it
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}

/**
 * A node:http request handler for artifacts. Returns false (and writes nothing) for a path it does
 * not own, so it can sit in front of other routes; for its own paths it answers asynchronously (the
 * lookup may be a database query), with a 503 when the store fails — its error goes to `onError`,
 * not to the device asking (it would show where the database is).
 */
export function artifactHandler(
  source: ArtifactSource,
  onError: (err: unknown, sha256: string) => void = () => {},
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const m = ROUTE.exec(path);
    if (!m) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return true;
    }
    source.artifactBlob(m[1]).then(
      (file) => send(req, res, m[1], file, onError),
      (err: unknown) => {
        onError(err, m[1]);
        if (!res.headersSent)
          res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' }).end('the artifact store is unavailable, try again later\n');
        else res.destroy();
      },
    );
    return true;
  };
}

/** Answer a GET or HEAD for `file` (undefined: 404), honouring Range, If-None-Match and If-Range. */
function send(req: IncomingMessage, res: ServerResponse, sha256: string, file: StoredBlob | undefined, onError: (err: unknown, sha256: string) => void): void {
  if (!file) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no artifact ${sha256}\n`);
    return;
  }
  const etag = `"${sha256}"`;
  const common = { etag, 'accept-ranges': 'bytes', 'cache-control': 'public, max-age=31536000, immutable' };
  const inm = req.headers['if-none-match'];
  if (inm && (inm === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
    res.writeHead(304, common).end();
    return;
  }
  const ifRange = req.headers['if-range'];
  let range = parseRange(req.headers.range, file.sizeBytes);
  if (range !== undefined && ifRange !== undefined && ifRange !== etag) range = undefined; // changed since: send it whole
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...common, 'content-range': `bytes */${file.sizeBytes}` }).end();
    return;
  }
  const [start, end] = range ?? [0, file.sizeBytes - 1];
  const length = file.sizeBytes === 0 ? 0 : end - start + 1;
  res.writeHead(range ? 206 : 200, {
    ...common,
    'content-type': 'application/gzip',
    'content-length': String(length),
    ...(range ? { 'content-range': `bytes ${start}-${end}/${file.sizeBytes}` } : {}),
  });
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  const stream = file.stream(start, end);
  stream.on('error', (err) => {
    onError(err, sha256);
    res.destroy();
  });
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

export interface ArtifactServer {
  /** Base URL, e.g. http://127.0.0.1:40123: pass it to desiredEntryFor. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** A plain HTTP server for artifacts alone (404 for every other path). @param port 0 for a free one @param onError told when the store fails a request */
export async function startArtifactServer(
  source: ArtifactSource,
  options: { host?: string; port?: number; publicUrl?: string; onError?: (err: unknown, sha256: string) => void } = {},
): Promise<ArtifactServer> {
  const handle = artifactHandler(source, options.onError);
  const server = createServer((req, res) => {
    if (!handle(req, res)) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  return {
    url: options.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
