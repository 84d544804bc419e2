/**
 * The deployment routes of the cloud API (registered by createCloudApi when it is given a
 * DeploymentManager); the operator token is checked by the API's /api/* hook:
 *
 * - POST /api/deployments {model, version, group, strategy, guardrails?, fromVersion?, id?} → 201 {deployment}
 * - GET /api/deployments → {deployments: summaries}
 * - GET /api/deployments/:id → {deployment: spec, state, summary, events, plan: {steps (with each one's cumulative device count), order}}
 * - POST /api/deployments/:id/{pause|resume|promote|rollback} {reason?} → {deployment}
 *
 * Refusals: 400 for an invalid spec or option, 404 for an unknown id or an empty group, 409 when the
 * registry lacks an artifact (NO_ARTIFACT), the id exists, the devices are held by another active
 * deployment, or the group's devices cannot be deployed to yet.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { isKilnError } from '../../errors.js';
import type { DeploymentDetail, DeploymentManager } from '../deployments/index.js';
import { parseDuration, strategyWithDefaults } from '../deployments/index.js';
import {
  ALARM_METRICS,
  ROLLOUT_COMMANDS,
  STRATEGY_KINDS,
  describePhase,
  deviceOrder,
  devicesFor,
  isFinishedPhase,
  phaseCommands,
  planSteps,
  type DeploymentSpec,
  type Guardrails,
  type Strategy,
} from '../rollout/index.js';

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;
const errors = { 400: errorBody, 401: errorBody, 404: errorBody, 409: errorBody } as const;

const name = { type: 'string', minLength: 1, maxLength: 128 } as const;
const deploymentId = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' } as const;
const duration = {
  anyOf: [
    { type: 'integer', minimum: 0 },
    { type: 'string', minLength: 1, maxLength: 32 },
  ],
} as const;
const percent = { type: 'number', exclusiveMinimum: 0, maximum: 100 } as const;

const createBody = {
  type: 'object',
  properties: {
    model: name,
    version: name,
    group: name,
    fromVersion: name,
    id: deploymentId,
    strategy: {
      type: 'object',
      properties: {
        kind: { type: 'string', enum: [...STRATEGY_KINDS] },
        steps: { type: 'array', minItems: 1, maxItems: 100, items: percent },
        bake: duration,
        stepPercent: percent,
        interval: duration,
        percent: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 100 },
      },
      required: ['kind'],
      additionalProperties: false,
    },
    guardrails: {
      type: 'object',
      properties: {
        rateLimitPerMinute: { type: 'number', exclusiveMinimum: 0 },
        abort: {
          type: 'object',
          properties: { failedPercent: percent, minDevices: { type: 'integer', minimum: 1 } },
          required: ['failedPercent', 'minDevices'],
          additionalProperties: false,
        },
        alarms: {
          type: 'array',
          maxItems: 32,
          items: {
            type: 'object',
            properties: {
              metric: { type: 'string', enum: [...ALARM_METRICS] },
              threshold: { type: 'number' },
              minRequests: { type: 'integer', minimum: 0 },
              minDevices: { type: 'integer', minimum: 0 },
            },
            required: ['metric', 'threshold'],
            additionalProperties: false,
          },
        },
      },
      additionalProperties: false,
    },
  },
  required: ['model', 'version', 'group', 'strategy'],
  additionalProperties: false,
} as const;

export interface StrategyBody {
  kind: Strategy['kind'];
  steps?: number[];
  /** ms, or a duration such as '10m' */
  bake?: number | string;
  stepPercent?: number;
  interval?: number | string;
  /** ab: the candidate's share of requests, percent */
  percent?: number;
}
export interface CreateDeploymentBody {
  model: string;
  version: string;
  group: string;
  fromVersion?: string;
  id?: string;
  strategy: StrategyBody;
  guardrails?: Guardrails;
}

const ms = (v: number | string | undefined): number | undefined => (v === undefined ? undefined : typeof v === 'number' ? v : parseDuration(v));

/** The API's strategy body as a rollout Strategy (the same defaults as the CLI's flags). */
export function strategyFromBody(s: StrategyBody): Strategy {
  return strategyWithDefaults({ kind: s.kind, steps: s.steps, bakeMs: ms(s.bake), stepPercent: s.stepPercent, intervalMs: ms(s.interval), percent: s.percent });
}

