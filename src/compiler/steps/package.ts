/**
 * The last step of a compile: the manifest (what was done, verified and measured), signed and
 * packed with the model and the pipeline's files.
 */
import { basename } from 'node:path';
import { ort } from '../../runtime/ort-node.js';
import { MANIFEST_SCHEMA_VERSION, type ArtifactManifest } from '../../protocol/manifest.js';
import { canonicalJson, sha256Hex, writeArtifact, type WrittenArtifact } from '../../protocol/artifact.js';
import { kilnConfigDir } from '../../config-dir.js';
import { defaultSigningKey, loadSigningKey } from '../../protocol/signing.js';
import type { ModelProto } from '../../onnx/proto-types.js';
import type { PassResult } from '../passes/cleanup.js';
import type { QuantPlan } from '../quant-plan.js';
import type { CalibrationResult } from '../quantize/calibrate.js';
import type { TargetProfile } from '../../targets/profiles.js';
import type { Budget, ModelRunner } from '../verify.js';
import { inputSpecs, outputSpecs, type DataSource } from '../io-spec.js';
import { checkPipelineSource, pipelineArtifactFiles, type PipelineSource } from '../pipeline.js';
import { KILN_VERSION } from '../../version.js';
import type { Candidate } from './quantize.js';

export interface PackInput {
  sourcePath: string;
  source: ModelProto;
  sourceBytes: Uint8Array;
  sourceSha: string;
  modelName: string;
  modelVersion?: string;
  profile: TargetProfile;
  outDir: string;
  /** The plan the compile started from; `best.plan` is what shipped. */
  plan: QuantPlan;
  best: Candidate;
  ranges?: CalibrationResult;
  calibrationSet?: DataSource;
  passes: PassResult[];
  runner: ModelRunner;
  /** Set under emulation: how many of how many evaluation samples were verified. */
  emulatedSamples?: { verified: number; of: number };
  verifyLabel: string;
  budget: Budget;
  performance?: ArtifactManifest['performance'];
  pipeline?: PipelineSource;
  signKey?: string;
  cacheKey: string;
  seconds: number;
}

function quantizationOf({ best, plan, ranges, calibrationSet }: PackInput): ArtifactManifest['quantization'] {
  return {
    mode: best.plan.mode,
    reason: best.plan.reason,
    ...(best.plan.mode === 'int8' && plan.mode === 'int8'
      ? {
          activations: plan.activations,
          weights: plan.weights,
          reduceRange: plan.reduceRange,
          perChannel: plan.perChannel,
          calibration: { method: plan.calibration, samples: ranges?.samples ?? 0, source: calibrationSet!.label },
        }
      : {}),
    ...(best.plan.mode === 'int8-dynamic' && plan.mode === 'int8-dynamic'
      ? { weights: 'int8' as const, reduceRange: plan.reduceRange, perChannel: plan.perChannel }
      : {}),
    quantizedNodes: best.quantizedNodes,
    excludedNodes: best.excluded,
    ...(plan.mode !== 'none' && plan.mode !== 'fp16' && plan.tuning ? { tuning: plan.tuning } : {}),
    ...(best.decisions ? { decisions: best.decisions } : {}),
  };
}

function verificationOf({ runner, emulatedSamples, best, verifyLabel, budget }: PackInput): ArtifactManifest['verification'] {
  const capped = emulatedSamples && emulatedSamples.verified < emulatedSamples.of;
  return {
    runtime: runner.native || runner.emulated ? runner.label : `${runner.label} (stand-in: ${runner.note})`,
    ...(runner.emulated
      ? {
          note: `${runner.note}${capped ? `; ${emulatedSamples.verified} of ${emulatedSamples.of} evaluation samples verified (emulation is slow; maxEmulatedSamples / --emulated-samples raise it)` : ''}`,
        }
      : {}),
    samples: best.verify.samples,
    inputs: verifyLabel,
    outputs: best.verify.outputs,
    budget,
    passed: best.margin >= 0,
  };
}

export function buildManifest(input: PackInput): Omit<ArtifactManifest, 'files'> {
  const { source, sourceBytes, sourceSha, profile, best } = input;
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    kind: 'kiln-artifact',
    model: { name: input.modelName, version: input.modelVersion ?? sourceSha.slice(0, 12) },
    source: {
      file: basename(input.sourcePath),
      sha256: sourceSha,
      sizeBytes: sourceBytes.byteLength,
      irVersion: source.irVersion,
      opsets: Object.fromEntries(source.opsetImport.map((o) => [o.domain || 'ai.onnx', o.version])),
    },
    target: {
      name: profile.name,
      arch: profile.arch,
      backend: profile.runtime.backend,
      executionProviders: [...profile.runtime.executionProviders],
      profileSha256: sha256Hex(Buffer.from(canonicalJson(profile))),
    },
    inputs: inputSpecs(best.model),
    outputs: outputSpecs(best.model),
    quantization: quantizationOf(input),
    optimization: { passes: input.passes, runtimeLevel: profile.runtime.optimizationLevel },
    verification: verificationOf(input),
    sizes: { sourceBytes: sourceBytes.byteLength, artifactBytes: best.bytes.byteLength },
    ...(input.performance ? { performance: input.performance } : {}),
    build: {
      kilnVersion: KILN_VERSION,
      onnxruntimeVersion: ort.env.versions.node ?? ort.env.versions.common,
      compileSeconds: Math.round(input.seconds * 100) / 100,
      createdAt: new Date().toISOString(),
      cacheKey: input.cacheKey,
    },
  };
}

/** Sign and write the artifact (model, manifest, pipeline files) to `outDir`. */
export function signAndPack(input: PackInput): WrittenArtifact {
  const key = input.signKey ? loadSigningKey(input.signKey) : defaultSigningKey(kilnConfigDir());
  const manifest = buildManifest(input);
  // Again against the compiled model: its inputs and outputs are what the agent checks the pipeline with.
  const pipelineFiles = input.pipeline ? pipelineArtifactFiles(input.pipeline, checkPipelineSource(input.pipeline, manifest, 'the compiled model')) : {};
  return writeArtifact(input.outDir, manifest, { 'model.onnx': input.best.bytes, ...pipelineFiles }, key);
}
