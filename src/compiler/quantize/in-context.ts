/**
 * Speed decisions made in context. One int8 node timed alone says little: in the whole model a
 * float node costs DQ/Q pairs and layout reorders around it, and onnxruntime's NHWC int8 chain
 * breaks (see shared/notes/platform-facts.md). So kiln starts from the full-int8 model and tries
 * each region in float *in the whole model*: both models and a copy of the current one run
 * interleaved, in rounds; the copy measures the noise of those very rounds. A region goes to float
 * only when the whole model gets faster beyond that noise (median over rounds, and in all rounds
 * but at most one), twice in a row; anything less keeps int8.
 */
import { attrInt } from '../../onnx/nodes.js';
import type { Graph } from '../../onnx/graph.js';
import type { SpeedDecision } from '../../protocol/manifest.js';
import type { Sample } from './calibrate.js';
import type { ModelRunner } from '../verify.js';

export interface RoundsOptions {
  /** Interleaved rounds; a decision must hold in each. @default 5 */
  rounds?: number;
  /** Timed runs of each model per round; default: about 120 ms of runs, 5 to 30. */
  iterations?: number;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The fastest run: on a shared machine other processes only ever add time, so the low end is the model's own cost. */
const fastest = (xs: readonly number[]): number => Math.min(...xs);

/** Timed runs of one model in a row (at most), after one untimed run of it. */
const BURST = 5;

/**
 * Per round, each model's latency (ms; the fastest of its runs in that round). Models run
 * interleaved in bursts (A×5, B×5, C×5, C×5, B×5, A×5, …: the order rotated each round and reversed
 * every other cycle), so load from other processes hits them alike. A model run right after another
 * one pays for it (measured: an int8 model timed right after the fp32 one was 1–4 % slower than a
 * byte-identical copy of itself, and an untimed run first did not cure it), and rotation alone
 * never changes which model runs after which. So each burst starts with an untimed run, and each
 * model has cycles after each of its neighbours: its fastest run is its own cost.
 */
export async function interleavedRounds(runner: ModelRunner, models: readonly Uint8Array[], sample: Sample, options: RoundsOptions = {}): Promise<number[][]> {
  const loaded = [];
  try {
    for (const bytes of models) loaded.push(await runner.load(bytes));
    const warm = performance.now();
    for (let i = 0; i < 3; i++) for (const m of loaded) await m.run(sample);
    const perRun = (performance.now() - warm) / (3 * loaded.length);
    const iterations = options.iterations ?? Math.max(5, Math.min(30, Math.round(120 / Math.max(perRun, 0.1))));
    // At least four cycles per round, so that each model has cycles after each of its neighbours.
    const burst = Math.max(1, Math.min(BURST, Math.floor(iterations / 4)));
    const rounds: number[][] = [];
    for (let r = 0; r < (options.rounds ?? 5); r++) {
      const times = loaded.map(() => [] as number[]);
      for (let done = 0, cycle = 0; done < iterations; done += burst, cycle++) {
        for (let j = 0; j < loaded.length; j++) {
          // Every other cycle in reverse, so no model always follows the same one.
          const k = (cycle % 2 ? loaded.length - 1 - j + r : j + r) % loaded.length;
          await loaded[k].run(sample);
          for (let i = 0; i < Math.min(burst, iterations - done); i++) {
            const t = performance.now();
            await loaded[k].run(sample);
            times[k].push(performance.now() - t);
          }
        }
      }
      rounds.push(times.map(fastest));
    }
    return rounds;
  } finally {
    for (const m of loaded) await m.release();
  }
}

/** Below this, a difference is never a decision: it would flip between compiles. */
export const MIN_GAIN = 0.03;

export interface Comparison {
  /** Medians over rounds, ms. */
  baseMs: number;
  otherMs: number;
  /** other / base per round. */
  ratios: number[];
  /** Median relative difference between base and its identical copy, over the rounds. */
  noise: number;
  /** The smallest difference that counts: max(3 %, 2 × noise). */
  threshold: number;
  /** 'faster': other beats base beyond the threshold (median) and in all rounds but at most one; 'slower' likewise; else 'same'. */
  verdict: 'faster' | 'slower' | 'same';
}

/**
 * Judge model `other` against model `base` over interleaved rounds; `gauge` names two identical
 * models timed in the same rounds, whose difference is the noise.
 */
export function judge(rounds: readonly (readonly number[])[], base: number, other: number, gauge: readonly [number, number]): Comparison {
  const ratios = rounds.map((r) => r[other] / r[base]);
  const noise = median(rounds.map((r) => Math.abs(r[gauge[1]] / r[gauge[0]] - 1)));
  const threshold = Math.max(MIN_GAIN, 2 * noise);
  const m = median(ratios);
  const allBut = (pass: (x: number) => boolean) => ratios.filter((x) => !pass(x)).length <= (ratios.length >= 5 ? 1 : 0);
  const verdict = m < 1 - threshold && allBut((x) => x < 1) ? 'faster' : m > 1 + threshold && allBut((x) => x > 1) ? 'slower' : 'same';
  return { baseMs: median(rounds.map((r) => r[base])), otherMs: median(rounds.map((r) => r[other])), ratios, noise, threshold, verdict };
}

/** Time `other` against `base`, with a copy of `base` in the same rounds as the noise gauge. */
export async function compareInContext(
  runner: ModelRunner,
  base: Uint8Array,
  other: Uint8Array,
  sample: Sample,
  options: RoundsOptions = {},
): Promise<Comparison> {
  return judge(await interleavedRounds(runner, [base, other, base], sample, options), 0, 1, [0, 2]);
}

export interface Region {
  /** e.g. 'Mul with a broadcast input'. */
  label: string;
  nodes: string[];
}

/**
 * The regions worth trying in float, from the float graph and the names of its nodes now in int8:
 * op-type groups whose int8 kernels are known to vary by CPU and runtime (broadcasting QLinearMul,
 * lookup-table Sigmoid, depthwise and first convolutions, glue), smallest expected cost first.
 * `shapes` holds each activation's calibrated dims.
 */
export function candidateRegions(graph: Graph, quantized: ReadonlySet<string>, shapes: ReadonlyMap<string, readonly number[]>): Region[] {
  const dims = (name: string): readonly number[] | undefined => shapes.get(name) ?? graph.initializers.get(name)?.dims;
  const sameShape = (a?: readonly number[], b?: readonly number[]) => !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i]);
  const isInput = new Set(graph.inputs.map((i) => i.name));
  const groups: [string, (n: (typeof graph.nodes)[number]) => boolean][] = [
    ['Mul with a broadcast input', (n) => n.opType === 'Mul' && !sameShape(dims(n.input[0]), dims(n.input[1]))],
    ['Mul (elementwise)', (n) => n.opType === 'Mul' && sameShape(dims(n.input[0]), dims(n.input[1]))],
    ['Sigmoid', (n) => n.opType === 'Sigmoid'],
    ['Concat', (n) => n.opType === 'Concat'],
    ['Add', (n) => n.opType === 'Add'],
    ['pooling (GlobalAveragePool, AveragePool)', (n) => n.opType === 'GlobalAveragePool' || n.opType === 'AveragePool'],
    ['MaxPool', (n) => n.opType === 'MaxPool'],
    ['Gemm / MatMul', (n) => n.opType === 'Gemm' || n.opType === 'MatMul'],
    ['first Conv (reads a model input)', (n) => n.opType === 'Conv' && isInput.has(n.input[0])],
    ['depthwise Conv', (n) => n.opType === 'Conv' && attrInt(n, 'group', 1) > 1 && attrInt(n, 'group', 1) === (dims(n.input[0])?.[1] ?? -1)],
  ];
  const taken = new Set<string>();
  const regions: Region[] = [];
  for (const [label, match] of groups) {
    const nodes = graph.nodes.filter((n) => quantized.has(n.name) && !taken.has(n.name) && match(n)).map((n) => n.name);
    for (const n of nodes) taken.add(n);
    if (nodes.length) regions.push({ label: `${label} (${nodes.length} node${nodes.length > 1 ? 's' : ''})`, nodes });
  }
  return regions;
}

