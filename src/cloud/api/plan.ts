/**
 * The declarative routes of the cloud API (registered by createCloudApi); the operator token is
 * checked by the API's /api/* hook:
 *
 * - POST /api/plan {deployments: […]} → 200 {plan}: the change set a deploy file would make now, and
 *   its fingerprint. A plan that cannot be applied says why in `plan.problems` (each with its path
 *   in the file); an invalid file is 400 with `problems`.
 * - POST /api/apply {file: {deployments: […]}, fingerprint} → 201 {plan, created, unchanged} (200 when
 *   nothing was created): the plan is computed again and applied only when its fingerprint is the one
 *   given (409 `plan-changed` with the new plan otherwise; 409 `conflict` with `problems` when it has some).
 * - GET /api/drift?group=G → {drift}: devices whose reported state differs from their desired state.
 *
 * Plan and apply need the deployment manager (503 while there is none); drift does not.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { isKilnError } from '../../errors.js';
import type { DeviceGateway } from '../gateway/gateway.js';
import type { ModelRegistry } from '../registry/registry.js';
import type { DeploymentManager } from '../deployments/index.js';
import { DeployFileError } from '../deployments/declarative.js';
import { computeDrift } from '../deployments/drift.js';
import { applyPlan, computePlan, PlanRefusedError, type PlanContext } from '../deployments/plan.js';
import { isTerminal } from '../rollout/index.js';
import { deploymentView } from './deployments.js';

export interface PlanRoutesOptions {
  gateway: DeviceGateway;
  registry: ModelRegistry;
  /** The manager, or a getter for it (plan and apply answer 503 while it returns none). */
  deployments?: DeploymentManager | (() => DeploymentManager | undefined);
  /** A device's target when it has not reported one (as the manager's). @default none */
  defaultTarget?: string;
}

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
  additionalProperties: true,
} as const;
/** The file is checked by checkDeployFile (every problem with its path), not by the schema (the first one only). */
const fileBody = { type: 'object', maxProperties: 16 } as const;
const applyBody = {
  type: 'object',
  properties: { file: fileBody, fingerprint: { type: 'string', pattern: '^[0-9a-f]{12,64}$' } },
  required: ['file', 'fingerprint'],
  additionalProperties: false,
} as const;
const driftQuery = { type: 'object', properties: { group: { type: 'string', minLength: 1, maxLength: 128 } }, additionalProperties: false } as const;

export function registerPlanRoutes(app: FastifyInstance, options: PlanRoutesOptions): void {
  const { gateway, registry } = options;
  const manager = (): DeploymentManager | undefined => (typeof options.deployments === 'function' ? options.deployments() : options.deployments);
  const context = (reply: FastifyReply): PlanContext | undefined => {
    const m = manager();
    if (!m) {
      void reply.code(503).send({ error: 'unavailable', message: 'the deployment manager is not started yet' });
      return undefined;
    }
    return { gateway, registry, deployments: m, ...(options.defaultTarget ? { defaultTarget: options.defaultTarget } : {}) };
  };
  const refuse = (reply: FastifyReply, err: unknown) => {
    if (err instanceof DeployFileError) return reply.code(400).send({ error: 'bad-request', message: err.message, problems: err.problems });
    if (err instanceof PlanRefusedError)
      return reply
        .code(409)
        .send({ error: err.kind === 'plan-changed' ? 'plan-changed' : 'conflict', message: err.message, problems: err.plan.problems, plan: err.plan });
    if (isKilnError(err) && (err.code === 'DEPLOYMENT_CONFLICT' || err.code === 'NO_ARTIFACT'))
      return reply.code(409).send({ error: err.code === 'NO_ARTIFACT' ? 'no-artifact' : 'conflict', message: err.message });
    throw err;
  };

  app.post<{ Body: unknown }>('/api/plan', { schema: { body: fileBody, response: { 400: errorBody, 401: errorBody, 503: errorBody } } }, async (req, reply) => {
    const ctx = context(reply);
    if (!ctx) return reply;
    try {
      return { plan: await computePlan(ctx, req.body) };
    } catch (err) {
      return refuse(reply, err);
    }
  });

  app.post<{ Body: { file: unknown; fingerprint: string } }>(
    '/api/apply',
    { schema: { body: applyBody, response: { 400: errorBody, 401: errorBody, 409: errorBody, 503: errorBody } } },
    async (req, reply) => {
      const ctx = context(reply);
      if (!ctx) return reply;
      try {
        const r = await applyPlan(ctx, req.body.file, req.body.fingerprint);
        return reply.code(r.created.length ? 201 : 200).send({ plan: r.plan, created: r.created.map(deploymentView), unchanged: r.unchanged });
      } catch (err) {
        return refuse(reply, err);
      }
    },
  );

  app.get<{ Querystring: { group?: string } }>('/api/drift', { schema: { querystring: driftQuery, response: { 401: errorBody } } }, async (req) => {
    const m = manager();
    const holders = new Map<string, string>();
    for (const s of (await m?.list()) ?? []) {
      const d = await m!.get(s.id);
      if (d && !isTerminal(d.state)) for (const id of d.spec.devices) holders.set(`${id}\0${d.spec.model}`, d.spec.id);
    }
    const records = gateway.devices(req.query.group ? { group: req.query.group } : {});
    return { drift: computeDrift(records, { deploymentOf: (id, model) => holders.get(`${id}\0${model}`) }) };
  });
}
