/**
 * The cloud's HTTP API (fastify, a JSON schema on every route) and the dashboard, on one server:
 *
 * - `/api/*`: operator routes, `Authorization: Bearer TOKEN` required (401 with a JSON error otherwise):
 *   GET /api/devices, GET /api/devices/:id, GET /api/models, GET /api/models/:name/versions,
 *   POST /api/artifacts (./artifacts.ts: upload an artifact's .tgz into the registry, as `kiln push --cloud-url` does),
 *   POST /api/devices/:id/desired, GET /api/stats, GET /api/models/:name/metrics (./metrics.ts: per-version
 *   time series); with a DeploymentManager, the deployment routes of
 *   ./deployments.ts (POST/GET /api/deployments, GET /api/deployments/:id, POST …/:id/{pause|resume|promote|rollback});
 * - `/artifacts/{sha256}.tgz`: the registry's artifact handler, no token (devices download there; the
 *   artifacts are signed and the agent checks the signature);
 * - `/`, `/dashboard.js` and `/dashboard-charts.js`: the dashboard page (no token in the page: it asks for one, or reads
 *   `?token=`, and keeps it in localStorage).
 *
 * Errors are JSON `{ error, message }`: 400 bad input (the schema's message), 401, 404, 409, 413 (an upload over the limit).
 */
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { DesiredModel } from '../../protocol/sync.js';
import type { DeviceGateway } from '../gateway/gateway.js';
import type { DeviceRecord } from '../gateway/registry.js';
import { artifactHandler } from '../registry/http.js';
import type { ModelRegistry } from '../registry/registry.js';
import type { DeploymentManager } from '../deployments/index.js';
import { registerArtifactRoutes } from './artifacts.js';
import { registerDeploymentRoutes } from './deployments.js';
import { registerPlanRoutes } from './plan.js';
import { registerMetricsRoutes } from './metrics.js';
import { tokenMatches } from './token.js';

export interface CloudApiOptions {
  gateway: DeviceGateway;
  registry: ModelRegistry;
  /** The operator token /api/* requires. */
  token: string;
  /**
   * The base URL devices download artifacts from (put in desired states), e.g. http://cloud:8300.
   * @default the scheme and Host of the request that sets the desired state
   */
  publicUrl?: string;
  /** The deployment manager behind /api/deployments, or a getter for it (503 while it returns none); the routes are absent without it. */
  deployments?: DeploymentManager | (() => DeploymentManager | undefined);
  /** The largest artifact POST /api/artifacts accepts, in bytes. @default DEFAULT_MAX_UPLOAD_BYTES (512 MiB) */
  maxUploadBytes?: number;
  /**
   * Raw ed25519 public keys (base64) an artifact uploaded to POST /api/artifacts must be signed by (the
   * cloud decides, not the uploader). @default any valid signature, as `kiln push --db` without --trust
   */
  trustedKeys?: readonly string[];
  /** Fastify's logger. @default false */
  logger?: boolean;
}

/** The default target when neither the device nor the request names one. */
export const DEFAULT_TARGET = 'x86_64';

const PAGE = readFileSync(new URL('./dashboard/index.html', import.meta.url), 'utf8');
/** The page's scripts by path: the app and its SVG charts. */
const SCRIPTS: Readonly<Record<string, string>> = Object.freeze({
  '/dashboard.js': readFileSync(new URL('./dashboard/app.js', import.meta.url), 'utf8'),
  '/dashboard-charts.js': readFileSync(new URL('./dashboard/charts.js', import.meta.url), 'utf8'),
});

// --- schemas ---------------------------------------------------------------------------------------

const deviceId = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } as const;
const name = { type: 'string', minLength: 1, maxLength: 128 } as const;
const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;
const errors = { 400: errorBody, 401: errorBody, 404: errorBody } as const;

const idParams = { type: 'object', properties: { id: deviceId }, required: ['id'], additionalProperties: false } as const;
const nameParams = { type: 'object', properties: { name }, required: ['name'], additionalProperties: false } as const;
const listQuery = {
  type: 'object',
  properties: { group: { type: 'string', minLength: 1, maxLength: 128 }, tag: { type: 'string', minLength: 3, maxLength: 200, pattern: '^[^=\\s]+=[^\\s]+$' } },
  additionalProperties: false,
} as const;
const desiredBody = {
  type: 'object',
  properties: {
    models: { type: 'object', minProperties: 1, maxProperties: 64, propertyNames: { minLength: 1, maxLength: 128 }, additionalProperties: name },
    target: { type: 'string', minLength: 1, maxLength: 128 },
  },
  required: ['models'],
  additionalProperties: false,
} as const;