export interface DecideInput {
  runner: ModelRunner;
  sample: Sample;
  /** The full-int8 model, as bytes. */
  start: Uint8Array;
  regions: readonly Region[];
  /** The model with these nodes (cumulative) in float. */
  build: (floatNodes: readonly string[]) => Uint8Array;
  rounds?: RoundsOptions;
  onRegion?: (done: number, total: number, region: Region) => void;
}

/** Try each region in float in the current model; keep a revert only when the whole model is faster beyond noise. */
export async function decideInContext(input: DecideInput): Promise<{ bytes: Uint8Array; floatNodes: string[]; decisions: SpeedDecision[] }> {
  let current = input.start;
  const floatNodes: string[] = [];
  const decisions: SpeedDecision[] = [];
  let done = 0;
  for (const region of input.regions) {
    input.onRegion?.(++done, input.regions.length, region);
    const candidate = input.build([...floatNodes, ...region.nodes]);
    let c = await compareInContext(input.runner, current, candidate, input.sample, input.rounds);
    if (c.verdict === 'faster') {
      // Confirmed by a second, independent set of rounds: a borderline gain must not flip between compiles.
      const again = await compareInContext(input.runner, current, candidate, input.sample, input.rounds);
      const ratios = [...c.ratios, ...again.ratios];
      c =
        again.verdict === 'faster'
          ? { ...again, ratios, baseMs: median([c.baseMs, again.baseMs]), otherMs: median([c.otherMs, again.otherMs]), noise: Math.max(c.noise, again.noise) }
          : { ...again, verdict: 'same', ratios };
    }
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
    const figures = `whole model ${c.baseMs.toFixed(3)} ms in int8 vs ${c.otherMs.toFixed(3)} ms with it in float, median ratio per round ${median(c.ratios).toFixed(3)}; noise ${pct(c.noise)}, threshold ${pct(c.threshold)}`;
    let decision: SpeedDecision['decision'];
    let why: string;
    if (c.verdict === 'faster') {
      decision = 'float';
      why = `float is faster beyond noise (${figures})`;
      current = candidate;
      floatNodes.push(...region.nodes);
    } else if (c.verdict === 'slower') {
      decision = 'int8';
      why = `int8 is faster beyond noise (${figures})`;
    } else {
      decision = 'undecided';
      why = `no difference beyond noise, int8 kept (${figures})`;
    }
    decisions.push({
      region: region.label,
      nodes: region.nodes,
      int8Ms: c.baseMs,
      floatMs: c.otherMs,
      ratios: c.ratios.map((r) => Math.round(r * 1e4) / 1e4),
      noise: Math.round(c.noise * 1e4) / 1e4,
      decision,
      why,
    });
  }
  return { bytes: current, floatNodes, decisions };
}
