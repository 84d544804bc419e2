/** Speed decisions made in context: the judgement (pure), the regions tried, and that two compiles decide alike. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCnn } from '../../src/onnx/builder.js';
import { Graph } from '../../src/onnx/graph.js';
import { saveModel } from '../../src/onnx/model.js';
import { compileModel } from '../../src/compiler/compile.js';
import { memorySource } from '../../src/compiler/io-spec.js';
import { calibrate } from '../../src/compiler/quantize/calibrate.js';
import { candidateRegions, interleavedRounds, judge } from '../../src/compiler/quantize/in-context.js';
import type { ModelRunner } from '../../src/compiler/verify.js';
import { KilnError } from '../../src/errors.js';
import type { SpeedDecision } from '../../src/protocol/manifest.js';
import { randomData, randomSamples, tempDir } from './helpers.js';

/** Rounds of [base, other, copy of base] latencies. */
const rounds = (pairs: [number, number, number][]) => pairs;
/** The judge's verdict on rounds of [current, candidate, copy of current] times. */
const verdictOf = (pairs: [number, number, number][]) => judge(rounds(pairs), 0, 1, [0, 2]).verdict;

describe('judge: a region goes to float only beyond the noise of its own rounds', () => {
  it('faster in every round, beyond 2 × the copy-vs-base noise → faster', () => {
    const c = judge(
      rounds([
        [10, 8.9, 10.1],
        [10.2, 9, 10.1],
        [9.9, 8.8, 10],
        [10, 9.1, 9.9],
        [10.1, 9, 10],
      ]),
      0,
      1,
      [0, 2],
    );
    expect(c.verdict).toBe('faster');
    expect(c.noise).toBeCloseTo(0.0099, 3);
    expect(c.threshold).toBeCloseTo(0.03, 2);
  });
  it('the same gain under heavy noise → same (int8 kept)', () => {
    const c = judge(
      rounds([
        [10, 8.9, 12],
        [10.2, 9, 8],
        [9.9, 8.8, 12.5],
        [10, 9.1, 7.9],
        [10.1, 9, 12],
      ]),
      0,
      1,
      [0, 2],
    );
    expect(c.noise).toBeGreaterThan(0.15);
    expect(c.verdict).toBe('same');
  });
  it('a gain below 3 % → same, however quiet; one contrary round of five is allowed, two are not', () => {
    expect(
      verdictOf([
        [10, 9.9, 10],
        [10, 9.9, 10],
        [10, 9.9, 10],
        [10, 9.9, 10],
        [10, 9.9, 10],
      ]),
    ).toBe('same');
    expect(
      verdictOf([
        [10, 9, 10],
        [10, 9, 10],
        [10, 9, 10],
        [10, 9, 10],
        [10, 10.5, 10],
      ]),
    ).toBe('faster');
    expect(
      verdictOf([
        [10, 9, 10],
        [10, 9, 10],
        [10, 9, 10],
        [10, 10.5, 10],
        [10, 10.5, 10],
      ]),
    ).toBe('same');
    expect(
      verdictOf([
        [10, 12, 10],
        [10, 12, 10],
        [10, 12, 10],
        [10, 12, 10],
        [10, 12, 10],
      ]),
    ).toBe('slower');
  });
});

describe('interleavedRounds: equal models time equal whichever model runs before them', () => {
  /**
   * A stand-in runner (no onnxruntime: the effect must be exact) whose model 0 is "big": a run right
   * after a run of model 0 costs 1 ms more, as an int8 model pays for a float model's weights
   * leaving the caches. Each run busy-waits its cost, so the fastest run per round is that cost.
   */
  function standInRunner(order: number[]): ModelRunner {
    let last = -1;
    return {
      label: 'stand-in runner (busy-waits)',
      native: true,
      async load(bytes) {
        const id = bytes[0];
        return {
          async run() {
            const cost = 2 + (last === 0 && id !== 0 ? 1 : 0);
            last = id;
            order.push(id);
            const end = performance.now() + cost;
            while (performance.now() < end);
            return {};
          },
          async release() {},
        };
      },
    };
  }
  it("two identical models after a big one: the same latency, not the big one's successor paying for it", async () => {
    const order: number[] = [];
    const rounds = await interleavedRounds(standInRunner(order), [Uint8Array.of(0), Uint8Array.of(1), Uint8Array.of(2)], {}, { rounds: 3, iterations: 7 });
    expect(rounds).toHaveLength(3);
    for (const [, a, copy] of rounds) {
      expect(a).toBeLessThan(2.5);
      expect(copy).toBeLessThan(2.5);
    }
    // 3 warm-up runs each, then per round and model 7 bursts of 1 timed run (at least 4 cycles), each after an untimed run.
    expect(order).toHaveLength(3 * 3 + 3 * 3 * (7 + 7));
    // The order reverses every other cycle: model 1 runs after model 2 as well as after model 0.
    expect(order.some((id, i) => id === 1 && order[i - 1] === 2)).toBe(true);
  });
});

