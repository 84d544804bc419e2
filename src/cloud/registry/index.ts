/** The cloud's model registry: models, versions, per-target artifacts, and serving them over HTTP. */
export { ModelRegistry, artifactUrl } from './registry.js';
export { artifactHandler, startArtifactServer, parseRange, type ArtifactSource, type ArtifactServer } from './http.js';
export { pushToRegistry, listRegistryModels, type ModelSummary } from './admin.js';
export type { ArtifactRecord, VersionRecord, ModelRecord, PushOptions, PushResult, DeviceTarget, ModelRegistryOptions, OutputFigures } from './types.js';
