/**
 * kiln as a library. Each area is a namespace (kiln.onnx, kiln.compiler, …) with its own index;
 * the few entry points most programs start from are also exported by name.
 *
 * ```ts
 * import { compileModel, startAgent, resolveAgentConfig } from 'kiln';
 * const { artifact } = await compileModel('model.onnx', { target: 'x86_64', calibrationData });
 * ```
 */
export * as onnx from './onnx/index.js';
export * as targets from './targets/index.js';
export * as numerics from './numerics/index.js';
export * as compiler from './compiler/index.js';
export * as runtime from './runtime/index.js';
export * as protocol from './protocol/index.js';
export * as zoo from './zoo/index.js';
export * as bench from './bench/index.js';
export * as agent from './edge-agent/index.js';
export * as importers from './importers/tfjs.js';

export { KilnError, ErrorCodes, isKilnError, type ErrorCode } from './errors.js';
export { KILN_VERSION } from './version.js';
export { kilnConfigDir } from './config-dir.js';
export { loadModel, saveModel } from './onnx/model.js';
export { compileModel, loadTarget } from './compiler/index.js';
export { checkArtifact } from './protocol/artifact.js';
export { startAgent, resolveAgentConfig } from './edge-agent/index.js';
export { runBench } from './bench/index.js';
export { convertTfjsModel } from './importers/tfjs.js';
