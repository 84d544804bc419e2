/**
 * int64 attributes keep any 64-bit value through a model round trip. The first thing this file does
 * with the codec is an encode (no decode before it), which once lost nested int64 values.
 */
import { describe, expect, it } from 'vitest';
import { encodeModelProto, decodeModelProto } from '../../src/onnx/proto.js';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { attr, getAttr } from '../../src/onnx/nodes.js';
import { makeTensor, tensorData } from '../../src/onnx/tensor.js';
import { DataType } from '../../src/onnx/dtypes.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

function model() {
  const b = new GraphBuilder('g');
  const x = b.input('x', 'float32', [4]);
  const y = b.node(
    'Custom',
    [x],
    [
      attr.int('end', INT64_MAX),
      attr.int('start', INT64_MIN),
      attr.int('one', 1),
      attr.ints('many', [INT64_MIN, -1n, 0, 1, INT64_MAX]),
      attr.tensor('value', makeTensor('v', DataType.INT64, [2], [INT64_MAX, INT64_MIN])),
    ],
    { domain: 'test.kiln' },
  );
  b.output(y, 'float32', [4]);
  return b.build({ opsets: { 'test.kiln': 1 } });
}

describe('int64 in attributes', () => {
  it('survives encode → decode when encode is the first codec call of the process', () => {
    const node = decodeModelProto(encodeModelProto(model())).graph!.node[0];
    expect(getAttr(node, 'end')!.i).toBe(INT64_MAX);
    expect(getAttr(node, 'start')!.i).toBe(INT64_MIN);
    expect(getAttr(node, 'one')!.i).toBe(1n);
    expect(getAttr(node, 'many')!.ints).toEqual([INT64_MIN, -1n, 0n, 1n, INT64_MAX]);
    expect(Array.from(tensorData(getAttr(node, 'value')!.t!) as BigInt64Array)).toEqual([INT64_MAX, INT64_MIN]);
  });

  it('a second round trip gives the same bytes', () => {
    const once = encodeModelProto(model());
    expect(encodeModelProto(decodeModelProto(once))).toEqual(once);
  });
});
