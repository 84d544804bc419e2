/**
 * The telemetry routes of the cloud API (registered by createCloudApi); the operator token is checked
 * by the API's /api/* hook:
 *
 * - GET /api/models/:name/metrics?minutes=60 → {model, minutes, from, until, versions: [{version,
 *   requests, errors, errorRate, maxP95LeMs, devices, points: [{minute, requests, errors, errorRate,
 *   p95LeMs, meanMs, devices}]}]}: the devices' per-minute 'metrics.minute' telemetry of one model, per
 *   version, over the last `minutes` minutes (the current, still open minute included). A model nobody
 *   reported in the window answers 200 with no versions.
 */
import type { FastifyInstance } from 'fastify';
import type { DeviceRegistry, MetricsSeriesPoint } from '../gateway/registry.js';

/** The window the dashboard asks for by default, and the longest one allowed (a day). */
export const DEFAULT_METRICS_MINUTES = 60;
export const MAX_METRICS_MINUTES = 1440;

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;
const nullableNumber = { type: ['number', 'null'] } as const;
const point = {
  type: 'object',
  properties: {
    minute: { type: 'string' },
    requests: { type: 'integer' },
    errors: { type: 'integer' },
    errorRate: nullableNumber,
    p95LeMs: nullableNumber,
    meanMs: nullableNumber,
    devices: { type: 'integer' },
  },
  required: ['minute', 'requests', 'errors', 'errorRate', 'p95LeMs', 'meanMs', 'devices'],
} as const;
const seriesResponse = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    minutes: { type: 'integer' },
    from: { type: 'string' },
    until: { type: 'string' },
    versions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          version: { type: 'string' },
          requests: { type: 'integer' },
          errors: { type: 'integer' },
          errorRate: nullableNumber,
          maxP95LeMs: nullableNumber,
          devices: { type: 'integer' },
          points: { type: 'array', items: point },
        },
        required: ['version', 'requests', 'errors', 'errorRate', 'maxP95LeMs', 'devices', 'points'],
      },
    },
  },
  required: ['model', 'minutes', 'from', 'until', 'versions'],
} as const;

export interface VersionSeries {
  version: string;
  /** Totals over the window. */
  requests: number;
  errors: number;
  errorRate: number | null;
  maxP95LeMs: number | null;
  /** Distinct devices that reported the version in the window. */
  devices: number;
  points: Omit<MetricsSeriesPoint, 'version'>[];
}

export interface ModelMetrics {
  model: string;
  minutes: number;
  /** ISO minute the window starts at (inclusive). */
  from: string;
  /** ISO minute the window ends at (exclusive): the minute after the current one. */
  until: string;
  /** Versions in the order of their first minute in the window. */
  versions: VersionSeries[];
}

/** One model's per-version time series over the `minutes` minutes up to `now` (ms). */
export function modelMetrics(registry: DeviceRegistry, model: string, minutes: number, now: number): ModelMetrics {
  const end = (Math.floor(now / 60_000) + 1) * 60_000;
  const from = new Date(end - minutes * 60_000).toISOString();
  const until = new Date(end).toISOString();
  const byVersion = new Map<string, VersionSeries>();
  for (const { version, ...p } of registry.metricsSeries(model, from, until)) {
    let v = byVersion.get(version);
    if (!v) byVersion.set(version, (v = { version, requests: 0, errors: 0, errorRate: null, maxP95LeMs: null, devices: 0, points: [] }));
    v.points.push(p);
    v.requests += p.requests;
    v.errors += p.errors;
    if (p.p95LeMs !== null) v.maxP95LeMs = Math.max(v.maxP95LeMs ?? 0, p.p95LeMs);
  }
  // metricsWindow has a row per device and version: their count is the version's distinct devices.
  for (const r of registry.metricsWindow(model, from)) {
    const v = byVersion.get(r.version);
    if (v) v.devices++;
  }
  for (const v of byVersion.values()) v.errorRate = v.requests ? v.errors / v.requests : null;
  return { model, minutes, from, until, versions: [...byVersion.values()] };
}

export function registerMetricsRoutes(app: FastifyInstance, registry: DeviceRegistry, clock: () => number = Date.now): void {
  const params = {
    type: 'object',
    properties: { name: { type: 'string', minLength: 1, maxLength: 128 } },
    required: ['name'],
    additionalProperties: false,
  } as const;
  const query = {
    type: 'object',
    properties: { minutes: { type: 'string', pattern: '^[0-9]{1,4}$' } },
    additionalProperties: false,
  } as const;
  app.get<{ Params: { name: string }; Querystring: { minutes?: string } }>(
    '/api/models/:name/metrics',
    { schema: { params, querystring: query, response: { 200: seriesResponse, 400: errorBody, 401: errorBody } } },
    async (req, reply) => {
      const minutes = req.query.minutes === undefined ? DEFAULT_METRICS_MINUTES : Number(req.query.minutes);
      if (minutes < 1 || minutes > MAX_METRICS_MINUTES) {
        return reply.code(400).send({ error: 'bad-request', message: `querystring/minutes must be 1 to ${MAX_METRICS_MINUTES} (got ${req.query.minutes})` });
      }
      return modelMetrics(registry, req.params.name, minutes, clock());
    },
  );
}
