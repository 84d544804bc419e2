/**
 * The page server of the in-browser benchmark: node:http on 127.0.0.1 and a free port. It serves the
 * bench page, onnxruntime-web's browser build and .wasm from node_modules/onnxruntime-web/dist, the
 * models and the input tensors, and takes the figures the page posts back. Responses are
 * cross-origin isolated (COOP/COEP) so that WASM threads work when asked for.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';

const PAGE_DIR = fileURLToPath(new URL('./browser/', import.meta.url));

/** onnxruntime-web's dist folder. */
export function ortWebDistDir(): string {
  const require = createRequire(import.meta.url);
  // The package exports no package.json; its CommonJS entry lives in dist/.
  return dirname(require.resolve('onnxruntime-web'));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

export interface PageServerContent {
  /** JSON the page fetches as /config.json. */
  config: unknown;
  /** Files served as /models/<i>. */
  models: readonly string[];
  /** Raw bytes served as /inputs/<i>. */
  inputs: readonly Uint8Array[];
}

export interface PageServer {
  url: string;
  /** Resolves with each body POSTed to /result, in order. */
  nextResult(timeoutMs: number): Promise<unknown>;
  /** Lines the page posted to /progress (latest last). */
  onProgress?: (body: unknown) => void;
  close(): Promise<void>;
}

export async function startPageServer(content: PageServerContent, onProgress?: (body: unknown) => void): Promise<PageServer> {
  const dist = ortWebDistDir();
  const results: unknown[] = [];
  const waiters: ((v: unknown) => void)[] = [];
  const deliver = (v: unknown) => {
    const w = waiters.shift();
    if (w) w(v);
    else results.push(v);
  };

  const send = (res: ServerResponse, status: number, body: Uint8Array | string, type = 'text/plain; charset=utf-8') => {
    res.writeHead(status, {
      'content-type': type,
      'cache-control': 'no-store',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
    });
    res.end(body);
  };
  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolveBody, reject) => {
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        data += c;
        if (data.length > 64 * 1024 * 1024) req.destroy(new Error('body too large'));
      });
      req.on('end', () => resolveBody(data));
      req.on('error', reject);
    });

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    try {
      if (req.method === 'POST' && (path === '/result' || path === '/progress')) {
        readBody(req).then(
          (text) => {
            let body: unknown;
            try {
              body = JSON.parse(text);
            } catch {
              body = { fatal: `the page posted invalid JSON to ${path}` };
            }
            if (path === '/result') deliver(body);
            else onProgress?.(body);
            send(res, 204, '');
          },
          () => send(res, 400, 'bad body'),
        );
        return;
      }
      if (req.method !== 'GET') return send(res, 405, 'method not allowed');
      if (path === '/' || path === '/index.html') return send(res, 200, readFileSync(join(PAGE_DIR, 'page.html')), TYPES['.html']);
      if (path === '/page.js') return send(res, 200, readFileSync(join(PAGE_DIR, 'page.js')), TYPES['.js']);
      if (path === '/config.json') return send(res, 200, JSON.stringify(content.config), TYPES['.json']);
      let m = /^\/models\/(\d+)$/.exec(path);
      if (m && content.models[Number(m[1])]) return send(res, 200, readFileSync(content.models[Number(m[1])]), TYPES['.onnx']);
      m = /^\/inputs\/(\d+)$/.exec(path);
      if (m && content.inputs[Number(m[1])]) return send(res, 200, content.inputs[Number(m[1])], TYPES['.bin']);
      m = /^\/ort\/([A-Za-z0-9_.-]+)$/.exec(path);
      if (m) {
        const file = join(dist, m[1]);
        if (existsSync(file) && statSync(file).isFile()) return send(res, 200, readFileSync(file), TYPES[extname(file)] ?? 'application/octet-stream');
      }
      if (path === '/favicon.ico') return send(res, 204, '');
      send(res, 404, 'not found');
    } catch (err) {
      send(res, 500, String((err as Error).message));
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    nextResult(timeoutMs) {
      if (results.length) return Promise.resolve(results.shift());
      return new Promise((ok) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(done);
          if (i >= 0) waiters.splice(i, 1);
          ok({ fatal: `the page posted no result within ${Math.round(timeoutMs / 1000)} s` });
        }, timeoutMs);
        const done = (v: unknown) => {
          clearTimeout(timer);
          ok(v);
        };
        waiters.push(done);
      });
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections?.();
        server.close(() => ok());
      }),
  };
}
