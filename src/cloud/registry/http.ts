/**
 * Serving stored artifacts over HTTP: `GET|HEAD /artifacts/{sha256}.tgz`, with single byte ranges
 * (RFC 9110: `bytes=a-b`, `bytes=a-`, `bytes=-n`; 206 + Content-Range, 416 when unsatisfiable),
 * a strong ETag (the sha256), If-None-Match and If-Range. The agent's downloader resumes with Range.
 * The only registry module that touches the network.
 */
import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen } from '../listen.js';

/** Where the handler finds an artifact's file (ModelRegistry.artifactFile fits). */
export interface ArtifactSource {
  artifactFile(sha256: string): { path: string; sizeBytes: number } | undefined;
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
 * not own, so it can sit in front of other routes.
 */
export function artifactHandler(source: ArtifactSource): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const m = ROUTE.exec(path);
    if (!m) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return true;
    }
    const file = source.artifactFile(m[1]);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no artifact ${m[1]}\n`);
      return true;
    }
    const etag = `"${m[1]}"`;
    const common = { etag, 'accept-ranges': 'bytes', 'cache-control': 'public, max-age=31536000, immutable' };
    const inm = req.headers['if-none-match'];
    if (inm && (inm === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
      res.writeHead(304, common).end();
      return true;
    }
    const ifRange = req.headers['if-range'];
    let range = parseRange(req.headers.range, file.sizeBytes);
    if (range !== undefined && ifRange !== undefined && ifRange !== etag) range = undefined; // changed since: send it whole
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...common, 'content-range': `bytes */${file.sizeBytes}` }).end();
      return true;
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
      return true;
    }
    const stream = createReadStream(file.path, { start, end });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
    return true;
  };
}

export interface ArtifactServer {
  /** Base URL, e.g. http://127.0.0.1:40123: pass it to desiredEntryFor. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** A plain HTTP server for artifacts alone (404 for every other path). @param port 0 for a free one */
export async function startArtifactServer(source: ArtifactSource, options: { host?: string; port?: number; publicUrl?: string } = {}): Promise<ArtifactServer> {
  const handle = artifactHandler(source);
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
