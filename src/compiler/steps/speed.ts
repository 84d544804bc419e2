/**
 * Never slower than the baselines: the compiled model, the plain full-int8 QDQ graph (where the
 * plan is static int8) and the float model are timed side by side, interleaved, in rounds, on the
 * target's runtime, with a copy of the compiled model gauging the noise. kiln's model ships unless
 * a baseline beats it beyond that noise in every round; where quantization was the profile's own
 * choice and the float model wins, the float model ships.
 */
import type { ArtifactManifest } from '../../protocol/manifest.js';
import type { ModelProto } from '../../onnx/proto-types.js';
import { firstSample, type DataSource } from '../io-spec.js';
import { interleavedRounds, judge, median } from '../quantize/in-context.js';
import type { QuantizeMode } from '../quant-plan.js';
import { budgetMargin, type Budget, type ModelRunner, type VerifyResult } from '../verify.js';
import type { Candidate } from './quantize.js';

export interface SpeedInput {
  best: Candidate;
  /** The plain full-int8 QDQ graph, built (and verified) on demand. */
  plain?: () => Promise<Candidate>;
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

export async function speedStep(input: SpeedInput): Promise<{ best: Candidate; performance?: ArtifactManifest['performance'] }> {
  const { runner, warn } = input;
  let best = input.best;
  const mode = best.plan.mode;
  if (!runner.native || mode === 'none') return { best };
  const sample = await firstSample(input.evaluationSet);
  if (!sample) return { best };
  const plain = input.plain ? await input.plain() : undefined;
  input.step('time', `${mode} vs ${plain ? 'plain full-int8 QDQ vs ' : ''}float on ${runner.label}`);
  // 0: kiln's, 1: float, 2: kiln's again (noise gauge), 3: plain.
  const models = [best.bytes, input.optimizedBytes, best.bytes, ...(plain ? [plain.bytes] : [])];
  const rounds = await interleavedRounds(runner, models, sample, { rounds: 5 });
  const gauge = [0, 2] as const;
  const { noise } = judge(rounds, 0, 1, gauge);
  const [kilnMs, floatMs, , plainMs] = [0, 1, 2, 3].map((k) => (k < models.length ? median(rounds.map((r) => r[k])) : NaN));
  const figures = `${mode} ${kilnMs.toFixed(3)} ms${plain ? `, plain QDQ ${plainMs.toFixed(3)} ms` : ''}, float ${floatMs.toFixed(3)} ms; noise ${(100 * noise).toFixed(1)} %`;
  let shipped: 'kiln' | 'plain' | 'float' = 'kiln';
  let shippedIndex = 0;
  let note = `medians of 5 interleaved rounds at compile time, batch as in the evaluation data (${figures}); \`kiln bench\` measures properly`;

  if (plain && plain.margin >= 0 && judge(rounds, 0, 3, gauge).verdict === 'faster') {
    warn(`the plain full-int8 QDQ graph is faster than kiln's choices here (${figures}): shipping the plain one`);
    best = { ...plain, decisions: best.decisions };
    shipped = 'plain';
    shippedIndex = 3;
    note = `${note}; kiln's decisions were not faster than the plain QDQ graph, so the plain one was kept`;
  }
  // Float against the shipped model: 'faster' means the shipped one is slower than float.
  const floatIs = judge(rounds, shippedIndex, 1, gauge).verdict;
  if (floatIs === 'faster') {
    const why = `${mode} measured slower than float on ${runner.label} (${figures})`;
    if (input.requested === 'auto') {
      // The target's own choice, and it does not pay here: ship the optimized float model.
      warn(`${why}; keeping the model in float (pass --quantize ${mode} to force it)`);
      const verifyFloat = await input.evaluate(input.optimizedBytes);
      best = {
        model: input.optimized,
        bytes: input.optimizedBytes,
        verify: verifyFloat,
        margin: budgetMargin(verifyFloat.outputs, input.budget),
        plan: { mode: 'none', reason: why, excludeOps: [], excludeNodes: [] },
        quantizedNodes: 0,
        excluded: [],
        decisions: best.decisions,
      };
      shipped = 'float';
      shippedIndex = 1;
      note = `${note}; ${why}, so the float model was kept`;
    } else {
      warn(`${why}; consider --quantize none`);
    }
  } else if (floatIs === 'same') {
    // Undecided keeps int8: not slower, and a quarter of the size.
    const line = `${mode} is not measurably faster than float on ${runner.label} (${figures}): kept ${mode} for its size`;
    warn(line);
    note = `${note}; ${line}`;
  }
  const compiledMs = median(rounds.map((r) => r[shippedIndex]));
  return {
    best,
    performance: { runtime: runner.label, floatMs, compiledMs, speedup: floatMs / compiledMs, ...(plain ? { plainMs } : {}), shipped, note },
  };
}
