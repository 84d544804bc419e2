/**
 * Constructors and readers for nodes, attributes and value infos. Pure functions over the plain
 * shapes of proto-types.ts.
 *
 * Attributes are built with explicit constructors (`attr.int('axis', 1)`, `attr.float('alpha', 1)`)
 * because a JS number cannot say whether it is an int or a float, and ONNX cares.
 */
import { KilnError } from '../errors.js';
import { AttributeType, type AttributeProto, type GraphProto, type NodeProto, type TensorProto, type TypeProto, type ValueInfoProto } from './proto-types.js';

const ATTRIBUTE_TYPE_NAMES = Object.fromEntries(Object.entries(AttributeType).map(([k, v]) => [v, k])) as Record<number, string>;

/** INT, FLOATS, ... for an AttributeProto.type code. */
export const attributeTypeName = (type: number): string => ATTRIBUTE_TYPE_NAMES[type] ?? `UNKNOWN(${type})`;

/** A short description of a node for messages: `'conv1' (Conv)` or `Conv writing 'y'` when unnamed. */
export function nodeLabel(node: NodeProto): string {
  if (node.name) return `'${node.name}' (${node.opType})`;
  return node.output.length > 0 ? `${node.opType} writing '${node.output[0]}'` : `${node.opType} (unnamed)`;
}

// ---- building ------------------------------------------------------------------------------------

function emptyAttribute(name: string, type: number): AttributeProto {
  return {
    name,
    refAttrName: '',
    docString: '',
    type,
    f: 0,
    i: 0n,
    s: new Uint8Array(0),
    floats: [],
    ints: [],
    strings: [],
    tensors: [],
    graphs: [],
    sparseTensors: [],
    typeProtos: [],
  };
}

function toInt64(name: string, value: number | bigint): bigint {
  if (typeof value === 'bigint') {
    if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new RangeError(`attribute '${name}': ${value} does not fit in int64`);
    return value;
  }
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`attribute '${name}': ${value} is not an integer an int64 attribute can hold exactly (pass a bigint beyond 2^53)`);
  }
  return BigInt(value);
}

const utf8 = new TextEncoder();

/** Attribute constructors, one per ONNX attribute type. */
export const attr = {
  int(name: string, value: number | bigint): AttributeProto {
    return { ...emptyAttribute(name, AttributeType.INT), i: toInt64(name, value) };
  },
  ints(name: string, values: readonly (number | bigint)[]): AttributeProto {
    return { ...emptyAttribute(name, AttributeType.INTS), ints: values.map((v) => toInt64(name, v)) };
  },
  float(name: string, value: number): AttributeProto {
    return { ...emptyAttribute(name, AttributeType.FLOAT), f: value };
  },
  floats(name: string, values: readonly number[]): AttributeProto {
    return { ...emptyAttribute(name, AttributeType.FLOATS), floats: [...values] };
  },
  string(name: string, value: string): AttributeProto {
    return { ...emptyAttribute(name, AttributeType.STRING), s: utf8.encode(value) };
  },
  strings(name: string, values: readonly string[]): AttributeProto {
    return { ...emptyAttribute(name, AttributeType.STRINGS), strings: values.map((v) => utf8.encode(v)) };
  },
  tensor(name: string, value: TensorProto): AttributeProto {
    return { ...emptyAttribute(name, AttributeType.TENSOR), t: value };
  },
  tensors(name: string, values: readonly TensorProto[]): AttributeProto {
    return { ...emptyAttribute(name, AttributeType.TENSORS), tensors: [...values] };
  },
  graph(name: string, value: GraphProto): AttributeProto {
    return { ...emptyAttribute(name, AttributeType.GRAPH), g: value };
  },
  graphs(name: string, values: readonly GraphProto[]): AttributeProto {
    return { ...emptyAttribute(name, AttributeType.GRAPHS), graphs: [...values] };
  },
} as const;

export interface MakeNodeOptions {
  /** Node name (default ''). */
  name?: string;
  /** Operator domain (default '' = ai.onnx). */
  domain?: string;
}

/** A NodeProto with every field set. Inputs may contain '' for an omitted optional input. */
export function makeNode(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attrs: readonly AttributeProto[] = [],
  options: MakeNodeOptions = {},
): NodeProto {
  return {
    name: options.name ?? '',
    opType,
    domain: options.domain ?? '',
    overload: '',
    input: [...inputs],
    output: [...outputs],
    attribute: [...attrs],
    docString: '',
    metadataProps: [],
  };
}

/** A dimension: a number is a fixed size, a string a symbolic one ('N'), null an unknown one. */
export type Dim = number | string | null;

