/**
 * Is the compiled model faster where it will run? Float and compiled timed side by side,
 * interleaved, on the target's runtime; where the profile's own choice of quantization does not pay,
 * the float model ships instead.
 */
import type { ArtifactManifest } from '../../protocol/manifest.js';
import type { ModelProto } from '../../onnx/proto-types.js';
import type { DataSource } from '../io-spec.js';
import { timeSideBySide } from '../quantize/measure.js';
import type { QuantizeMode } from '../quant-plan.js';
import { budgetMargin, type Budget, type ModelRunner, type VerifyResult } from '../verify.js';
import type { Candidate } from './quantize.js';

export interface SpeedInput {
  best: Candidate;
  optimized: ModelProto;
  optimizedBytes: Uint8Array;
  evaluationSet: DataSource;
  runner: ModelRunner;
  requested: QuantizeMode;
  evaluate: (bytes: Uint8Array) => Promise<VerifyResult>;
  budget: Budget;
  step: (step: string, detail?: string) => void;
  warn: (message: string) => void;
}

export async function firstSample(data: DataSource) {
  for await (const sample of data.stream()) return sample;
  return undefined;
}

export async function speedStep(input: SpeedInput): Promise<{ best: Candidate; performance?: ArtifactManifest['performance'] }> {
  const { runner, warn } = input;
  let best = input.best;
  const mode = best.plan.mode;
  if (!runner.native || mode === 'none') return { best };
  input.step('time', `float vs ${mode} on ${runner.label}`);
  const sample = await firstSample(input.evaluationSet);
  if (!sample) return { best };
  const [floatMs, compiledMs] = await timeSideBySide(runner, [input.optimizedBytes, best.bytes], sample);
  let performance: ArtifactManifest['performance'] = { runtime: runner.label, floatMs, compiledMs, speedup: floatMs / compiledMs, note: 'median of 15 interleaved runs at compile time, batch as in the evaluation data; `kiln bench` measures properly' };
  if (compiledMs > floatMs * 1.05) {
    const why = `${mode} measured slower than float on ${runner.label}: ${compiledMs.toFixed(3)} ms vs ${floatMs.toFixed(3)} ms`;
    if (input.requested === 'auto') {
      // The target's own choice, and it does not pay here: ship the optimized float model.
      warn(`${why}; keeping the model in float (pass --quantize ${mode} to force it)`);
      const verifyFloat = await input.evaluate(input.optimizedBytes);
      best = { model: input.optimized, bytes: input.optimizedBytes, verify: verifyFloat, margin: budgetMargin(verifyFloat.outputs, input.budget), plan: { mode: 'none', reason: why, excludeOps: [], excludeNodes: [] }, quantizedNodes: 0, excluded: [] };
      performance = { ...performance, compiledMs: floatMs, speedup: 1, note: `${performance.note}; ${why}, so the float model was kept` };
    } else {
      warn(`${why}; consider --quantize none`);
    }
  }
  return { best, performance };
}
