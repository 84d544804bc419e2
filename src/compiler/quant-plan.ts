/**
 * Choosing how to quantize: a pure function from (target profile, user options, facts about the
 * model) to a plan. No I/O; warnings go through the `warn` callback the caller passes in.
 */
import type { TargetProfile } from '../targets/profiles.js';

export type QuantizeMode = 'auto' | 'int8' | 'int8-dynamic' | 'fp16' | 'none';
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

export interface UserQuantOptions {
  /** @default the profile's compile.quantize */
  quantize?: QuantizeMode;
  /** @default the profile's compile.calibration */
  calibration?: CalibrationMethod;
  /** Only quantize these op types (e.g. ['Conv', 'MatMul']). */
  includeOps?: string[];
  /** Never quantize these op types. */
  excludeOps?: string[];
  /** Only quantize these node names. */
  includeNodes?: string[];
  /** Keep these node names in float. */
  excludeNodes?: string[];
  /** Override the profile's per-node measurement. */
  measurePerNode?: boolean;
}

export interface ModelFacts {
  /** Operator histogram (op type → count), default domain. */
  ops: Readonly<Record<string, number>>;
  /** Calibration samples are available (user data or the zoo's samples). */
  hasCalibrationData: boolean;
  /** The compiling CPU, for profiles that tune int8 to it (`reduceRange: 'auto'`). */
  cpu?: { model: string; int8Kernel: 'vnni' | 'avx2' | 'none' };
}

/** What a profile's `reduceRange: 'auto'` became on the compiling CPU, for the manifest. */
export interface Int8Tuning {
  cpu: string;
  int8Kernel: 'vnni' | 'avx2' | 'none';
  reduceRange: boolean;
  note: string;
}

interface PlanCommon {
  /** One sentence saying why this plan was chosen. */
  reason: string;
  includeOps?: string[];
  excludeOps: string[];
  includeNodes?: string[];
  excludeNodes: string[];
}

export type QuantPlan =
  | ({ mode: 'none' } & PlanCommon)
  | ({
      mode: 'int8';
      activations: 'uint8' | 'int8';
      weights: 'int8' | 'uint8';
      reduceRange: boolean;
      perChannel: boolean;
      calibration: CalibrationMethod;
      measurePerNode: boolean;
      tuning?: Int8Tuning;
    } & PlanCommon)
  | ({ mode: 'int8-dynamic'; reduceRange: boolean; perChannel: boolean; tuning?: Int8Tuning } & PlanCommon)
  | ({ mode: 'fp16'; keepFloat32Ops: string[] } & PlanCommon);

/** Ops whose fp16 results drift too far to run in half precision by default. */
export const FP16_KEEP_FLOAT32_OPS: readonly string[] = Object.freeze([
  'Range',
  'NonMaxSuppression',
  'TopK',
  'RoiAlign',
  'Resize',
  'CumSum',
  'Exp',
  'Pow',
  'ReduceSum',
  'ReduceProd',
  'ReduceLogSumExp',
  'Softplus',
  'Log',
  'Erf',
]);

const CONV_OPS = ['Conv', 'ConvTranspose'];
const MATMUL_OPS = ['MatMul', 'Gemm'];

const count = (ops: Readonly<Record<string, number>>, names: readonly string[]): number => names.reduce((a, n) => a + (ops[n] ?? 0), 0);

/**
 * 'auto': full-range weights where the compiling CPU has VNNI (exact u8×s8 dot products), 7-bit
 * weights where it has AVX2 only (VPMADDUBSW saturates full-range pairs) or is unknown.
 */
