/** The public surface of kiln's compiler: compile a model for a target, and the pieces it is built from. */
export { compileModel, unsupportedNodes, DEFAULT_EMULATED_SAMPLES, type CompileOptions, type CompileResult, type CompileEvent } from './compile.js';
export { readPipelineSource, checkPipelineSource, pipelineArtifactFiles, type PipelineSource, type ReadPipelineOptions } from './pipeline.js';
export {
  loadTarget,
  loadAllTargets,
  listBuiltinTargets,
  parseTargetProfile,
  missingFeatures,
  TargetProfileSchema,
  BUILTIN_TARGETS_DIR,
  type TargetProfile,
} from '../targets/profiles.js';
export { resolveQuantPlan, FP16_KEEP_FLOAT32_OPS, type QuantPlan, type QuantizeMode, type UserQuantOptions, type ModelFacts } from './quant-plan.js';
export {
  AbsHistogram,
  RunningRange,
  activationParams,
  calibratedRange,
  quantizeWeightsSymmetric,
  type CalibrationMethod,
  type Range,
  type QuantParams,
} from './calibration.js';
export { calibrate, withIntermediateOutputs, type Sample, type SampleStream, type CalibrationResult } from './quantize/calibrate.js';
export { quantizeQdq, QUANTIZABLE_OPS, type QdqOptions, type QdqReport } from './quantize/qdq.js';
export { quantizeDynamic, type DynamicOptions, type DynamicReport } from './quantize/dynamic.js';
export { measureNodes, timeModel, timeSideBySide, type NodeTiming } from './quantize/measure.js';
export { runPasses, CLEANUP_PASSES, type GraphPass, type PassResult } from './passes/cleanup.js';
export { upgradeOpset, upgradeModelOpset, type UpgradeResult } from './passes/upgrade-opset.js';
export { convertToFp16, DEFAULT_KEEP_FLOAT32_OPS, type Fp16Options, type Fp16Report } from './passes/fp16.js';
export {
  compareModels,
  budgetMargin,
  runnerForTarget,
  ortNodeRunner,
  ortWebRunner,
  emulatedArm64Runner,
  type ModelRunner,
  type RunnerChoice,
  type EmulatedRunnerOptions,
  type Budget,
  type VerifyResult,
} from './verify.js';
export { accumulate, figures, newAccumulator, cosineSimilarity, type OutputFigures } from './metrics.js';
export { inputSpecs, outputSpecs, memorySource, randomSource, subsetSource, concreteShape, type DataSource } from './io-spec.js';
export { openCalibrationData, calibrationFromSamples, type CalibrationSource, type CalibrationDataOptions, type ImagePreprocess } from './calibration-data.js';
