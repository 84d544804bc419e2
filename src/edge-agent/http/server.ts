/**
 * The agent's HTTP API on node:http: the Open Inference Protocol (KServe v2) REST endpoints with
 * the binary tensor data extension, and Prometheus `/metrics`. The only module that opens a socket.
 *
 *   GET  /v2/health/live · /v2/health/ready          (no token needed)
 *   GET  /v2                                          server metadata
 *   GET  /v2/models                                   the models served (kiln extension)
 *   GET  /v2/models/{name}[/versions/{v}]             model metadata
 *   GET  /v2/models/{name}[/versions/{v}]/ready       model readiness
 *   POST /v2/models/{name}[/versions/{v}]/infer       inference (JSON, or binary with Inference-Header-Content-Length)
 *   POST /v2/models/{name}[/versions/{v}]/predict     an image upload (or OIP tensors) through the model's pipeline (kiln extension)
 *   POST /v2/models/{name}[/versions/{v}]/jobs        an async job: one OIP request, or NDJSON of them (kiln extension)
 *   GET  /v2/jobs · /v2/jobs/{id} · /v2/jobs/{id}/result · DELETE /v2/jobs/{id}
 *   GET  /metrics                                     Prometheus text
 *
 * Errors are `{"error": "..."}` with a 4xx/5xx status.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { AddressInfo } from 'node:net';
import { KilnError } from '../../errors.js';
import { KILN_VERSION } from '../../version.js';
import type { Agent } from '../agent.js';
import { RequestError } from '../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { Lease } from '../pool.js';
import type { TensorData } from '../../runtime/backend.js';
import { BodyPool, discardBody, drainCap, PayloadTooLarge, readBody } from './body.js';
import { encodeInferResponse, modelMetadata, parseInferRequest, type InferRequest } from './oip.js';
import { imageToTensor } from '../pipeline/image.js';
import { postprocess } from '../pipeline/post.js';
import { outputBuckets } from '../variants.js';
import { DEFAULTS } from '../../defaults.js';

export interface ServeOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 8080 */
  port?: number;
  /** Bearer token every request but the health checks must carry. Required on a non-loopback host. */
  token?: string;
  /** Largest request body accepted, in bytes. @default 6 MiB */
  maxRequestBytes?: number;
  logger?: Logger;
}

export interface AgentServer {
  readonly server: Server;
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export const DEFAULT_MAX_REQUEST_BYTES = DEFAULTS.maxRequestBytes;

/** Loopback addresses: the only ones served without a token. */
export const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

const ROUTE = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(?:\/(ready|infer|predict|jobs))?\/?$/;
const JOB_ROUTE = /^\/v2\/jobs(?:\/([^/]+)(\/result)?)?\/?$/;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': text.byteLength, ...headers });
  res.end(text);
}

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RequestError(400, `the path segment '${s}' is not valid URL encoding`);
  }
};

function tokenMatches(header: string | undefined, digest: Buffer): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  return timingSafeEqual(createHash('sha256').update(header.slice(7).trim()).digest(), digest);
}

