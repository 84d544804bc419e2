/** Node and attribute helpers: explicit constructors, typed getters with defaults, value infos. */
import { describe, expect, it } from 'vitest';
import { KilnError } from '../../src/errors.js';
import { DataType } from '../../src/onnx/dtypes.js';
import { decodeModelProto, encodeModelProto } from '../../src/onnx/proto.js';
import { AttributeType, type NodeProto } from '../../src/onnx/proto-types.js';
import {
  attr,
  attrFloat,
  attrFloats,
  attrGraph,
  attrInt,
  attrInts,
  attrString,
  attrStrings,
  attrTensor,
  getAttr,
  makeNode,
  makeValueInfo,
  nodeLabel,
  setAttr,
} from '../../src/onnx/nodes.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { makeTensor, tensorData } from '../../src/onnx/tensor.js';

const INT64_MAX = 9223372036854775807n;

function conv(): NodeProto {
  return makeNode(
    'Conv',
    ['x', 'w'],
    ['y'],
    [
      attr.ints('kernel_shape', [3, 3]),
      attr.int('group', 4),
      attr.float('alpha', 0.1),
      attr.floats('scales', [0.5, 2]),
      attr.string('auto_pad', 'SAME_UPPER'),
      attr.strings('names', ['a', 'é']),
      attr.tensor('value', makeTensor('v', DataType.FLOAT, [2], [1, 2])),
    ],
    { name: 'conv1' },
  );
}

/** Through protobuf and back, as a model would come from a file. */
function viaCodec(node: NodeProto): NodeProto {
  const b = new GraphBuilder('g');
  b.input('x', 'float32', [1]);
  const m = b.build();
  m.graph!.node.push(node);
  return decodeModelProto(encodeModelProto(m)).graph!.node[0];
}

describe('attribute constructors', () => {
  it('set the ONNX attribute type, so ints and floats stay apart', () => {
    const n = conv();
    expect(getAttr(n, 'group')!.type).toBe(AttributeType.INT);
    expect(getAttr(n, 'alpha')!.type).toBe(AttributeType.FLOAT);
    expect(getAttr(n, 'kernel_shape')!.type).toBe(AttributeType.INTS);
    expect(getAttr(n, 'scales')!.type).toBe(AttributeType.FLOATS);
    expect(getAttr(n, 'auto_pad')!.type).toBe(AttributeType.STRING);
    expect(getAttr(n, 'value')!.type).toBe(AttributeType.TENSOR);
    expect(attr.float('one', 1).type).toBe(AttributeType.FLOAT);
    expect(attr.int('one', 1).type).toBe(AttributeType.INT);
  });

  it('refuse a non-integer or unsafe number for an int attribute (bigint is the way past 2^53)', () => {
    expect(() => attr.int('axis', 1.5)).toThrow(RangeError);
    expect(() => attr.ints('pads', [0, 2 ** 60])).toThrow(/bigint/);
    expect(() => attr.int('big', 2n ** 63n)).toThrow(/int64/);
    expect(attr.int('max', INT64_MAX).i).toBe(INT64_MAX);
  });

  it('makeNode fills every field and copies its arrays', () => {
    const inputs = ['a', ''];
    const n = makeNode('Clip', inputs, ['b'], [], { domain: 'com.example' });
    inputs.push('c');
    expect(n).toMatchObject({ opType: 'Clip', name: '', domain: 'com.example', input: ['a', ''], output: ['b'], attribute: [] });
    expect(nodeLabel(n)).toBe("Clip writing 'b'");
    expect(nodeLabel(conv())).toBe("'conv1' (Conv)");
  });
});

describe('typed getters', () => {
  it.each([
    ['fresh', conv],
    ['after encode/decode', () => viaCodec(conv())],
  ])('read every type (%s)', (_how, make) => {
    const n = make();
    expect(attrInt(n, 'group')).toBe(4);
    expect(attrInts(n, 'kernel_shape')).toEqual([3, 3]);
    expect(attrFloat(n, 'alpha')).toBeCloseTo(0.1, 6);
    expect(attrFloats(n, 'scales')).toEqual([0.5, 2]);
    expect(attrString(n, 'auto_pad')).toBe('SAME_UPPER');
    expect(attrStrings(n, 'names')).toEqual(['a', 'é']);
    expect(Array.from(tensorData(attrTensor(n, 'value')!) as Float32Array)).toEqual([1, 2]);
  });

  it('return the default when absent, undefined without one', () => {
    const n = conv();
    expect(attrInt(n, 'axis', 1)).toBe(1);
    expect(attrInt(n, 'axis')).toBeUndefined();
    expect(attrInts(n, 'strides', [1, 1])).toEqual([1, 1]);
    expect(attrFloat(n, 'beta', 1)).toBe(1);
    expect(attrFloats(n, 'x', [])).toEqual([]);
    expect(attrString(n, 'mode', 'constant')).toBe('constant');
    expect(attrStrings(n, 'y')).toBeUndefined();
    expect(attrTensor(n, 'none')).toBeUndefined();
    expect(attrGraph(n, 'body')).toBeUndefined();
  });

  it('a default array is a copy the caller may change', () => {
    const fallback = [1, 1];
    const got = attrInts(conv(), 'strides', fallback);
    got.push(9);
    expect(fallback).toEqual([1, 1]);
  });

  it('an empty string attribute reads back as "" after a round trip', () => {
    const n = viaCodec(makeNode('Pad', ['x'], ['y'], [attr.string('mode', '')]));
    expect(attrString(n, 'mode', 'constant')).toBe('');
  });

  it('INT64_MAX reads as 2^63 from attrInt and exactly from getAttr', () => {
    const n = viaCodec(makeNode('Slice', ['x'], ['y'], [attr.ints('ends', [INT64_MAX]), attr.int('end', INT64_MAX)]));
    expect(attrInts(n, 'ends')).toEqual([2 ** 63]);
    expect(attrInt(n, 'end')).toBe(2 ** 63);
    expect(getAttr(n, 'end')!.i).toBe(INT64_MAX);
  });

  it('an attribute of the wrong type is BAD_GRAPH naming the node, attribute and both types', () => {
    const n = conv();
    let err: unknown;
    try {
      attrInt(n, 'alpha');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('BAD_GRAPH');
    expect((err as KilnError).message).toMatch(/'conv1' \(Conv\): attribute 'alpha' is FLOAT, expected INT/);
    expect(() => attrFloats(n, 'kernel_shape')).toThrow(/is INTS, expected FLOATS/);
  });

  it('setAttr replaces an attribute of the same name, or appends', () => {
    const n = conv();
    const count = n.attribute.length;
    setAttr(n, attr.int('group', 1));
    expect(attrInt(n, 'group')).toBe(1);
    expect(n.attribute.length).toBe(count);
    setAttr(n, attr.int('axis', 0));
    expect(n.attribute.length).toBe(count + 1);
  });
});

describe('makeValueInfo', () => {
  it('writes fixed, symbolic and unknown dimensions, or no shape at all', () => {
    const vi = makeValueInfo('x', DataType.FLOAT16, [1, 'N', null]);
    expect(vi.type!.tensorType!.elemType).toBe(DataType.FLOAT16);
    expect(vi.type!.tensorType!.shape!.dim).toEqual([{ dimValue: 1, denotation: '' }, { dimParam: 'N', denotation: '' }, { denotation: '' }]);
    expect(makeValueInfo('y', DataType.FLOAT).type!.tensorType!.shape).toBeUndefined();
    expect(() => makeValueInfo('z', DataType.FLOAT, [-1])).toThrow(RangeError);
  });
});
