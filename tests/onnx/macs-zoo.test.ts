/**
 * MACs on real models are only as right as the shapes behind them: for the zoo's image and audio
 * models, every Conv/MatMul/Gemm output shape that inference finds must be the shape onnxruntime
 * produces when it runs the model at the same input size.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel, serializeModel } from '../../src/onnx/model.js';
import { makeValueInfo } from '../../src/onnx/nodes.js';
import { DataType } from '../../src/onnx/dtypes.js';
import { inferModelShapes, isConcrete } from '../../src/onnx/shape-inference.js';
import { isComputeOp } from '../../src/onnx/macs.js';
import { inspectModel } from '../../src/onnx/inspect.js';
import { DEFAULT_CATALOG_PATH, listModels, resolveModel } from '../../src/zoo/index.js';
import { randomFeed, runModel } from './helpers.js';

const cases: { name: string; input: string; dims: number[] }[] = [
  { name: 'ppocr-det', input: 'x', dims: [1, 3, 160, 224] },
  { name: 'ppocr-rec', input: 'x', dims: [1, 3, 48, 320] },
  { name: 'ppocr-cls', input: 'x', dims: [1, 3, 48, 192] },
  { name: 'oww-hello-deepa', input: 'onnx::Flatten_0', dims: [1, 25, 96] },
];

const available = existsSync(DEFAULT_CATALOG_PATH) ? new Set(listModels().map((e) => e.name)) : new Set<string>();

describe('inferred shapes of compute nodes match onnxruntime on zoo models', () => {
  for (const c of cases) {
    it.skipIf(!available.has(c.name))(c.name, async () => {
      const model = loadModel(resolveModel(c.name).path);
      const shapes = { [c.input]: c.dims };
      const inferred = inferModelShapes(model, { inputShapes: shapes });
      const compute = model.graph!.node.filter(isComputeOp).map((n) => n.output[0]);
      expect(compute.length).toBeGreaterThan(0);
      const known = compute.filter((name) => isConcrete(inferred.values.get(name)?.shape));
      expect(known).toEqual(compute); // every compute node's shape was inferred
      const existing = new Set(model.graph!.output.map((o) => o.name));
      model.graph!.output.push(...compute.filter((n) => !existing.has(n)).map((n) => makeValueInfo(n, DataType.FLOAT)));
      const results = await runModel(serializeModel(model), { [c.input]: randomFeed(c.dims) });
      for (const name of compute) expect([name, inferred.values.get(name)!.shape]).toEqual([name, [...results[name].dims]]);
      const report = inspectModel(model, { shapes });
      expect(report.macs.status === 'ok' && report.macs.unknownShapeNodes).toEqual([]);
    });
  }
});