/** A deployment as the API shows it; `phase`: what the rollout engine allows now and the phase in words (the dashboard shows these). */
export const deploymentView = (d: DeploymentDetail) => ({
  id: d.spec.id,
  summary: d.summary,
  spec: d.spec,
  state: d.state,
  events: d.events,
  createdAt: d.createdAt,
  updatedAt: d.updatedAt,
  plan: deploymentPlan(d.spec),
  phase: { finished: isFinishedPhase(d.state.status.phase), commands: phaseCommands(d.state.status), text: describePhase(d.state.status) },
});

/** The steps the strategy takes, each with its cumulative device count, and the devices in rollout order (for the dashboard). */
const deploymentPlan = (spec: DeploymentSpec) => ({
  steps: planSteps(spec).map((p) => ({ ...p, cohort: devicesFor(p.percent, spec.devices.length) })),
  order: deviceOrder(spec),
});

/** HTTP status and error name for a refusal from the manager. */
function refusal(err: unknown): { status: number; error: string } | undefined {
  if (!isKilnError(err)) return undefined;
  if (err.code === 'NO_ARTIFACT') return { status: 409, error: 'no-artifact' };
  if (err.code === 'NOT_FOUND') return { status: 404, error: 'not-found' };
  if (err.code === 'DEPLOYMENT_CONFLICT') return { status: 409, error: 'conflict' };
  if (err.httpStatus !== 400) return undefined;
  return { status: 400, error: 'bad-request' };
}

const send = async (reply: FastifyReply, status: number, fn: () => Promise<DeploymentDetail>) => {
  try {
    const d = await fn();
    return reply.code(status).send({ deployment: deploymentView(d) });
  } catch (err) {
    const r = refusal(err);
    if (!r) throw err;
    return reply.code(r.status).send({ error: r.error, message: (err as Error).message });
  }
};

export function registerDeploymentRoutes(app: FastifyInstance, managerOrGetter: DeploymentManager | (() => DeploymentManager | undefined)): void {
  const current = typeof managerOrGetter === 'function' ? managerOrGetter : () => managerOrGetter;
  /** Set whenever a route runs: the preHandler below answered 503 otherwise. */
  const manager = (): DeploymentManager => current()!;
  app.addHook('preHandler', async (req, reply) => {
    if (!req.url.startsWith('/api/deployments')) return;
    if (!current()) return reply.code(503).send({ error: 'unavailable', message: 'the deployment manager is not started yet' });
  });
  const idParams = { type: 'object', properties: { id: deploymentId }, required: ['id'], additionalProperties: false } as const;
  const commandBody = { type: 'object', properties: { reason: { type: 'string', maxLength: 500 } }, additionalProperties: false } as const;

  app.post<{ Body: CreateDeploymentBody }>('/api/deployments', { schema: { body: createBody, response: errors } }, async (req, reply) =>
    send(reply, 201, async () => {
      const b = req.body;
      const strategy = strategyFromBody(b.strategy);
      return manager().deploy({
        model: b.model,
        version: b.version,
        group: b.group,
        strategy,
        ...(b.guardrails ? { guardrails: b.guardrails } : {}),
        ...(b.fromVersion ? { fromVersion: b.fromVersion } : {}),
        ...(b.id ? { id: b.id } : {}),
      });
    }),
  );

  app.get('/api/deployments', { schema: { response: { 401: errorBody } } }, async () => ({
    deployments: manager()
      .list()
      .map((s) => ({ ...s, finished: isFinishedPhase(s.phase) })),
  }));

  app.get<{ Params: { id: string } }>('/api/deployments/:id', { schema: { params: idParams, response: errors } }, async (req, reply) => {
    const d = manager().get(req.params.id);
    if (!d) return reply.code(404).send({ error: 'not-found', message: `no deployment '${req.params.id}'` });
    return { deployment: deploymentView(d) };
  });

  for (const command of ROLLOUT_COMMANDS) {
    app.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>(
      `/api/deployments/:id/${command}`,
      { schema: { params: idParams, body: commandBody, response: errors } },
      async (req, reply) => {
        if (!manager().get(req.params.id)) return reply.code(404).send({ error: 'not-found', message: `no deployment '${req.params.id}'` });
        const reason = req.body?.reason;
        return send(reply, 200, () =>
          command === 'pause'
            ? manager().pause(req.params.id, reason)
            : command === 'rollback'
              ? manager().rollback(req.params.id, reason)
              : command === 'resume'
                ? manager().resume(req.params.id)
                : manager().promote(req.params.id),
        );
      },
    );
  }
}
