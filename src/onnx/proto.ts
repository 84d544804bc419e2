/**
 * Protobuf codec for ONNX, driven by the schema in onnx.proto through protobufjs reflection.
 * This is the only module that touches protobufjs; everything else sees the plain shapes of
 * proto-types.ts.
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import Long from 'long';
import type { ModelProto, TensorProto, GraphProto } from './proto-types.js';

const schemaText = readFileSync(new URL('./onnx.proto', import.meta.url), 'utf8');
const root = protobuf.parse(schemaText).root;
// Resolve every field's type now: toMessage walks `resolvedType`, which protobufjs otherwise fills in
// lazily on a type's first decode/encode, so an encode before any decode lost nested int64 values.
root.resolveAll();
const ModelType = root.lookupType('onnx.ModelProto');
const TensorType = root.lookupType('onnx.TensorProto');
const GraphType = root.lookupType('onnx.GraphProto');

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** int64 fields that carry arbitrary user values and stay bigint (see proto-types.ts). */
const EXACT_INT64 = new Set(['onnx.AttributeProto.i', 'onnx.AttributeProto.ints', 'onnx.TensorProto.int64Data', 'onnx.TensorProto.uint64Data']);

/** Thrown when bytes are not a well-formed ONNX protobuf message. */
export class ProtoDecodeError extends Error {
  override name = 'ProtoDecodeError';
}

function longToBigInt(v: unknown, unsigned: boolean): bigint {
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'bigint') return v;
  const l = v as Long;
  const s = (unsigned ? Long.fromValue(l).toUnsigned() : Long.fromValue(l)).toString();
  return BigInt(s);
}

function longToNumber(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  const l = Long.fromValue(v as Long);
  const n = l.toNumber();
  if (!Number.isSafeInteger(n)) {
    throw new ProtoDecodeError(`${where} holds ${l.toString()}, beyond what kiln can represent (2^53)`);
  }
  return n;
}

function fromMessage(msg: Record<string, unknown>, type: protobuf.Type): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const name = field.name;
    const own = Object.prototype.hasOwnProperty.call(msg, name);
    const value = msg[name];
    const key = `${type.fullName.slice(1)}.${name}`;
    const isLong = LONG_TYPES.has(field.type);
    const unsigned = field.type === 'uint64' || field.type === 'fixed64';
    const convert = (v: unknown): unknown => {
      if (field.resolvedType instanceof protobuf.Type) {
        return fromMessage(v as Record<string, unknown>, field.resolvedType);
      }
      if (isLong) return EXACT_INT64.has(key) ? longToBigInt(v, unsigned) : longToNumber(v, key);
      return v;
    };
    if (field.repeated) {
      out[name] = ((value as unknown[] | undefined) ?? []).map(convert);
    } else if (field.resolvedType instanceof protobuf.Type || field.partOf) {
      // Sub-messages and oneof members exist only when present on the wire.
      if (own && value != null) out[name] = convert(value);
    } else if (isLong) {
      out[name] = convert(value ?? 0);
    } else if (field.type === 'bytes') {
      // An absent bytes field reads as protobufjs's shared default ([]), not a Uint8Array.
      out[name] = own && value instanceof Uint8Array ? value : new Uint8Array(0);
    } else {
      out[name] = value;
    }
  }
  return out;
}

function toMessage(obj: Record<string, unknown>, type: protobuf.Type): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const value = obj[field.name];
    if (value === undefined || value === null) continue;
    const isLong = LONG_TYPES.has(field.type);
    const unsigned = field.type === 'uint64' || field.type === 'fixed64';
    const convert = (v: unknown): unknown => {
      if (field.resolvedType instanceof protobuf.Type) {
        return toMessage(v as Record<string, unknown>, field.resolvedType);
      }
      if (isLong) {
        if (typeof v === 'bigint') return Long.fromString(v.toString(), unsigned);
        if (typeof v === 'number') return Long.fromNumber(v, unsigned);
      }
      return v;
    };
    out[field.name] = field.repeated ? (value as unknown[]).map(convert) : convert(value);
  }
  return out;
}

function decodeAs<T>(type: protobuf.Type, bytes: Uint8Array): T {
  let msg: protobuf.Message;
  try {
    msg = type.decode(bytes);
  } catch (err) {
    throw new ProtoDecodeError((err as Error).message);
  }
  return fromMessage(msg as unknown as Record<string, unknown>, type) as T;
}

function encodeAs(type: protobuf.Type, value: object): Uint8Array {
  return type.encode(toMessage(value as Record<string, unknown>, type)).finish();
}

export const decodeModelProto = (bytes: Uint8Array): ModelProto => decodeAs<ModelProto>(ModelType, bytes);
export const encodeModelProto = (model: ModelProto): Uint8Array => encodeAs(ModelType, model);
export const decodeTensorProto = (bytes: Uint8Array): TensorProto => decodeAs<TensorProto>(TensorType, bytes);
export const encodeTensorProto = (tensor: TensorProto): Uint8Array => encodeAs(TensorType, tensor);
export const decodeGraphProto = (bytes: Uint8Array): GraphProto => decodeAs<GraphProto>(GraphType, bytes);
export const encodeGraphProto = (graph: GraphProto): Uint8Array => encodeAs(GraphType, graph);