function resolveReduceRange(setting: boolean | 'auto', cpu: ModelFacts['cpu']): { reduceRange: boolean; tuning?: Int8Tuning } {
  if (setting !== 'auto') return { reduceRange: setting };
  const kernel = cpu?.int8Kernel ?? 'none';
  const reduceRange = kernel !== 'vnni';
  const note =
    kernel === 'vnni'
      ? 'VNNI on the compiling CPU: full-range int8 weights'
      : kernel === 'avx2'
        ? 'AVX2 without VNNI on the compiling CPU: 7-bit weights (VPMADDUBSW saturates full-range u8×s8 pairs)'
        : 'no VNNI or AVX2 seen on the compiling CPU: 7-bit weights, safe on every x86 int8 path';
  return { reduceRange, tuning: { cpu: cpu?.model ?? 'unknown', int8Kernel: kernel, reduceRange, note } };
}

export function resolveQuantPlan(profile: TargetProfile, user: UserQuantOptions, facts: ModelFacts, warn: (message: string) => void = () => {}): QuantPlan {
  const common = {
    includeOps: user.includeOps,
    excludeOps: user.excludeOps ?? [],
    includeNodes: user.includeNodes,
    excludeNodes: user.excludeNodes ?? [],
  };
  const requested = user.quantize ?? profile.compile.quantize;
  const int8 = profile.numerics.int8;
  const { reduceRange, tuning } = resolveReduceRange(int8.reduceRange, facts.cpu);
  const convs = count(facts.ops, CONV_OPS);
  const matmuls = count(facts.ops, MATMUL_OPS);

  const staticPlan = (reason: string): QuantPlan => ({
    mode: 'int8',
    activations: int8.activations,
    weights: int8.weights,
    reduceRange,
    perChannel: int8.perChannel,
    calibration: user.calibration ?? profile.compile.calibration,
    measurePerNode: user.measurePerNode ?? int8.measurePerNode,
    ...(tuning ? { tuning } : {}),
    reason,
    ...common,
  });
  const dynamicPlan = (reason: string): QuantPlan => ({
    mode: 'int8-dynamic',
    reduceRange,
    perChannel: int8.perChannel,
    ...(tuning ? { tuning } : {}),
    reason,
    ...common,
  });
  const fp16Plan = (reason: string): QuantPlan => ({ mode: 'fp16', keepFloat32Ops: [...FP16_KEEP_FLOAT32_OPS], reason, ...common });

  switch (requested) {
    case 'none':
      return { mode: 'none', reason: 'quantization turned off', ...common };
    case 'fp16':
      if (!profile.numerics.fast.includes('fp16')) {
        warn(`target ${profile.name} does not run fp16 fast: the artifact will be half the size but not faster (its runtime computes in fp32)`);
      }
      return fp16Plan('fp16 requested');
    case 'int8-dynamic':
      if (matmuls === 0) warn('the model has no MatMul/Gemm: dynamic int8 will change nothing');
      return dynamicPlan('dynamic int8 requested');
    case 'int8':
      if (!facts.hasCalibrationData) {
        warn('static int8 needs calibration data; none was given, so dynamic int8 is used (pass --calibration DIR)');
        return dynamicPlan('static int8 requested without calibration data');
      }
      return staticPlan('static int8 requested');
    case 'auto': {
      if (profile.numerics.fast[0] === 'fp16') return fp16Plan(`target ${profile.name} computes fastest in fp16`);
      if (!profile.numerics.fast.includes('int8')) return { mode: 'none', reason: `target ${profile.name} has no fast int8`, ...common };
      if (matmuls > convs) {
        return dynamicPlan(`MatMul/Gemm-heavy model (${matmuls} vs ${convs} convolutions): dynamic int8 needs no calibration`);
      }
      if (convs === 0) return { mode: 'none', reason: 'no Conv/MatMul/Gemm to quantize', ...common };
      if (!facts.hasCalibrationData) {
        warn('this convolutional model needs calibration data for int8; none was given, so it stays float (pass --calibration DIR)');
        return { mode: 'none', reason: 'convolutional model without calibration data', ...common };
      }
      return staticPlan(`convolutional model on ${profile.name}: static int8 with ${profile.compile.calibration} calibration`);
    }
  }
}
