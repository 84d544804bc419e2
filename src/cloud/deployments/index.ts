/**
 * Deployments: rollout-engine deployments run against the fleet (gateway + model registry), persisted
 * in SQLite and resumed after a restart. What `kiln deploy` / `kiln deployments …` and the HTTP API call:
 *
 * - `new DeploymentManager({gateway, registry, artifactBaseUrl, dbPath, tickMs?, clock?, defaultTarget?})`
 * - `deploy({model, version, group, strategy, guardrails?, fromVersion?, id?})` (`kiln deploy`), or `create(spec)`
 * - `list()`, `get(id)` (spec, state, events), `pause(id, reason?)`, `resume(id)`, `promote(id)`, `rollback(id, reason?)`
 * - `strategyFromFlags({strategy, steps, bake, stepPercent, interval})` and `parseDuration('10m')` for the CLI's flags.
 * - declarative deploy files: `parseDeployFile(yaml)`, `computePlan(ctx, file)` / `applyPlan(ctx, file, fingerprint)`
 *   (`kiln plan` / `kiln apply`), and `computeDrift(devices)` (`kiln drift`).
 */
export { DeploymentManager, type DeploymentManagerOptions, type DeploymentSummary, type DeploymentDetail, type DeployRequest } from './manager.js';
export { DeploymentStore, type DeploymentEventRecord, type StoredDeployment } from './store.js';
export { parseDuration, parseSteps, strategyFromFlags, strategyWithDefaults, STRATEGY_DEFAULTS, type StrategyFlags, type StrategyInput } from './flags.js';
export {
  checkDeployFile,
  parseDeployFile,
  defaultDeploymentId,
  locate,
  problemText,
  DeployFileError,
  type DeployFile,
  type DeclaredDeployment,
  type DeclaredStrategy,
  type NormalizedDeployment,
  type DeployProblem,
} from './declarative.js';
export {
  computePlan,
  applyPlan,
  fingerprintMatches,
  PlanRefusedError,
  SHORT_FINGERPRINT,
  type Plan,
  type PlannedDeployment,
  type PlannedDevice,
  type PlannedStep,
  type PlanContext,
  type ApplyResult,
} from './plan.js';
export { computeDrift, DRIFT_KINDS, type DriftEntry, type DriftKind, type DriftReport } from './drift.js';