/** A tensor ValueInfoProto. `shape` undefined means unknown rank. */
export function makeValueInfo(name: string, elemType: number, shape?: readonly Dim[]): ValueInfoProto {
  const tensorType: NonNullable<TypeProto['tensorType']> = { elemType };
  if (shape !== undefined) {
    tensorType.shape = {
      dim: shape.map((d) => {
        if (typeof d === 'number') {
          if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`makeValueInfo('${name}'): dimension ${d} must be a non-negative integer`);
          return { dimValue: d, denotation: '' };
        }
        return typeof d === 'string' ? { dimParam: d, denotation: '' } : { denotation: '' };
      }),
    };
  }
  const type: TypeProto = { tensorType, denotation: '' };
  return { name, type, docString: '', metadataProps: [] };
}

// ---- reading -------------------------------------------------------------------------------------

export const getAttr = (node: NodeProto, name: string): AttributeProto | undefined => node.attribute.find((a) => a.name === name);

/** The attribute, checked to be of `type` (an attribute with type UNDEFINED, from old exporters, passes). */
function typed(node: NodeProto, name: string, type: number): AttributeProto | undefined {
  const a = getAttr(node, name);
  if (a && a.type !== type && a.type !== AttributeType.UNDEFINED) {
    throw new KilnError('BAD_GRAPH', `node ${nodeLabel(node)}: attribute '${name}' is ${attributeTypeName(a.type)}, expected ${attributeTypeName(type)}`, {
      hint: 'the model was written with a wrong attribute type; re-export it',
    });
  }
  return a;
}

const utf8Decoder = new TextDecoder();

/**
 * An INT attribute as a number. Values beyond ±2^53 come back rounded (INT64_MAX as 2^63);
 * read `getAttr(node, name).i` for the exact bigint.
 */
export function attrInt(node: NodeProto, name: string): number | undefined;
export function attrInt(node: NodeProto, name: string, fallback: number): number;
export function attrInt(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = typed(node, name, AttributeType.INT);
  return a ? Number(a.i) : fallback;
}

/** An INTS attribute as numbers (rounded beyond ±2^53, as attrInt). */
export function attrInts(node: NodeProto, name: string): number[] | undefined;
export function attrInts(node: NodeProto, name: string, fallback: readonly number[]): number[];
export function attrInts(node: NodeProto, name: string, fallback?: readonly number[]): number[] | undefined {
  const a = typed(node, name, AttributeType.INTS);
  return a ? a.ints.map(Number) : fallback && [...fallback];
}

export function attrFloat(node: NodeProto, name: string): number | undefined;
export function attrFloat(node: NodeProto, name: string, fallback: number): number;
export function attrFloat(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = typed(node, name, AttributeType.FLOAT);
  return a ? a.f : fallback;
}

export function attrFloats(node: NodeProto, name: string): number[] | undefined;
export function attrFloats(node: NodeProto, name: string, fallback: readonly number[]): number[];
export function attrFloats(node: NodeProto, name: string, fallback?: readonly number[]): number[] | undefined {
  const a = typed(node, name, AttributeType.FLOATS);
  return a ? [...a.floats] : fallback && [...fallback];
}

/** A STRING attribute decoded as UTF-8. */
export function attrString(node: NodeProto, name: string): string | undefined;
export function attrString(node: NodeProto, name: string, fallback: string): string;
export function attrString(node: NodeProto, name: string, fallback?: string): string | undefined {
  const a = typed(node, name, AttributeType.STRING);
  return a ? utf8Decoder.decode(a.s) : fallback;
}

export function attrStrings(node: NodeProto, name: string): string[] | undefined;
export function attrStrings(node: NodeProto, name: string, fallback: readonly string[]): string[];
export function attrStrings(node: NodeProto, name: string, fallback?: readonly string[]): string[] | undefined {
  const a = typed(node, name, AttributeType.STRINGS);
  return a ? a.strings.map((s) => utf8Decoder.decode(s)) : fallback && [...fallback];
}

export function attrTensor(node: NodeProto, name: string): TensorProto | undefined {
  return typed(node, name, AttributeType.TENSOR)?.t;
}

export function attrGraph(node: NodeProto, name: string): GraphProto | undefined {
  return typed(node, name, AttributeType.GRAPH)?.g;
}

/** Set (or replace) an attribute on a node, in place. */
export function setAttr(node: NodeProto, attribute: AttributeProto): void {
  const i = node.attribute.findIndex((a) => a.name === attribute.name);
  if (i >= 0) node.attribute[i] = attribute;
  else node.attribute.push(attribute);
}

/** Every sub-graph held by a node's attributes (If branches, Loop/Scan bodies). */
export function subgraphsOf(node: NodeProto): GraphProto[] {
  const out: GraphProto[] = [];
  for (const a of node.attribute) {
    if (a.g) out.push(a.g);
    out.push(...a.graphs);
  }
  return out;
}
