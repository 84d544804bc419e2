/**
 * Reading the generated operator signature table (op-schemas.ts): which versions an operator of the
 * default ONNX domain has, and for one version, the type parameter or fixed type of each input and
 * output slot and whether a parameter admits float / float16. Pure and cached.
 */
import { OP_SCHEMAS, SCHEMA_OPSET } from './op-schemas.js';

export { SCHEMA_OPSET };

/** One input or output slot of an operator signature. */
export interface SlotSignature {
  /** The type parameter ('T', 'T1', ...), when the slot has one. */
  param?: string;
  /** The DataType code, when the slot has one fixed tensor type (e.g. 7 = int64 for Shape's output). */
  fixed?: number;
  /** A sequence/map/optional slot that never holds a plain tensor. */
  nonTensor: boolean;
  optional: boolean;
  variadic: boolean;
  /** For variadic slots: every value has the same type. */
  homogeneous: boolean;
}

export interface ParamSignature {
  float: boolean;
  float16: boolean;
}

export interface OpSignature {
  opType: string;
  /** The opset version this signature was introduced in. */
  since: number;
  deprecated: boolean;
  inputs: readonly SlotSignature[];
  outputs: readonly SlotSignature[];
  params: ReadonlyMap<string, ParamSignature>;
}

const parsed = new Map<string, OpSignature[]>();

function parseSlot(text: string): SlotSignature {
  const last = text[text.length - 1];
  const mark = last === '?' || last === '*' || last === '+' ? last : '';
  const body = mark ? text.slice(0, -1) : text;
  const slot: SlotSignature = { nonTensor: body === '~', optional: mark === '?', variadic: mark === '*' || mark === '+', homogeneous: mark !== '+' };
  if (body.startsWith('@')) slot.fixed = Number(body.slice(1));
  else if (body !== '~') slot.param = body;
  return slot;
}

function parseEntry(opType: string, entry: string): OpSignature {
  const [sinceText, ins, outs, params] = entry.split('|');
  const paramMap = new Map<string, ParamSignature>();
  for (const p of params ? params.split(',') : []) {
    const [name, flags] = p.split('=');
    paramMap.set(name, { float: flags.includes('f'), float16: flags.includes('h') });
  }
  return {
    opType,
    since: Number.parseInt(sinceText, 10),
    deprecated: sinceText.endsWith('d'),
    inputs: ins ? ins.split(',').map(parseSlot) : [],
    outputs: outs ? outs.split(',').map(parseSlot) : [],
    params: paramMap,
  };
}

function signatures(opType: string): OpSignature[] | undefined {
  let list = parsed.get(opType);
  if (!list) {
    const raw = Object.prototype.hasOwnProperty.call(OP_SCHEMAS, opType) ? OP_SCHEMAS[opType] : undefined;
    if (!raw) return undefined;
    list = raw.map((e) => parseEntry(opType, e));
    parsed.set(opType, list);
  }
  return list;
}

/** The versions (since_version values) of a default-domain operator, ascending; undefined for an unknown op. */
export function opVersions(opType: string): number[] | undefined {
  return signatures(opType)?.map((s) => s.since);
}

/** The signature of `opType` in effect at `opset` (the newest version ≤ opset), or undefined. */
export function signatureAt(opType: string, opset: number): OpSignature | undefined {
  const list = signatures(opType);
  if (!list) return undefined;
  let found: OpSignature | undefined;
  for (const s of list) if (s.since <= opset) found = s;
  return found;
}

/** The signature of the version introduced exactly at `since`, or undefined. */
export function signatureSince(opType: string, since: number): OpSignature | undefined {
  return signatures(opType)?.find((s) => s.since === since);
}

/** The slot describing position `index` (a trailing variadic slot covers every later position). */
export function slotAt(slots: readonly SlotSignature[], index: number): SlotSignature | undefined {
  if (index < slots.length) return slots[index];
  const last = slots[slots.length - 1];
  return last?.variadic ? last : undefined;
}
