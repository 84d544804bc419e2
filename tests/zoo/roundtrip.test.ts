/**
 * Every zoo model survives kiln's ONNX codec bit for bit: serializeModel(loadModel(path)) run in
 * onnxruntime-node on the model's sample inputs gives exactly the original file's outputs.
 */
import { describe, expect, it } from 'vitest';
import { allTensors, loadModel, serializeModel } from '../../src/onnx/model.js';
import { listModels, resolveModel, sampleInputs } from '../../src/zoo/index.js';
import { openSession, run, type PlainTensor } from './helpers.js';

/** Index of the first element whose bytes differ, or -1. */
function firstDifference(a: PlainTensor, b: PlainTensor): number {
  const bytesA = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const bytesB = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  if (bytesA.length !== bytesB.length) return 0;
  const width = a.data.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytesA.length; i++) if (bytesA[i] !== bytesB[i]) return Math.floor(i / width);
  return -1;
}

describe("round trip through kiln's ONNX codec is bit-exact", () => {
  for (const entry of listModels()) {
    it(entry.name, async () => {
      const { path } = resolveModel(entry.name);
      const bytes = serializeModel(loadModel(path));
      const feeds = await sampleInputs(entry.name);
      const original = await openSession(path, entry.name);
      const copy = await openSession(bytes, `${entry.name} (round-tripped)`);
      try {
        const want = await run(original, feeds);
        const got = await run(copy, feeds);
        expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
        expect(Object.keys(want).sort()).toEqual(entry.outputs.map((o) => o.name).sort());
        for (const name of Object.keys(want)) {
          expect(got[name].type, name).toBe(want[name].type);
          expect(got[name].dims, name).toEqual(want[name].dims);
          expect(got[name].data.length, name).toBeGreaterThan(0);
          const at = firstDifference(want[name], got[name]);
          expect(at, `${name}: first differing element ${at}: ${want[name].data[at]} vs ${got[name].data[at]}`).toBe(-1);
        }
      } finally {
        await original.release();
        await copy.release();
      }
    });
  }
});

it('control: the comparison catches a one-bit change in one weight', async () => {
  const { path } = resolveModel('ppocr-cls');
  const model = loadModel(path);
  // paddle2onnx keeps this model's weights in Constant nodes, not initializers: look everywhere.
  const weight = [...allTensors(model.graph!)].find((t) => t.dataType === 1 && ((t.rawData?.byteLength ?? 0) > 4096 || t.floatData.length > 1024));
  expect(weight).toBeDefined();
  if (weight!.rawData?.byteLength) {
    const raw = new Uint8Array(weight!.rawData); // a copy
    raw[Math.floor(raw.length / 8) * 4 + 2] ^= 0x40; // a high mantissa bit of one float
    weight!.rawData = raw;
  } else {
    const i = Math.floor(weight!.floatData.length / 2);
    weight!.floatData[i] = weight!.floatData[i] * 1.5 + 0.01;
  }
  const feeds = await sampleInputs('ppocr-cls');
  const original = await openSession(path, 'ppocr-cls');
  const changed = await openSession(serializeModel(model), 'ppocr-cls (changed)');
  try {
    const want = await run(original, feeds);
    const got = await run(changed, feeds);
    const name = Object.keys(want)[0];
    expect(firstDifference(want[name], got[name])).not.toBe(-1);
  } finally {
    await original.release();
    await changed.release();
  }
});
