/**
 * kiln's runtime: one InferenceBackend interface, the built-in backends (ort-node, ort-web, tfjs), the
 * registry that picks one, and host detection. Importing this loads no native library: each backend
 * imports its runtime on first use.
 */
export type {
  Availability,
  BackendLoadOptions,
  InferenceBackend,
  LoadedModelHandle,
  ModelKind,
  ModelRunner,
  NamedTensors,
  RunningModel,
  TensorData,
  TensorInfo,
  TensorType,
} from './backend.js';
export {
  BUILTIN_PRIORITIES,
  createBackendRegistry,
  createDefaultBackendRegistry,
  defaultBackendRegistry,
  getBackend,
  optionsForTarget,
  registerBackend,
  resolveBackend,
  setDefaultBackendRegistry,
} from './registry.js';
export type { BackendRegistry, FailedCandidate, RegisteredBackend, ResolveRequest, ResolvedBackend } from './registry.js';
export { createOrtNodeBackend } from './ort-node-backend.js';
export type { OrtNodeBackendOptions, OrtNodeRuntime, OrtNodeSessionLike } from './ort-node-backend.js';
export { createOrtWebBackend } from './ort-web-backend.js';
export { createTfjsBackend } from './tfjs-backend.js';
export { checkFeeds } from './feeds.js';
export {
  hostArch,
  mlFeatures,
  parseCpuInfo,
  parseNvidiaDriverVersion,
  parseNvidiaSmiList,
  parseProcNvidiaInformation,
  rankTargets,
  readHostFacts,
  recommendTarget,
  systemHostReader,
  wasmFeatures,
} from './host.js';
export type { CpuInfo, GpuInfo, HostArch, HostCapabilities, HostFacts, HostReader, TargetFit } from './host.js';
export { hostReport } from './host-report.js';
export type { HostReport, HostReportOptions, ProviderStatus, RuntimeStatus } from './host-report.js';
export { findArm64Emulation, DEFAULT_ARM64_SYSROOT, DEFAULT_QEMU_CPU, SETUP_SCRIPT } from './emulation.js';
export type { Arm64Emulation } from './emulation.js';
export { hostNode } from './launcher.js';
export type { ChildLauncher } from './launcher.js';
export { startModelServer, MODEL_SERVER_SCRIPT } from './model-server.js';
export type { ModelServer, ModelServerOptions, ServedModel, ServerLoadOptions } from './model-server.js';
