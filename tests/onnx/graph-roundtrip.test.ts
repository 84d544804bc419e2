/** Graph.fromModel(m).toModel() changes nothing: same bytes, same onnxruntime outputs. */
import { describe, expect, it } from 'vitest';
import { buildCnn, buildMatMulAdd, buildMlp } from '../../src/onnx/builder.js';
import { DataType } from '../../src/onnx/dtypes.js';
import { Graph } from '../../src/onnx/graph.js';
import { parseModel, serializeModel } from '../../src/onnx/model.js';
import { makeValueInfo } from '../../src/onnx/nodes.js';
import type { ModelProto } from '../../src/onnx/proto-types.js';
import { randomFeed, runModel } from './helpers.js';
import { ifModel } from './graph-fixtures.js';

const cases: [string, () => ModelProto, number[]][] = [
  ['mlp', () => buildMlp({ hidden: [32, 16], seed: 11 }), [4, 16]],
  ['cnn (residual, depthwise, conv bias)', () => buildCnn({ residual: true, depthwise: true, convBias: true, seed: 11 }), [2, 3, 32, 32]],
  ['matmul-add (2 layers, attention)', () => buildMatMulAdd({ layers: 2, seed: 11 }), [2, 7, 32]],
];

describe.each(cases)('%s', (_name, build, dims) => {
  it('serializes to the same bytes after fromModel → toModel', () => {
    const bytes = serializeModel(build());
    expect(serializeModel(Graph.fromModel(build()).toModel())).toEqual(bytes);
    // And after a trip through the decoder, as a model from a file would come.
    expect(serializeModel(Graph.fromModel(parseModel(bytes)).toModel())).toEqual(bytes);
  });

  it('gives bit-identical onnxruntime outputs', async () => {
    const feed = { input: randomFeed(dims, 3) };
    const expected = await runModel(build(), feed);
    const got = await runModel(Graph.fromModel(parseModel(serializeModel(build()))).toModel(), feed);
    expect(got.output.dims).toEqual(expected.output.dims);
    expect(Buffer.from(got.output.data.buffer, got.output.data.byteOffset, got.output.data.byteLength)).toEqual(
      Buffer.from(expected.output.data.buffer, expected.output.data.byteOffset, expected.output.data.byteLength),
    );
  });
});

describe('toModel keeps the rest of the model', () => {
  it('IR version, opsets, producer, doc strings, metadata, graph name; sub-graphs unchanged', () => {
    const m = ifModel();
    m.irVersion = 9;
    m.opsetImport.push({ domain: 'ai.onnx.ml', version: 3 });
    m.producerName = 'pytorch';
    m.producerVersion = '2.4';
    m.docString = 'a doc';
    m.modelVersion = 5;
    m.metadataProps.push({ key: 'license', value: 'MIT' });
    m.graph!.docString = 'graph doc';
    m.graph!.metadataProps.push({ key: 'k', value: 'v' });
    const bytes = serializeModel(m);
    const out = Graph.fromModel(parseModel(bytes)).toModel();
    expect(out).toMatchObject({
      irVersion: 9,
      producerName: 'pytorch',
      producerVersion: '2.4',
      docString: 'a doc',
      modelVersion: 5,
      metadataProps: [{ key: 'license', value: 'MIT' }],
    });
    expect(out.opsetImport).toEqual([
      { domain: '', version: 17 },
      { domain: 'ai.onnx.ml', version: 3 },
    ]);
    expect(out.graph!.name).toBe('if_model');
    expect(out.graph!.docString).toBe('graph doc');
    expect(serializeModel(out)).toEqual(bytes);
  });

  it('value_info and quantization annotations only for tensors that still exist', () => {
    const m = buildMlp({ seed: 1 });
    const g0 = Graph.fromModel(m);
    const hidden = g0.nodes[1].output[0];
    m.graph!.valueInfo.push(makeValueInfo(hidden, DataType.FLOAT, ['N', 32]), makeValueInfo('gone', DataType.FLOAT, [1]));
    m.graph!.quantizationAnnotation.push({ tensorName: 'gone', quantParameterTensorNames: [] }, { tensorName: 'fc0.weight', quantParameterTensorNames: [] });
    const out = Graph.fromModel(m).toModel();
    expect(out.graph!.valueInfo.map((v) => v.name)).toEqual([hidden]);
    expect(out.graph!.quantizationAnnotation.map((q) => q.tensorName)).toEqual(['fc0.weight']);
  });

  it('the graph stays usable after toModel, and later edits do not reach the returned node list', () => {
    const g = Graph.fromModel(buildMlp());
    const first = g.toModel();
    g.removeNode(g.nodes[2]);
    expect(first.graph!.node).toHaveLength(3);
    expect(g.toModel().graph!.node).toHaveLength(2);
  });
});
