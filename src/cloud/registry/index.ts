/** The cloud's model registry: models, versions, per-target artifacts, and serving them over HTTP. */
export { ModelRegistry, openModelRegistry, artifactUrl, ArtifactRefusedError } from './registry.js';
export { artifactHandler, startArtifactServer, parseRange, type ArtifactSource, type ArtifactServer } from './http.js';
export { pushToRegistry, listRegistryModels, type ModelSummary } from './admin.js';
export type { RegistryStore, StoredBlob, InsertOutcome } from './store.js';
export type {
  ArtifactRecord,
  VersionRecord,
  ModelRecord,
  PushOptions,
  PushResult,
  DeviceTarget,
  ModelRegistryOptions,
  SqliteRegistryOptions,
  PostgresRegistryOptions,
  OutputFigures,
} from './types.js';
