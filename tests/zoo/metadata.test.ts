/**
 * The catalog's inputs/outputs agree with what onnxruntime reads from each file, and with the tensors
 * a run on the sample inputs actually produces.
 */
import { describe, expect, it } from 'vitest';
import { checkShapes, compareSignature, listModels, resolveModel, sampleInputs, type RuntimeTensorInfo, type TensorSpec } from '../../src/zoo/index.js';
import { openSession, run } from './helpers.js';

interface MetadataSession {
  inputMetadata?: readonly { name: string; isTensor: boolean; type?: string; shape?: (number | string)[] }[];
  outputMetadata?: readonly { name: string; isTensor: boolean; type?: string; shape?: (number | string)[] }[];
}

const info = (names: readonly string[], metadata: MetadataSession['inputMetadata']): RuntimeTensorInfo[] =>
  names.map((name, i) => {
    const m = metadata?.[i];
    return m ? { name: m.name, type: m.type, shape: m.shape } : { name };
  });

describe('compareSignature', () => {
  const spec: TensorSpec[] = [{ name: 'x', dtype: 'float32', shape: ['N', 3, 48, 'W'] }];
  it('accepts symbolic runtime dims that the catalog names or fixes', () => {
    expect(compareSignature('input', spec, [{ name: 'x', type: 'float32', shape: ['a', 3, 48, ''] }])).toEqual([]);
    expect(compareSignature('input', spec, [{ name: 'x', type: 'float32', shape: ['a', 3, 'h', 'w'] }])).toEqual([]);
  });
  it('reports names, dtype, rank and fixed dims that disagree', () => {
    expect(compareSignature('input', spec, [{ name: 'y', type: 'float32', shape: ['N', 3, 48, 'W'] }])).toEqual([
      'inputs: catalog lists [x], the model has [y]',
    ]);
    expect(compareSignature('input', spec, [{ name: 'x', type: 'int64', shape: ['N', 3, 48, 'W'] }])).toEqual([
      "input 'x': catalog dtype float32, model int64",
    ]);
    expect(compareSignature('input', spec, [{ name: 'x', type: 'float32', shape: ['N', 3, 48] }])[0]).toMatch(/rank 4, model \[N, 3, 48\] has rank 3/);
    expect(compareSignature('input', spec, [{ name: 'x', type: 'float32', shape: ['N', 1, 48, 'W'] }])).toEqual(["input 'x' dim 1: catalog 3, model 1"]);
  });
  it('checkShapes binds each symbol to one size', () => {
    const specs: TensorSpec[] = [
      { name: 'a', dtype: 'float32', shape: ['N', 2] },
      { name: 'b', dtype: 'float32', shape: ['N', 'M'] },
    ];
    expect(checkShapes(specs, { a: { dims: [3, 2] }, b: { dims: [3, 7] } })).toEqual([]);
    expect(checkShapes(specs, { a: { dims: [3, 2] }, b: { dims: [4, 7] } })).toEqual(["'b' dim 0 ('N'): 4, but 3 at 'a' dim 0"]);
    expect(checkShapes(specs, { a: { dims: [3, 5] }, b: { dims: [3, 7] } })).toEqual(["'a' dim 1: expected 2, got 5"]);
  });
});

describe('onnxruntime metadata agrees with the catalog', () => {
  for (const entry of listModels()) {
    it(entry.name, async () => {
      const session = await openSession(resolveModel(entry.name).path, entry.name);
      try {
        expect(session.inputNames).toEqual(entry.inputs.map((t) => t.name));
        expect(session.outputNames).toEqual(entry.outputs.map((t) => t.name));
        const meta = session as unknown as MetadataSession;
        // onnxruntime-node ≥ 1.21 exposes metadata; with it, dtypes and fixed dims must agree too.
        if (meta.inputMetadata) {
          expect(meta.inputMetadata.length).toBe(entry.inputs.length);
          expect(compareSignature('input', entry.inputs as TensorSpec[], info(session.inputNames, meta.inputMetadata))).toEqual([]);
          expect(compareSignature('output', entry.outputs as TensorSpec[], info(session.outputNames, meta.outputMetadata))).toEqual([]);
        }
        // A real run: every fixed dim as the catalog says, each symbolic dim one size throughout.
        const feeds = await sampleInputs(entry.name);
        const outputs = await run(session, feeds);
        expect(checkShapes([...entry.inputs, ...entry.outputs] as TensorSpec[], { ...feeds, ...outputs })).toEqual([]);
        for (const spec of entry.outputs) expect(outputs[spec.name].type).toBe(spec.dtype);
      } finally {
        await session.release();
      }
    });
  }
});
