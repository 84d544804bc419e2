/**
 * Audio for the zoo's audio models, pure: deterministic synthetic signals and the framing rule
 * (new samples prefixed by the tail of the previous frame) that Silero VAD v5/v6 expect.
 */
import { mulberry32 } from '../../onnx/random.js';

export type SyntheticSignal = 'silence' | 'tone' | 'noise' | 'voiced';

/** F1..F3 in Hz of the vowels /a/, /i/, /u/, /e/, /o/. */
const VOWELS: readonly (readonly [number, number, number])[] = [
  [700, 1220, 2600],
  [300, 2300, 3000],
  [300, 870, 2240],
  [530, 1840, 2480],
  [570, 840, 2410],
];
const FORMANT_GAIN = [1, 0.5, 0.25] as const;
const FORMANT_WIDTH = [90, 110, 170] as const;

export interface SynthesizeOptions {
  /** @default 16000 */
  sampleRate?: number;
  /** Index of the first sample, so consecutive calls continue one signal. @default 0 */
  offset?: number;
  /** Peak amplitude in [-1, 1] units. @default 0.3 */
  amplitude?: number;
  /** Seed of the noise generator. @default 1 */
  seed?: number;
}

/**
 * `samples` samples of a synthetic signal in [-1, 1] units:
 * - silence: zeros;
 * - tone: a 440 Hz sine;
 * - noise: white noise;
 * - voiced: a speech-like sound, four syllables a second of changing vowels on a falling pitch.
 *   Silero VAD v5/v6 rate it as speech when fed with their 64-sample context (and v6 not without).
 */
export function synthesize(kind: SyntheticSignal, samples: number, options: SynthesizeOptions = {}): Float32Array {
  if (!Number.isInteger(samples) || samples < 0) throw new RangeError(`synthesize: samples must be a non-negative integer (got ${samples})`);
  const rate = options.sampleRate ?? 16000;
  const offset = options.offset ?? 0;
  const amp = options.amplitude ?? 0.3;
  const out = new Float32Array(samples);
  switch (kind) {
    case 'silence':
      return out;
    case 'tone':
      for (let i = 0; i < samples; i++) out[i] = amp * Math.sin((2 * Math.PI * 440 * (i + offset)) / rate);
      return out;
    case 'noise': {
      const rnd = mulberry32((options.seed ?? 1) + offset);
      for (let i = 0; i < samples; i++) out[i] = amp * (2 * rnd() - 1);
      return out;
    }
    case 'voiced': {
      // Four syllables a second cycling through five vowels (formants F1..F3), pitch falling
      // 140 → 110 Hz in each syllable with a 5 Hz wobble, harmonics up to 7 kHz, light breath noise.
      const rnd = mulberry32(options.seed ?? 1);
      let phase = (2 * Math.PI * 140 * offset) / rate;
      for (let i = 0; i < samples; i++) {
        const t = (i + offset) / rate;
        const syllable = Math.floor(t * 4);
        const within = t * 4 - syllable;
        const formants = VOWELS[syllable % VOWELS.length];
        const f0 = 140 - 30 * within + 10 * Math.sin(2 * Math.PI * 5 * t);
        phase += (2 * Math.PI * f0) / rate;
        let v = 0;
        for (let h = 1; h < 40 && h * f0 < 7000; h++) {
          const f = h * f0;
          let gain = 0;
          for (let k = 0; k < 3; k++) gain += FORMANT_GAIN[k] * Math.exp(-((f - formants[k]) ** 2) / (2 * FORMANT_WIDTH[k] ** 2));
          v += (gain * Math.sin(h * phase)) / Math.sqrt(h);
        }
        out[i] = amp * (0.6 + 0.4 * Math.sin(2 * Math.PI * 4 * t)) * (v + 0.02 * (2 * rnd() - 1));
      }
      return out;
    }
  }
}

/**
 * Model inputs for a stream, frame by frame: each is `context` samples of what came before (zeros
 * at the start) followed by `frameSamples` new samples. A trailing partial frame is dropped.
 */
export function frameStream(audio: Float32Array, frameSamples: number, context: number): Float32Array[] {
  if (!Number.isInteger(frameSamples) || frameSamples <= 0) throw new RangeError(`frameStream: frameSamples must be a positive integer (got ${frameSamples})`);
  if (!Number.isInteger(context) || context < 0 || context > frameSamples)
    throw new RangeError(`frameStream: context must be an integer in [0, frameSamples] (got ${context})`);
  const frames: Float32Array[] = [];
  for (let start = 0; start + frameSamples <= audio.length; start += frameSamples) {
    const frame = new Float32Array(context + frameSamples);
    const from = start - context;
    if (from >= 0) frame.set(audio.subarray(from, start + frameSamples));
    else frame.set(audio.subarray(0, start + frameSamples), -from);
    frames.push(frame);
  }
  return frames;
}
