/**
 * Silero VAD fed as the catalog says (frames, context, state fed back, sr constant): low speech
 * probability on silence and on a pure tone, high on a speech-like signal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrtSession } from '../../src/runtime/ort-node.js';
import {
  frameStream,
  getEntry,
  listModels,
  makeTensor,
  resolveModel,
  sampleInputs,
  synthesize,
  type AudioFeed,
  type SampleFeeds,
  type SyntheticSignal,
  type TensorSpec,
} from '../../src/zoo/index.js';
import { openSession, run } from './helpers.js';

const VADS = listModels({ task: 'voice-activity-detection' }).map((m) => m.name);
const sessions: Record<string, OrtSession> = {};
beforeAll(async () => {
  for (const name of VADS) sessions[name] = await openSession(resolveModel(name).path, name);
});
afterAll(async () => {
  for (const s of Object.values(sessions)) await s.release();
});

/** Speech probability per frame over a stream, using only the catalog's feed description. */
async function stream(name: string, signal: SyntheticSignal, seconds: number, override: Partial<AudioFeed> = {}): Promise<number[]> {
  const entry = getEntry(name);
  expect(entry.feed.kind).toBe('audio');
  const feed = { ...(entry.feed as AudioFeed), ...override };
  const spec = (n: string): TensorSpec => entry.inputs.find((t) => t.name === n) as TensorSpec;
  const dims = (s: TensorSpec): number[] => s.shape.map((d) => (typeof d === 'number' ? d : 1));
  const audio = synthesize(signal, Math.round(seconds * feed.sampleRate), { sampleRate: feed.sampleRate });
  const state: SampleFeeds = {};
  for (const s of feed.state) state[s.input] = makeTensor(spec(s.input).dtype, dims(spec(s.input)), 0);
  const probs: number[] = [];
  const probOutput = entry.outputs[0].name;
  for (const frame of frameStream(audio, feed.frameSamples, feed.contextSamples)) {
    const feeds: SampleFeeds = { [feed.input]: { type: 'float32', dims: [1, frame.length], data: frame }, ...state };
    for (const [n, v] of Object.entries(feed.constants)) feeds[n] = makeTensor(spec(n).dtype, dims(spec(n)), v);
    const out = await run(sessions[name], feeds);
    for (const s of feed.state) state[s.input] = out[s.output] as SampleFeeds[string];
    probs.push(Number(out[probOutput].data[0]));
  }
  return probs;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('Silero VAD', () => {
  it('has the three shipped versions', () => {
    expect(VADS.sort()).toEqual(['silero-vad', 'silero-vad-legacy', 'silero-vad-v6']);
  });

  for (const name of VADS) {
    describe(name, () => {
      it('the sample input is one frame with zero state and sr = 16000', async () => {
        const feed = getEntry(name).feed as AudioFeed;
        const feeds = await sampleInputs(name);
        expect(feeds.input.dims).toEqual([1, feed.contextSamples + feed.frameSamples]);
        expect(feeds.sr).toEqual({ type: 'int64', dims: [], data: BigInt64Array.from([16000n]) });
        for (const s of feed.state) expect((feeds[s.input].data as Float32Array).every((v) => v === 0)).toBe(true);
        // Context of the first frame is zeros, the new samples are not.
        const data = feeds.input.data as Float32Array;
        expect(data.subarray(0, feed.contextSamples).every((v) => v === 0)).toBe(true);
        expect(data.subarray(feed.contextSamples).some((v) => v !== 0)).toBe(true);
      });

      it('gives low speech probability on silence', async () => {
        const single = await run(sessions[name], await sampleInputs(name, { signal: 'silence' }));
        expect(single.output.data[0]).toBeLessThan(0.1);
        const probs = await stream(name, 'silence', 1);
        expect(probs.length).toBeGreaterThan(9);
        expect(Math.max(...probs)).toBeLessThan(0.1);
      });

      it('gives low speech probability on a steady 440 Hz tone', async () => {
        expect(mean(await stream(name, 'tone', 1))).toBeLessThan(0.3);
      });

      it('gives high speech probability on a speech-like signal', async () => {
        const probs = await stream(name, 'voiced', 1.5);
        expect(mean(probs)).toBeGreaterThan(0.6);
        expect(Math.max(...probs)).toBeGreaterThan(0.95);
      });
    });
  }

  it('v6 needs the 64-sample context the catalog names: without it, speech goes unnoticed', async () => {
    expect((getEntry('silero-vad-v6').feed as AudioFeed).contextSamples).toBe(64);
    expect(mean(await stream('silero-vad-v6', 'voiced', 1.5))).toBeGreaterThan(0.6);
    expect(mean(await stream('silero-vad-v6', 'voiced', 1.5, { contextSamples: 0 }))).toBeLessThan(0.1);
  });
});