interface DesiredBody {
  models: Record<string, string>;
  target?: string;
}

// --- views -----------------------------------------------------------------------------------------

/** A device as the API shows it: no secret, reported models flattened, desired versions by model. */
export function deviceView(d: DeviceRecord) {
  return {
    id: d.id,
    name: d.name,
    group: d.group,
    tags: d.tags,
    target: d.reported?.target ?? null,
    online: d.online,
    lastSeen: d.lastSeen,
    createdAt: d.createdAt,
    reportedAt: d.reportedAt,
    models: Object.fromEntries(
      Object.entries(d.reported?.models ?? {}).map(([m, r]) => [
        m,
        { version: r.version, status: r.status, serving: r.serving ?? null, ...(r.reason ? { reason: r.reason } : {}) },
      ]),
    ),
    desired: d.desired
      ? {
          version: d.desired.version,
          updatedAt: d.desired.updatedAt,
          models: Object.fromEntries(Object.entries(d.desired.models).map(([m, e]) => [m, e.version])),
        }
      : null,
  };
}

const fail = (reply: FastifyReply, status: number, error: string, message: string, extra: Record<string, unknown> = {}) =>
  reply.code(status).send({ error, message, ...extra });

/** The fastify instance with every route; call `.listen()` (or `.inject()` in tests). */
export function createCloudApi(options: CloudApiOptions): FastifyInstance {
  const { gateway, registry, token } = options;
  if (typeof token !== 'string' || !token) throw new TypeError('createCloudApi: options.token must be a non-empty string');
  const app = Fastify({ logger: options.logger ?? false, ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } } });
  const serveArtifact = artifactHandler(registry, (err, sha256) => app.log.error({ err, sha256 }, 'artifact store failed'));

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err.validation) return fail(reply, 400, 'bad-request', err.message);
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) app.log.error(err);
    return fail(reply, status, status === 500 ? 'internal' : 'bad-request', status === 500 ? 'internal error' : err.message);
  });
  app.setNotFoundHandler((req, reply) => fail(reply, 404, 'not-found', `no route ${req.method} ${req.url.split('?')[0]}`));

  // Operator token on /api/*.
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/') && req.url !== '/api') return;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m || !tokenMatches(m[1], token)) {
      reply.header('www-authenticate', 'Bearer realm="kiln-cloud"');
      return fail(
        reply,
        401,
        'unauthorized',
        m
          ? 'the operator token is not valid'
          : 'missing operator token: send Authorization: Bearer TOKEN (the token is in api-token beside the cloud database)',
      );
    }
  });

  // --- dashboard and artifacts ---
  app.get('/', { schema: { querystring: { type: 'object', properties: { token: { type: 'string', maxLength: 512 } } } } }, (_req, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').send(PAGE),
  );
  for (const [path, script] of Object.entries(SCRIPTS))
    app.get(path, { schema: {} }, (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-store').send(script));
  app.get(
    '/artifacts/:file',
    { schema: { params: { type: 'object', properties: { file: { type: 'string', maxLength: 80 } }, required: ['file'] } } },
    (req, reply) => {
      reply.hijack();
      if (!serveArtifact(req.raw, reply.raw))
        reply.raw
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: 'not-found', message: 'no such artifact (expected /artifacts/{sha256}.tgz)' }));
    },
  );

  // --- devices ---
  app.get<{ Querystring: { group?: string; tag?: string } }>(
    '/api/devices',
    { schema: { querystring: listQuery, response: { 401: errorBody } } },
    async (req) => ({
      devices: gateway.devices({ group: req.query.group, tag: req.query.tag }).map(deviceView),
    }),
  );

  app.get<{ Params: { id: string } }>('/api/devices/:id', { schema: { params: idParams, response: errors } }, async (req, reply) => {
    const d = gateway.device(req.params.id);
    if (!d) return fail(reply, 404, 'not-found', `no device '${req.params.id}'`);
    return { device: { ...deviceView(d), reported: d.reported, desiredState: d.desired } };
  });

  app.post<{ Params: { id: string }; Body: DesiredBody }>(
    '/api/devices/:id/desired',
    { schema: { params: idParams, body: desiredBody, response: errors } },
    async (req, reply) => {
      const d = gateway.device(req.params.id);
      if (!d) return fail(reply, 404, 'not-found', `no device '${req.params.id}'`);
      const target = d.reported?.target ?? req.body.target ?? DEFAULT_TARGET;
      const targetFrom = d.reported?.target ? 'reported' : req.body.target ? 'request' : 'default';
      const baseUrl = options.publicUrl ?? `${req.protocol}://${req.host}`;
      const missing: { model: string; version: string; target: string; has: string[] }[] = [];
      const entries: Record<string, DesiredModel> = {};
      for (const [model, version] of Object.entries(req.body.models)) {
        if (!(await registry.artifactFor(model, version, target))) {
          missing.push({ model, version, target, has: (await registry.artifactsOf(model, version)).map((a) => a.target) });
          continue;
        }
        entries[model] = await registry.desiredEntryFor(model, version, target, baseUrl);
      }
      if (missing.length) {
        const list = missing.map((m) => `${m.model} ${m.version} for target '${m.target}' (has: ${m.has.join(', ') || 'no artifact'})`).join('; ');
        return fail(reply, 409, 'no-artifact', `device '${d.id}' (target '${target}', ${targetFrom}) cannot be given: ${list}`, {
          deviceId: d.id,
          target,
          missing,
        });
      }
      // The named models change; the device's other desired models stay.
      const state = await gateway.setDesiredState(d.id, { ...(d.desired?.models ?? {}), ...entries });
      return { deviceId: d.id, target, targetFrom, desired: state };
    },
  );

  // --- models ---
  app.get('/api/models', { schema: { response: { 401: errorBody } } }, async () => ({ models: await registry.listModels() }));

  app.get<{ Params: { name: string } }>('/api/models/:name/versions', { schema: { params: nameParams, response: errors } }, async (req, reply) => {
    const versions = await registry.listVersions(req.params.name);
    if (!versions.length) return fail(reply, 404, 'not-found', `no model '${req.params.name}' in the registry`);
    return {
      model: req.params.name,
      versions: await Promise.all(
        versions.map(async (v) => ({
          ...v,
          artifacts: (await registry.artifactsOf(v.model, v.version)).map((a) => ({
            target: a.target,
            arch: a.arch,
            backend: a.backend,
            sha256: a.sha256,
            sizeBytes: a.sizeBytes,
            quantization: a.quantization,
            sizes: a.sizes,
            verification: a.verification,
            ...(a.performance ? { performance: a.performance } : {}),
            keyId: a.keyId,
            builtAt: a.builtAt,
            pushedAt: a.pushedAt,
          })),
        })),
      ),
    };
  });

  // --- artifact upload: POST /api/artifacts (./artifacts.ts) ---
  registerArtifactRoutes(app, { registry, maxUploadBytes: options.maxUploadBytes, trustedKeys: options.trustedKeys });

  // --- stats ---
  app.get('/api/stats', { schema: { response: { 401: errorBody } } }, async () => {
    const devices = gateway.devices();
    const groups: Record<string, { devices: number; online: number }> = {};
    for (const d of devices) {
      const g = (groups[d.group] ??= { devices: 0, online: 0 });
      g.devices++;
      if (d.online) g.online++;
    }
    const models = await registry.listModels();
    return {
      devices: { total: devices.length, online: devices.filter((d) => d.online).length, groups },
      models: { total: models.length, versions: models.reduce((n, m) => n + m.versions.length, 0) },
      gateway: gateway.stats(),
      broker: { url: gateway.brokerUrl, embedded: gateway.isEmbedded },
    };
  });

  // --- telemetry ---
  registerMetricsRoutes(app, gateway.registry);

  // --- deployments ---
  if (options.deployments) registerDeploymentRoutes(app, options.deployments);
  // --- declarative: POST /api/plan, POST /api/apply, GET /api/drift (./plan.ts) ---
  registerPlanRoutes(app, { gateway, registry, deployments: options.deployments });

  return app;
}
