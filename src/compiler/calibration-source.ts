/**
 * The CalibrationSource interface and its one implementation: an ordered view over a table of
 * samples that are read on demand. A source holds sample *positions* (numbers) and a loader, never
 * sample tensors: each iteration step reads one sample, hands it over, and keeps no reference to it,
 * so memory stays flat however many samples there are. Sources can be iterated any number of times
 * (percentile and entropy calibration take two passes).
 */
import { KilnError } from '../errors.js';
import { mulberry32 } from '../onnx/random.js';
import type { CalibrationSample, ResolvedInputSpec } from '../numerics/input-tensors.js';

/** Where samples come from: a fixed number of samples, each read on demand. */
export interface SampleTable {
  readonly count: number;
  /** Read sample `index` (0 ≤ index < count) into fresh tensors. */
  load(index: number): Promise<CalibrationSample>;
  /** Where sample `index` comes from, for messages: 'calib/cat.jpg', 'calib.json[3]'. */
  describe(index: number): string;
}

export interface CalibrationSplit {
  /** The samples used to collect activation statistics. */
  calibration: CalibrationSource;
  /** The samples held out to verify the compiled model. */
  evaluation: CalibrationSource;
}

/** A re-iterable stream of named input samples for one model. */
export interface CalibrationSource extends AsyncIterable<CalibrationSample> {
  /** How many samples one iteration yields. */
  readonly count: number;
  /** The model's inputs, with the user's shapes applied; every sample has one tensor per input. */
  readonly inputsSpec: readonly ResolvedInputSpec[];
  /** Where the samples come from: a path, or 'samples in memory'. */
  readonly origin: string;
  /** Where sample `i` of this source comes from, for messages. */
  describe(i: number): string;
  /** Read sample `i` of this source (fresh tensors each call). */
  get(i: number): Promise<CalibrationSample>;
  /**
   * Hold out about `holdOutFraction` of the samples (at least one when the fraction is above 0 and
   * there are two or more samples; never all) for evaluation. The same fraction, seed and count
   * always give the same split; both halves keep this source's order.
   */
  split(holdOutFraction: number, seed?: number): CalibrationSplit;
  /** The first `n` samples (all of them when there are fewer). */
  limit(n: number): CalibrationSource;
}

/** Make a source over every sample of `table`. */
export function createCalibrationSource(table: SampleTable, inputsSpec: readonly ResolvedInputSpec[], origin: string): CalibrationSource {
  return new TableSource(
    table,
    Array.from({ length: table.count }, (_, i) => i),
    inputsSpec,
    origin,
  );
}

class TableSource implements CalibrationSource {
  constructor(
    private readonly table: SampleTable,
    /** Positions in `table`, in iteration order. */
    private readonly positions: readonly number[],
    readonly inputsSpec: readonly ResolvedInputSpec[],
    readonly origin: string,
  ) {}

  get count(): number {
    return this.positions.length;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<CalibrationSample, void, undefined> {
    for (const position of this.positions) yield await this.table.load(position);
  }

  get(i: number): Promise<CalibrationSample> {
    return this.table.load(this.position(i));
  }

  describe(i: number): string {
    return this.table.describe(this.position(i));
  }

  split(holdOutFraction: number, seed = 0): CalibrationSplit {
    if (typeof holdOutFraction !== 'number' || !(holdOutFraction >= 0 && holdOutFraction < 1)) {
      throw new KilnError('BAD_OPTION', `hold-out fraction ${String(holdOutFraction)} is not in [0, 1)`, {
        hint: 'use e.g. 0.2 to keep a fifth of the samples for evaluation',
      });
    }
    if (!Number.isSafeInteger(seed)) throw new KilnError('BAD_OPTION', `split seed ${String(seed)} is not an integer`);
    const n = this.positions.length;
    const held = n < 2 ? 0 : Math.min(n - 1, Math.max(holdOutFraction > 0 ? 1 : 0, Math.round(n * holdOutFraction)));
    // Fisher–Yates over the first `held` slots picks a uniformly random subset.
    const order = Array.from({ length: n }, (_, i) => i);
    const random = mulberry32(seed);
    for (let i = 0; i < held; i++) {
      const j = i + Math.floor(random() * (n - i));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const isHeld = new Uint8Array(n);
    for (let i = 0; i < held; i++) isHeld[order[i]] = 1;
    const pick = (want: number): number[] => this.positions.filter((_, i) => isHeld[i] === want);
    return {
      calibration: new TableSource(this.table, pick(0), this.inputsSpec, this.origin),
      evaluation: new TableSource(this.table, pick(1), this.inputsSpec, this.origin),
    };
  }

  limit(n: number): CalibrationSource {
    if (!Number.isSafeInteger(n) || n < 0) throw new KilnError('BAD_OPTION', `sample limit ${String(n)} is not a non-negative integer`);
    return new TableSource(this.table, this.positions.slice(0, n), this.inputsSpec, this.origin);
  }

  private position(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.positions.length) {
      throw new RangeError(`sample index ${i} is outside 0..${this.positions.length - 1} (${this.origin})`);
    }
    return this.positions[i];
  }
}
