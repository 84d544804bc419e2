/**
 * The edge agent's public surface: an offline-first inference daemon for a device.
 *
 *   const config = resolveAgentConfig({ cwd: process.cwd(), env: process.env, flags: { models: ['out/mnist-x86_64'] } });
 *   const running = await startAgent(config, { logger });     // core + HTTP (Open Inference Protocol)
 *   await running.agent.install('out/mnist-x86_64-v2.tgz');   // check → unpack → probation → hot swap
 *   await running.close();
 *
 * The core (`Agent`) works without the network; `serveAgent` puts the HTTP API in front of it.
 */
export { Agent, type AgentOptions, type AgentEvents, type InstallResult, type ServedVersion } from './agent.js';
export { startAgent, type RunningAgent } from './run.js';
export { resolveAgentConfig, parseBytes, CONFIG_DEFAULTS, CONFIG_KEYS, type AgentConfig, type ConfigSources } from './config.js';
export { serveAgent, isLoopback, DEFAULT_MAX_REQUEST_BYTES, type AgentServer, type ServeOptions } from './http/server.js';
export {
  parseInferRequest,
  encodeInferResponse,
  encodeBinaryRequest,
  decodeBinaryResponse,
  modelMetadata,
  type InferRequest,
  type ModelSignature,
  type RequestedOutput,
} from './http/oip.js';
export { ModelStore, safeName, type InstallStep, type StoreHooks, type Staged, type RecoveryReport } from './store/model-store.js';
export { StateDb, type InstallRecord, type InstallState, type OutboxRow, type JobRecord, type JobStatus, type JobFormat } from './store/state-db.js';
export { ModelPool, type Lease, type PoolEvent } from './pool.js';
export { Batcher, isBatchable, type BatchingOptions, type BatchRun } from './batcher.js';
export { pickVersion, compareOutputs, keyFraction, variantProblems, type VariantConfig, type ShadowComparison } from './variants.js';
// The pipeline.json contract lives in src/protocol (the compiler writes it); re-exported here for agent users.
export { checkPipeline, PIPELINE_FILE, type PipelineSpec, type PostStep, type ImagePreprocessStep } from '../protocol/pipeline.js';
export { postprocess, type Prediction } from './pipeline/post.js';
export { JobQueue, type JobQueueOptions } from './jobs.js';
export { runBatch, BATCH_INPUT_EXTENSIONS, type BatchOptions, type BatchSummary } from './batch.js';
export { readInput, readInputFile } from './inputs.js';
export { agentStatus, type AgentStatus } from './status.js';
export { Outbox, MinuteAggregator, OUTBOX_KINDS, type OutboxOptions, type RequestSample } from './outbox.js';
export { Registry, Counter, Gauge, Histogram, agentMetrics, type AgentMetrics } from './metrics.js';
export { RequestError } from './errors.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from '../logger.js';
export { loadForTarget, type RuntimeChoice, type RuntimeOptions } from './runtime.js';
export { OIP_DATATYPE, ORT_DTYPE } from './tensors.js';
export { parseYaml, YamlError, type YamlValue } from '../yaml.js';
