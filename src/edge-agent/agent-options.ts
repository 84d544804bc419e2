/** The Agent's options: one place for their documentation and defaults (the defaults apply in agent.ts). */
import type { InferenceBackend } from '../runtime/backend.js';
import type { BackendRegistry } from '../runtime/registry.js';
import type { Logger } from '../logger.js';
import type { BatchingOptions } from './batcher.js';
import type { StoreHooks } from './store/model-store.js';
import type { VariantConfig } from './variants.js';

export interface AgentOptions {
  /** Where installed versions, the state DB and the outbox live. */
  dataDir: string;
  /** Artifacts (folders or .tgz) to install at start; each is served under its manifest's model name. @default [] */
  models?: readonly string[];
  /** Trusted ed25519 public keys (raw, base64) besides kiln's own. @default [] */
  trustedKeys?: readonly string[];
  /** Trust the public key of kiln's own signing key in `kilnHome` (when it exists). @default true */
  trustKilnKey?: boolean;
  /** kiln's config dir, where its signing key lives. @default $KILN_HOME or ~/.config/kiln */
  kilnHome?: string;
  /** Good versions kept besides the current one. @default 3 */
  keepVersions?: number;
  /** Bytes of loaded models before least-recently-used ones are unloaded. @default 2 × the served models' sizes (≥ 256 MiB, ≤ half the RAM) */
  memoryBudgetBytes?: number;
  /** onnxruntime intra-op threads per model. @default onnxruntime's choice (ort-web: 1) */
  threads?: number;
  /** onnxruntime inter-op threads per model. @default 1 where threads is set, else onnxruntime's choice */
  interOpThreads?: number;
  /**
   * Serve an artifact whose target's runtime this host lacks (a gpu-cuda artifact without CUDA, a wasm
   * one without onnxruntime-web) on onnxruntime-node's CPU provider, logged and reported as such.
   * Off: such an artifact is refused. @default false
   */
  allowCpuFallback?: boolean;
  /** Load every served model at start (else on first use). @default true */
  preload?: boolean;
  /** Most outbox rows kept. @default 10000 */
  outboxMaxRows?: number;
  /**
   * Dynamic batching for models with a free leading dimension: concurrent requests share one run
   * of up to maxBatchSize rows, waiting at most maxQueueDelayMs. @default off (maxBatchSize 1)
   */
  batching?: Partial<BatchingOptions>;
  /** Async jobs: run queued jobs in the background (off: accept and keep them only). @default true */
  runJobs?: boolean;
  /** Largest async job payload, bytes. @default 1 GiB */
  maxJobBytes?: number;
  /** Production variants per model: weighted A/B between kept versions, and a shadow version. @default none */
  variants?: Readonly<Record<string, VariantConfig>>;
  logger?: Logger;
  /** Install step hooks (tests stop the process at a step). */
  hooks?: StoreHooks;
  /** Where each artifact's target runtime is looked up. @default the shared registry (ort-node, ort-web, tfjs) */
  registry?: BackendRegistry;
  /** One backend for every artifact, whatever its target (its providers are not asked for). @default the artifact's target runtime, from `registry` */
  backend?: InferenceBackend;
  /**
   * Own the data dir: take its lock (one agent per data dir), undo half-done installs, allow
   * installs. Off for one-off readers (`kiln agent infer` beside a running agent). @default true
   */
  exclusive?: boolean;
}
