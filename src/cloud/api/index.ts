/** The cloud's HTTP API and dashboard. */
export { createCloudApi, deviceView, DEFAULT_TARGET, type CloudApiOptions } from './server.js';
export { loadOrCreateToken, tokenFileFor, tokenMatches, checkToken, TOKEN_FILE, type OperatorToken } from './token.js';
export { registerDeploymentRoutes, strategyFromBody, deploymentView, type CreateDeploymentBody, type StrategyBody } from './deployments.js';
export { registerMetricsRoutes, modelMetrics, DEFAULT_METRICS_MINUTES, MAX_METRICS_MINUTES, type ModelMetrics, type VersionSeries } from './metrics.js';
export { registerPlanRoutes, type PlanRoutesOptions } from './plan.js';
export { registerArtifactRoutes, DEFAULT_MAX_UPLOAD_BYTES, type ArtifactRoutesOptions } from './artifacts.js';