describe('candidate regions', () => {
  it('groups the quantized nodes by op kind: Add, Gemm, the first Conv, each node in one region only', async () => {
    const model = buildCnn({ inputShape: [1, 3, 32, 32], residual: true });
    const cal = await calibrate(
      model,
      async function* () {
        yield* randomSamples('input', [1, 3, 32, 32], 2);
      },
      { method: 'minmax' },
    );
    const g = Graph.fromModel(model);
    const all = new Set(g.nodes.map((n) => n.name));
    const regions = candidateRegions(g, all, cal.shapes);
    const labels = regions.map((r) => r.label.replace(/ \(.*$/, ''));
    expect(labels).toEqual(expect.arrayContaining(['Add', 'Gemm / MatMul', 'first Conv']));
    const names = regions.flatMap((r) => r.nodes);
    expect(new Set(names).size).toBe(names.length);
    expect(regions.find((r) => r.label.startsWith('first Conv'))!.nodes).toHaveLength(1);
    // Nodes not in int8 are never tried.
    expect(candidateRegions(g, new Set(), cal.shapes)).toEqual([]);
  });
});

describe('kiln compile: decisions in context', () => {
  it('two compiles of the same model and calibration give the same decisions, unless their own timings differ', { timeout: 90_000 }, async () => {
    const dir = tempDir('kiln-decide-');
    const path = join(dir, 'cnn.onnx');
    saveModel(buildCnn({ inputShape: [1, 3, 32, 32], residual: true }), path);
    process.env.KILN_HOME = join(dir, 'home');
    const compile = (out: string, measurePerNode?: boolean) =>
      compileModel(path, {
        target: 'x86_64',
        quantize: 'int8',
        measurePerNode,
        calibrationData: randomData('input', [1, 3, 32, 32], 10),
        outDir: join(dir, out),
        cache: false,
      });
    // Without timings in play, the build itself is deterministic: the same bytes.
    const [p, q] = [await compile('p', false), await compile('q', false)];
    expect(readFileSync(join(q.artifact.dir, 'model.onnx'))).toEqual(readFileSync(join(p.artifact.dir, 'model.onnx')));
    const [a, b] = [(await compile('a')).manifest.quantization, (await compile('b')).manifest.quantization];
    expect(b.decisions!.map((d) => d.region)).toEqual(a.decisions!.map((d) => d.region));
    // On this shared machine timings do differ between runs. Where a decision differs, so do the
    // timings behind it: the undecided one's median ratio is within its own noise threshold (or its
    // rounds disagree), and float against int8 needs median ratios on opposite sides of 1 by more
    // than the thresholds.
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
    const thresholdOf = (d: SpeedDecision) => Math.max(0.03, 2 * d.noise);
    a.decisions!.forEach((da, i) => {
      const db = b.decisions![i];
      if (da.decision === db.decision) return;
      const [ma, mb] = [median(da.ratios), median(db.ratios)];
      if (da.decision !== 'undecided' && db.decision !== 'undecided') {
        expect(Math.abs(ma - mb)).toBeGreaterThan(Math.min(thresholdOf(da), thresholdOf(db)));
        return;
      }
      const u = da.decision === 'undecided' ? da : db;
      const contrary = Math.min(u.ratios.filter((r) => r >= 1).length, u.ratios.filter((r) => r <= 1).length);
      expect(Math.abs(median(u.ratios) - 1) <= thresholdOf(u) || contrary >= 2 || u.ratios.length > 5).toBe(true);
    });
    // Same decisions → the same nodes in float.
    const floatOf = (x: typeof a) =>
      x
        .decisions!.filter((d) => d.decision === 'float')
        .flatMap((d) => d.nodes)
        .sort();
    if (floatOf(a).join() === floatOf(b).join()) expect(b.excludedNodes.map((e) => e.name).sort()).toEqual(a.excludedNodes.map((e) => e.name).sort());
  });

  it('BAD INPUT: calibration samples of the wrong shape or dtype fail in one line, and nothing is written', async () => {
    const dir = tempDir('kiln-badcal-');
    const path = join(dir, 'cnn.onnx');
    saveModel(buildCnn({ inputShape: [1, 3, 32, 32] }), path);
    process.env.KILN_HOME = join(dir, 'home');
    const wrongShape = randomData('input', [1, 3, 16, 16], 4);
    const wrongType = memorySource(
      'int32 samples',
      Array.from({ length: 4 }, () => ({ input: { type: 'int32', dims: [1, 3, 32, 32], data: new Int32Array(3 * 32 * 32) } })),
    );
    for (const [data, pattern] of [
      [wrongShape, /calibration sample 1 .*: input 'input' is \[1, 3, 16, 16\], the model takes \[1, 3, 32, 32\]/],
      [wrongType, /calibration sample 1 .*: input 'input' is int32, the model takes float32/],
    ] as const) {
      const out = join(dir, 'never');
      const err = await compileModel(path, { target: 'x86_64', quantize: 'int8', calibrationData: data, outDir: out, cache: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KilnError);
      expect((err as KilnError).code).toBe('CALIBRATION_DATA');
      expect((err as Error).message).toMatch(pattern);
      expect((err as Error).message.split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    }
    expect(readdirSync(dir).filter((f) => f !== 'home')).toEqual(['cnn.onnx']);
  });
});