/** Serve an agent over HTTP. Resolves once listening. */
export async function serveAgent(agent: Agent, options: ServeOptions = {}): Promise<AgentServer> {
  const host = options.host ?? '127.0.0.1';
  const limit = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const log = options.logger ?? silentLogger;
  if (!isLoopback(host) && !options.token) {
    throw new KilnError('AGENT_CONFIG', `refusing to listen on ${host} without a token: anyone on the network could use the models`, {
      hint: 'set a token (--token, KILN_AGENT_TOKEN or token: in the config file), or bind 127.0.0.1',
    });
  }
  const tokenDigest = options.token ? createHash('sha256').update(options.token).digest() : undefined;
  const bodies = new BodyPool();

  /** Answer an error; an unread body is drained first (bounded) so the client can read the answer. */
  async function fail(req: IncomingMessage, res: ServerResponse, err: unknown): Promise<number> {
    let status = 500;
    let message: string;
    if (err instanceof RequestError) {
      status = err.status;
      message = err.message;
    } else {
      message = `internal error: ${err instanceof Error ? err.message : String(err)}`;
      log.error('request failed', { url: req.url, error: message });
    }
    let close = err instanceof PayloadTooLarge && !err.drained;
    if (!close && !req.complete) close = !(await discardBody(req, drainCap(limit)));
    if (res.headersSent || res.destroyed) return status;
    const headers: Record<string, string> = close ? { Connection: 'close' } : {};
    if (status === 401) headers['WWW-Authenticate'] = 'Bearer';
    sendJson(res, status, { error: message }, headers);
    if (close) res.once('finish', () => req.socket.destroySoon());
    return status;
  }

  /**
   * /infer (OIP tensors in, tensors out) and /predict (an image upload or OIP tensors in, the
   * model's declared pipeline around the run, predictions out).
   */
  async function infer(req: IncomingMessage, res: ServerResponse, name: string, version: string | undefined, t0: number, predict = false): Promise<void> {
    let model = '';
    let servedVersion = '';
    let modelSeconds = 0;
    let batch = 1;
    let ok = false;
    let status = 200;
    let leaseP: Promise<Lease> | undefined;
    let body: Uint8Array | undefined;
    let shadowCopy: (() => void) | undefined;
    // The first output, for the per-minute top-1 buckets: computed once the answer is written (they
    // are not part of it, and the client reads the answer meanwhile).
    let bucketsOf: TensorData | undefined;
    res.once('finish', () => {
      const requestSeconds = (performance.now() - t0) / 1000;
      const top1 = bucketsOf ? outputBuckets(bucketsOf) : undefined;
      // The response is flushed: nothing refers to the request body any more (outputs may have been
      // views of it) — unless a shadow run still reads the inputs; then the collector takes it.
      if (shadowCopy) setImmediate(shadowCopy);
      else if (body) bodies.give(body.buffer as ArrayBuffer);
      agent.recordRequest(model, servedVersion, {
        ok,
        status,
        modelSeconds,
        overheadSeconds: Math.max(0, requestSeconds - modelSeconds),
        requestSeconds,
        batch,
        ...(top1 ? { top1 } : {}),
      });
    });
    try {
      const key = req.headers['kiln-routing-key'];
      const served = agent.route(name, version, typeof key === 'string' ? key : undefined);
      model = served.record.model;
      servedVersion = served.record.version;
      const pipeline = served.pipeline;
      if (predict && !pipeline)
        throw new RequestError(400, `model '${name}' declares no pipeline (pipeline.json in its artifact); use /v2/models/${name}/infer`);
      // Leased before the body is read: a swap that starts now waits for this request.
      leaseP = agent.lease(served);
      leaseP.catch(() => {});
      const hlHeader = req.headers['inference-header-content-length'];
      let headerLength: number | undefined;
      if (hlHeader !== undefined) {
        headerLength = Number(hlHeader);
        if (!Number.isSafeInteger(headerLength) || headerLength < 0)
          throw new RequestError(400, `Inference-Header-Content-Length must be a byte count (got '${hlHeader}')`);
      }
      body = await readBody(req, limit, headerLength ?? 0, bodies);
      const contentType = String(req.headers['content-type'] ?? '');
      const isImage = predict && headerLength === undefined && (contentType.startsWith('image/') || contentType === 'application/octet-stream');
      let request: InferRequest;
      if (isImage) {
        if (!pipeline?.preprocess) throw new RequestError(400, `model '${name}' declares no image preprocessing: send OIP tensors as JSON`);
        const spec = served.signature.inputs.find((i) => i.name === pipeline.preprocess!.input)!;
        request = { inputs: { [spec.name]: await imageToTensor(body, pipeline.preprocess, spec) }, outputs: [] };
      } else request = parseInferRequest(body, headerLength, served.signature);
      const first = Object.values(request.inputs)[0];
      batch = first?.dims.length ? first.dims[0] : 1;
      const lease = await leaseP.catch((err: unknown) => {
        throw err instanceof RequestError
          ? err
          : new RequestError(503, `model '${name}' version '${servedVersion}' could not be loaded: ${(err as Error).message}`);
      });
      let outputs;
      try {
        const ran = await agent.run(served, lease, request.inputs);
        outputs = ran.outputs;
        modelSeconds = ran.modelSeconds;
      } catch (err) {
        throw new RequestError(500, `the model run failed: ${String((err as Error).message ?? err).split('\n')[0]}`);
      } finally {
        lease.release();
      }
      if (agent.hasShadow(model)) {
        const inputs = request.inputs;
        const out = outputs;
        shadowCopy = () => void agent.shadow(served, inputs, out, modelSeconds);
      }
      bucketsOf = outputs[served.signature.outputs[0]?.name ?? ''];
      if (predict) {
        ok = true;
        const predictions = postprocess(pipeline!, outputs[pipeline!.output]);
        sendJson(res, 200, { model_name: name, model_version: servedVersion, ...(request.id !== undefined ? { id: request.id } : {}), predictions });
        return;
      }
      const encoded = encodeInferResponse(name, servedVersion, request.id, request.outputs, outputs);
      const headers: Record<string, string | number> = { 'Content-Type': encoded.contentType, 'Content-Length': encoded.byteLength };
      if (encoded.headerLength !== undefined) headers['Inference-Header-Content-Length'] = encoded.headerLength;
      ok = true;
      res.writeHead(200, headers);
      // Small answers go out in one write (one copy is cheaper than a writev); large ones as they are.
      if (encoded.chunks.length === 1) res.end(encoded.chunks[0]);
      else if (encoded.byteLength <= 65536) res.end(Buffer.concat(encoded.chunks, encoded.byteLength));
      else {
        res.cork();
        for (const c of encoded.chunks) res.write(c);
        res.end();
        res.uncork();
      }
    } catch (err) {
      leaseP?.then(
        (l) => l.release(),
        () => {},
      );
      status = err instanceof RequestError ? err.status : 500;
      await fail(req, res, err);
    }
  }

  const jobQueue = () => {
    if (!agent.jobs) throw new RequestError(503, 'this agent does not run async jobs');
    return agent.jobs;
  };

  async function submitJob(req: IncomingMessage, res: ServerResponse, name: string, version: string | undefined): Promise<void> {
    const jobs = jobQueue();
    const served = agent.lookup(name, version);
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > jobs.maxJobBytes) throw new PayloadTooLarge(jobs.maxJobBytes, false, 'the job payload', 'maxJobBytes');
    const hl = req.headers['inference-header-content-length'];
    const contentType = String(req.headers['content-type'] ?? '');
    const format =
      contentType.startsWith('application/x-ndjson') || contentType.startsWith('application/jsonl') ? 'ndjson' : hl !== undefined ? 'binary' : 'json';
    const headerLength = hl === undefined ? undefined : Number(hl);
    if (headerLength !== undefined && (!Number.isSafeInteger(headerLength) || headerLength < 0))
      throw new RequestError(400, `Inference-Header-Content-Length must be a byte count (got '${hl}')`);
    const job = await jobs.submit(served, version, req, format, headerLength);
    sendJson(res, 202, jobs.describe(job), { Location: `/v2/jobs/${job.id}` });
  }

  async function jobRoute(req: IncomingMessage, res: ServerResponse, method: string, id: string | undefined, result: boolean): Promise<void> {
    const jobs = jobQueue();
    if (id === undefined) {
      if (method !== 'GET') throw new RequestError(405, '/v2/jobs takes GET');
      return sendJson(res, 200, { jobs: agent.db.jobs(100).map((j) => jobs.describe(j)) });
    }
    const job = agent.db.job(id);
    if (!job) throw new RequestError(404, `no job '${id}'`);
    if (method === 'DELETE' && !result) {
      jobs.remove(id);
      return sendJson(res, 200, { deleted: id });
    }
    if (method !== 'GET') throw new RequestError(405, `${req.url} takes GET${result ? '' : ' or DELETE'}`);
    if (!result) return sendJson(res, 200, jobs.describe(job));
    if (job.status !== 'succeeded') {
      throw new RequestError(
        409,
        job.status === 'failed' ? `job ${id} failed: ${job.error}` : `job ${id} is ${job.status}; poll /v2/jobs/${id} until it has succeeded`,
      );
    }
    const file = jobs.resultPath(id);
    res.writeHead(200, { 'Content-Type': job.format === 'ndjson' ? 'application/x-ndjson' : 'application/json', 'Content-Length': statSync(file).size });
    await pipeline(createReadStream(file), res);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    try {
      if (path === '/v2/health/live' || path === '/v2/health/ready') {
        if (method !== 'GET' && method !== 'HEAD') throw new RequestError(405, `${path} takes GET`);
        const ok = path.endsWith('live') ? true : agent.isReady;
        return sendJson(res, ok ? 200 : 503, path.endsWith('live') ? { live: true } : { ready: ok });
      }
      if (tokenDigest && !tokenMatches(req.headers.authorization, tokenDigest)) {
        throw new RequestError(401, 'missing or wrong bearer token: send the header "Authorization: Bearer <token>"');
      }
      if (path === '/metrics') {
        if (method !== 'GET') throw new RequestError(405, '/metrics takes GET');
        const text = agent.renderMetrics();
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      if (path === '/v2' || path === '/v2/') {
        if (method !== 'GET') throw new RequestError(405, '/v2 takes GET');
        return sendJson(res, 200, { name: 'kiln-agent', version: KILN_VERSION, extensions: ['binary_tensor_data'] });
      }
      if (path === '/v2/models' || path === '/v2/models/') {
        if (method !== 'GET') throw new RequestError(405, '/v2/models takes GET');
        return sendJson(res, 200, {
          models: agent.modelNames().map((name) => {
            const versions = agent.versions(name);
            return {
              name,
              version: versions[0]?.version,
              versions: versions.map((v) => v.version),
              loaded: versions.filter((v) => agent.pool.isLoaded(v.id)).map((v) => v.version),
            };
          }),
        });
      }
      const j = JOB_ROUTE.exec(path);
      if (j) return await jobRoute(req, res, method, j[1] === undefined ? undefined : decode(j[1]), !!j[2]);
      const m = ROUTE.exec(path);
      if (!m) throw new RequestError(404, `no such endpoint: ${method} ${path} (see /v2, /v2/models/{name}, /v2/models/{name}/infer, /metrics)`);
      const name = decode(m[1]);
      const version = m[2] === undefined ? undefined : decode(m[2]);
      const action = m[3];
      if (action === 'jobs') {
        if (method !== 'POST') throw new RequestError(405, `${path} takes POST`);
        return await submitJob(req, res, name, version);
      }
      if (action === 'infer' || action === 'predict') {
        if (method !== 'POST') throw new RequestError(405, `${path} takes POST`);
        return await infer(req, res, name, version, t0, action === 'predict');
      }
      if (method !== 'GET') throw new RequestError(405, `${path} takes GET`);
      const served = agent.lookup(name, version);
      if (action === 'ready') return sendJson(res, agent.isReady ? 200 : 503, { name, version: served.record.version, ready: agent.isReady });
      const runtime = agent.runtimeOf(served.record);
      // OIP metadata, plus how this version runs here (a CPU fallback says so in runtime.fallback).
      return sendJson(res, 200, {
        ...modelMetadata(served.signature, version === undefined ? agent.versions(name).map((r) => r.version) : [served.record.version], 'onnxruntime_onnx'),
        runtime: runtime ?? { target: served.manifest.target.name, backend: served.manifest.target.backend, loaded: false },
      });
    } catch (err) {
      await fail(req, res, err);
    }
  }

  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch((err) => {
      log.error('request handler failed', { error: (err as Error).message });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    });
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\n\r\n{"error":"malformed HTTP request"}');
    else socket.destroy(err);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new KilnError('AGENT_CONFIG', `cannot listen on ${host}:${options.port ?? DEFAULTS.agentPort}: ${err.code ?? err.message}`, {
          hint: err.code === 'EADDRINUSE' ? 'another process uses that port: pass --port' : 'check --host and --port',
        }),
      ),
    );
    server.listen(options.port ?? DEFAULTS.agentPort, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    server,
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
