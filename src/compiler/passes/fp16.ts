/**
 * Convert a float32 graph to float16: weights and constants become float16 (half the bytes), and
 * nodes compute in float16 except where the caller or the ONNX spec wants float32.
 *
 * How a node is treated:
 * - kept in float32: op types in `keepFloat32Ops`, nodes named in `keepNodes`, operators of other
 *   domains and nodes with sub-graphs (whose bodies stay as they are), nodes whose tensor types cannot
 *   be told, and shape arithmetic (float math on values cast from Shape/Size, whose results go back into
 *   sizes and would lose integers above 2048 in float16). A kept node reads float32 (a Cast is put in
 *   front of each float input that became float16) and its float outputs stay float32.
 * - otherwise it computes in float16, slot by slot as its signature allows: a slot whose type cannot be
 *   float16 at the graph's opset (Resize `scales`, NonMaxSuppression boxes, Range, QuantizeLinear's
 *   input, LayerNormalization's Mean output, ...) stays float32. Attributes that name a float type
 *   follow: Cast `to`, RandomNormal `dtype`, ConstantOfShape `value`.
 * - an initializer or Constant becomes float16 when every reader wants float16, stays float32 when none
 *   does, and exists in both types when readers disagree (no weight is rounded and cast back). Cast and
 *   ConstantOfShape nodes are typed by their readers the same way (a Cast(to float) read by float16
 *   nodes becomes Cast(to float16)).
 * - the random generators stay float32 by default (DEFAULT_KEEP_FLOAT32_OPS): onnxruntime's CPU
 *   provider has no float16 kernels for them.
 * - float32 graph inputs and outputs stay float32 (`keepIO`), with a Cast after each input and before
 *   each output; an output keeps its name (the node that wrote it writes `<name>_fp16` instead).
 *
 * Values beyond ±65504 are clamped to ±65504 and counted; tiny values round as float16 does
 * (subnormals, then zero) and the ones that became zero are counted. Casts this pass adds never form a
 * Cast→Cast pair that a single Cast could replace, and no cast is added between two float16 nodes.
 */
import { KilnError } from '../../errors.js';
import { DataType, numberToFloat16 } from '../../onnx/dtypes.js';
import { topologicalOrder, type Graph } from '../../onnx/graph.js';
import { attr, attrInt, getAttr, makeNode, setAttr, subgraphsOf } from '../../onnx/nodes.js';
import type { GraphProto, NodeProto, TensorProto, TypeProto, ValueInfoProto } from '../../onnx/proto-types.js';
import { elementCount, makeTensor, tensorByteSize, tensorFloats } from '../../onnx/tensor.js';
import { signatureAt, slotAt } from '../../onnx/op-signatures.js';
import { inferElemTypes } from '../../onnx/shape-inference.js';

const FLOAT = DataType.FLOAT;
const FLOAT16 = DataType.FLOAT16;
/** The largest finite float16. */
export const FLOAT16_MAX = 65504;

/**
 * Ops kept in float32 unless the caller says otherwise: the random generators, which onnxruntime's CPU
 * provider has no float16 kernels for (a Cast after them costs nothing).
 */
export const DEFAULT_KEEP_FLOAT32_OPS: readonly string[] = Object.freeze([
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
  'Bernoulli',
  'Multinomial',
]);

export interface Fp16Options {
  /**
   * Op types (default domain) to compute in float32, with Casts around them. Replaces the default list;
   * spread DEFAULT_KEEP_FLOAT32_OPS into yours to keep it.
   * @default DEFAULT_KEEP_FLOAT32_OPS
   */
  keepFloat32Ops?: readonly string[];
  /** Names of nodes to compute in float32, with Casts around them. Each must name a node of the graph. @default [] */
  keepNodes?: readonly string[];
  /**
   * Keep float32 graph inputs and outputs float32 (Casts after the inputs and before the outputs).
   * With false, they become float16 and callers feed and read float16 (Uint16Array in onnxruntime).
   * @default true
   */
  keepIO?: boolean;
}

/** Why a node stayed float32. */
export type KeptReason = 'keep-op' | 'keep-node' | 'other-domain' | 'unknown-op' | 'subgraph' | 'unknown-type' | 'shape-arithmetic' | 'no-float16';

export interface KeptNode {
  /** The node's name ('' when it has none). */
  name: string;
  opType: string;
  reason: KeptReason;
}

export interface Fp16Report {
  /** Float32 initializers now stored as float16 (including copies made for mixed readers). */
  convertedInitializers: number;
  /** Constant nodes (and ConstantOfShape values) now holding float16. */
  convertedConstants: number;
  /** Initializers/Constants kept in float32 and copied to float16 because readers of both kinds exist. */
  duplicatedConstants: number;
  /** Bytes of all initializers and Constant values before the conversion. */
  bytesBefore: number;
  /** The same after it. */
  bytesAfter: number;
  /** Finite values beyond ±65504 that were clamped to ±65504. */
  clamped: number;
  /** Non-zero values too small for float16 that became zero. */
  underflowed: number;
  /** Nodes that compute in float32 (float nodes only: integer/shape nodes have no precision to keep). */
  keptNodes: KeptNode[];
  /** Nodes computing in float16. */
  float16Nodes: number;
  /** Cast nodes this pass added (after folding). */
  castsInserted: number;
  /** Cast nodes removed because they became no-ops or redundant (Cast→Cast). */
  castsRemoved: number;
}

const OPTION_KEYS = new Set(['keepFloat32Ops', 'keepNodes', 'keepIO']);

/** Validated options, defaults applied, caller's object untouched. */
function resolveOptions(graph: Graph, options: Fp16Options): Required<Fp16Options> {
  const problems: string[] = [];
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) problems.push(`unknown option '${key}' (known: ${[...OPTION_KEYS].join(', ')})`);
  const keepFloat32Ops = options.keepFloat32Ops ?? DEFAULT_KEEP_FLOAT32_OPS;
  const keepNodes = options.keepNodes ?? [];
  if (!Array.isArray(keepFloat32Ops) || keepFloat32Ops.some((o) => typeof o !== 'string')) problems.push('keepFloat32Ops must be an array of op type names');
  if (!Array.isArray(keepNodes) || keepNodes.some((o) => typeof o !== 'string')) problems.push('keepNodes must be an array of node names');
  else {
    const names = new Set(graph.nodes.map((n) => n.name).filter(Boolean));
    const missing = keepNodes.filter((n) => !names.has(n));
    if (missing.length > 0) problems.push(`keepNodes names nodes the graph does not have: ${missing.map((n) => `'${n}'`).join(', ')}`);
  }
  if (options.keepIO !== undefined && typeof options.keepIO !== 'boolean') problems.push(`keepIO must be true or false, got ${String(options.keepIO)}`);
  if (problems.length > 0) {
    throw new KilnError('BAD_OPTION', `convertToFp16: ${problems.join('; ')}`, { hint: 'see Fp16Options for the valid options' });
  }
  return { keepFloat32Ops: [...keepFloat32Ops], keepNodes: [...keepNodes], keepIO: options.keepIO ?? true };
}

const isDefaultDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';

/** Result of converting one float32 tensor to float16. */
interface Converted {
  tensor: TensorProto;
  clamped: number;
  underflowed: number;
}

/** A float16 copy of a float32 tensor: clamped to ±65504, tiny values rounded as float16 rounds them. */
export function tensorToFloat16(t: TensorProto, name = t.name): Converted {
  const values = tensorFloats(t);
  const bits = new Uint16Array(values.length);
  let clamped = 0;
  let underflowed = 0;
  for (let i = 0; i < values.length; i++) {
    let v = values[i];
    if (Number.isFinite(v) && Math.abs(v) > FLOAT16_MAX) {
      v = Math.sign(v) * FLOAT16_MAX;
      clamped++;
    }
    const h = numberToFloat16(v);
    if (v !== 0 && !Number.isNaN(v) && (h & 0x7fff) === 0) underflowed++;
    bits[i] = h;
  }
  const tensor = makeTensor(name, FLOAT16, [...t.dims], bits);
  tensor.docString = t.docString;
  return { tensor, clamped, underflowed };
}

/** A value info with another element type (a copy; the original is not changed). */
function retyped(vi: ValueInfoProto, elemType: number, name = vi.name): ValueInfoProto {
  const tensorType = vi.type?.tensorType;
  const type: TypeProto = { ...(vi.type ?? { denotation: '' }), tensorType: { ...(tensorType ?? {}), elemType } };
  return { ...vi, name, type };
}

/** Rename reads of an enclosing-scope name inside a sub-graph (unless the sub-graph defines it). */
function renameOuterReads(g: GraphProto, from: string, to: string): void {
  const defines = (name: string): boolean =>
    g.input.some((vi) => vi.name === name) || g.initializer.some((t) => t.name === name) || g.node.some((n) => n.output.includes(name));
  if (defines(from)) return;
  for (const n of g.node) {
    n.input = n.input.map((i) => (i === from ? to : i));
    for (const sub of subgraphsOf(n)) renameOuterReads(sub, from, to);
  }
  for (const vi of g.output) if (vi.name === from) vi.name = to;
}

/** float16 is exact for every value of `from` when casting from → to loses nothing. */
const exactCast = (from: number, to: number): boolean =>
  from === to || (from === FLOAT16 && (to === FLOAT || to === DataType.DOUBLE)) || (from === FLOAT && to === DataType.DOUBLE);

const INTEGER_TYPES = new Set<number>([
  DataType.BOOL,
  DataType.INT8,
  DataType.UINT8,
  DataType.INT16,
  DataType.UINT16,
  DataType.INT32,
  DataType.UINT32,
  DataType.INT64,
  DataType.UINT64,
]);

/** Nodes without float arithmetic of their own: typed by their readers, or reading shapes only. */
const TYPED_BY_READERS = new Set(['Cast', 'Constant', 'ConstantOfShape', 'Shape', 'Size']);

/** Shape arithmetic mixes shape-derived values with constants this small at most. */
const SMALL_CONSTANT = 64;

/**
 * Convert the graph to float16 in place (see the module comment for what stays float32). Throws
 * BAD_OPTION for unknown options or keepNodes names the graph does not have.
 */
export function convertToFp16(graph: Graph, options: Fp16Options = {}): Fp16Report {
  const { keepFloat32Ops, keepNodes, keepIO } = resolveOptions(graph, options);
  const opset = graph.opsetVersion('') ?? 1;
  const types = inferElemTypes(graph, opset);
  const isFloat = (name: string): boolean => !!name && types.get(name) === FLOAT;
  const keepOps = new Set(keepFloat32Ops);
  const keepNames = new Set(keepNodes);
  const graphOutputs = new Set(graph.outputs.map((vi) => vi.name));
  const graphInputs = new Set(graph.inputs.map((vi) => vi.name));

  const bytesOf = (): number => {
    let total = 0;
    for (const t of graph.initializers.values()) total += tensorByteSize(t);
    for (const n of graph.nodes) if (n.opType === 'Constant' && isDefaultDomain(n.domain)) for (const a of n.attribute) if (a.t) total += tensorByteSize(a.t);
    return total;
  };
  const bytesBefore = bytesOf();

  // ---- 1. which nodes compute in float32 --------------------------------------------------------
  const kept = new Map<NodeProto, KeptReason>();
  const shapeDerived = new Set<string>();
  const isSmallConstant = (name: string): boolean => {
    if (!graph.isConstant(name)) return false;
    const t = graph.initializers.get(name) ?? getAttr(graph.producer(name)!, 'value')?.t;
    return t === undefined || elementCount(t.dims) <= SMALL_CONSTANT;
  };
  for (const node of topologicalOrder(graph.nodes, { onCycle: 'keep' })) {
    const floatIns = node.input.filter(isFloat);
    const floatOuts = node.output.filter(isFloat);
    let reason: KeptReason | undefined;
    if (!isDefaultDomain(node.domain)) reason = 'other-domain';
    else if (keepNames.has(node.name)) reason = 'keep-node';
    else if (keepOps.has(node.opType)) reason = 'keep-op';
    else if (subgraphsOf(node).length > 0) reason = 'subgraph';
    else if ([...node.input, ...node.output].some((n) => n && !types.has(n))) reason = 'unknown-type';
    else if (!signatureAt(node.opType, opset)) reason = 'unknown-op';
    if (!reason && node.opType === 'Cast' && floatOuts.length > 0 && INTEGER_TYPES.has(types.get(node.input[0]) ?? 0)) {
      // A Cast from integers to float starts shape arithmetic (or a mask); its output type is decided
      // by its readers below.
      for (const o of floatOuts) shapeDerived.add(o);
    } else if (
      !reason &&
      node.opType !== 'Constant' &&
      floatIns.length > 0 &&
      floatIns.some((n) => shapeDerived.has(n)) &&
      floatIns.every((n) => shapeDerived.has(n) || isSmallConstant(n))
    ) {
      reason = 'shape-arithmetic';
      for (const o of floatOuts) shapeDerived.add(o);
    }
    if (reason) kept.set(node, reason);
  }

  /** What a node wants at one of its slots, for a tensor that was float32: float16, float32, or anything (Cast's, Shape's input). */
  type Want = typeof FLOAT | typeof FLOAT16 | 'any';
  const slotWant = (node: NodeProto, index: number, output: boolean): Want => {
    if (kept.has(node)) return FLOAT;
    // Cast converts whatever it reads; Shape and Size read no values.
    if (!output && (node.opType === 'Cast' || node.opType === 'Shape' || node.opType === 'Size')) return 'any';
    const sig = signatureAt(node.opType, opset)!;
    const slot = slotAt(output ? sig.outputs : sig.inputs, index);
    if (!slot || slot.nonTensor || slot.fixed !== undefined || !slot.param) return FLOAT;
    return sig.params.get(slot.param)?.float16 ? FLOAT16 : FLOAT;
  };

  /** Every want of every reader of a float32 tensor (node slots, sub-graph reads, graph outputs). */
  const readerWants = (name: string): Want[] => {
    const wants: Want[] = [];
    for (const c of graph.consumers(name)) {
      let direct = false;
      c.input.forEach((n, i) => {
        if (n === name) {
          wants.push(slotWant(c, i, false));
          direct = true;
        }
      });
      if (!direct) wants.push(FLOAT); // read from inside a sub-graph, which stays as it is
    }
    if (graphOutputs.has(name)) wants.push(keepIO ? FLOAT : FLOAT16);
    return wants;
  };

  // ---- 2. the new type of every float32 tensor ---------------------------------------------------
  const newType = new Map<string, number>();
  for (const vi of graph.inputs) if (isFloat(vi.name)) newType.set(vi.name, keepIO ? FLOAT : FLOAT16);
  /** Float16 copies of constants whose readers disagree: original name → copy name. */
  const copies = new Map<string, string>();
  /** Cast results by (source, type), so that each tensor is cast to a type once. */
  const castCache = new Map<string, string>();
  const castKey = (name: string, to: number): string => `${to}|${name}`;
  /** Casts created by this pass, and original Casts whose `to` it changed. */
  const ownCasts = new Set<NodeProto>();
  const touchedCasts = new Set<NodeProto>();

  const addCast = (source: string, to: number, output?: string): string => {
    const out = output ?? graph.uniqueName(`${source}_${to === FLOAT16 ? 'fp16' : 'fp32'}`);
    const node = makeNode('Cast', [source], [out], [attr.int('to', to)], { name: graph.uniqueName(`${out}/cast`) });
    graph.addNode(node);
    ownCasts.add(node);
    newType.set(out, to);
    types.set(out, to);
    return out;
  };

  const report: Fp16Report = {
    convertedInitializers: 0,
    convertedConstants: 0,
    duplicatedConstants: 0,
    bytesBefore,
    bytesAfter: 0,
    clamped: 0,
    underflowed: 0,
    keptNodes: [],
    float16Nodes: 0,
    castsInserted: 0,
    castsRemoved: 0,
  };
  const count = (c: Converted): TensorProto => {
    report.clamped += c.clamped;
    report.underflowed += c.underflowed;
    return c.tensor;
  };

  // Initializers (not overridable graph inputs): by their readers.
  for (const [name, t] of [...graph.initializers]) {
    if (t.dataType !== FLOAT) continue;
    if (graphInputs.has(name)) {
      if (!keepIO) graph.addInitializer(count(tensorToFloat16(t)), { replace: true });
      continue;
    }
    const wants = readerWants(name).map((w) => (w === 'any' ? FLOAT : w));
    const want16 = wants.includes(FLOAT16);
    const want32 = wants.includes(FLOAT);
    if (!want16) {
      newType.set(name, FLOAT);
    } else if (!want32) {
      graph.addInitializer(count(tensorToFloat16(t)), { replace: true });
      newType.set(name, FLOAT16);
      report.convertedInitializers++;
    } else {
      const copy = graph.uniqueName(`${name}_fp16`);
      graph.addInitializer(count(tensorToFloat16(t, copy)));
      newType.set(name, FLOAT);
      newType.set(copy, FLOAT16);
      copies.set(name, copy);
      report.convertedInitializers++;
      report.duplicatedConstants++;
    }
  }

  for (const node of [...graph.nodes]) {
    if (!isDefaultDomain(node.domain)) {
      for (const o of node.output) if (isFloat(o)) newType.set(o, FLOAT);
      continue;
    }
    const floatOuts = node.output.filter(isFloat);
    if (floatOuts.length === 0) continue;
    if (kept.has(node)) {
      for (const o of floatOuts) newType.set(o, FLOAT);
      continue;
    }
    if (node.opType === 'Constant' || node.opType === 'Cast' || node.opType === 'ConstantOfShape') {
      // Typed by their readers: float16 if any reader wants it.
      const out = node.output[0];
      // A Cast reading it ('any') keeps full precision: Cast(int → float) → Cast(→ int32) must not round.
      const wants = readerWants(out).map((w) => (w === 'any' ? FLOAT : w));
      const want16 = wants.includes(FLOAT16);
      const want32 = wants.includes(FLOAT);
      if (!want16) {
        newType.set(out, FLOAT);
        continue;
      }
      if (node.opType === 'ConstantOfShape') {
        // Readers of both kinds: keep float32 and cast for the float16 ones (the same values).
        if (want32) {
          newType.set(out, FLOAT);
          continue;
        }
        const value = getAttr(node, 'value')?.t;
        setAttr(node, attr.tensor('value', value ? count(tensorToFloat16(value)) : makeTensor('value', FLOAT16, [1], Uint16Array.of(0))));
        newType.set(out, FLOAT16);
        report.convertedConstants++;
        continue;
      }
      if (node.opType === 'Cast' && want32 && keepIO && graphOutputs.has(out)) {
        // A float32 graph output keeps this Cast as it is; float16 readers get their own Cast of the same input.
        newType.set(out, FLOAT);
        castCache.set(castKey(out, FLOAT16), addCast(node.input[0], FLOAT16, graph.uniqueName(`${out}_fp16`)));
        continue;
      }
      if (node.opType === 'Cast') {
        setAttr(node, attr.int('to', FLOAT16));
        touchedCasts.add(node);
        newType.set(out, FLOAT16);
        // Readers wanting float32 get the original cast, from the original input.
        if (want32) castCache.set(castKey(out, FLOAT), addCast(node.input[0], FLOAT, graph.uniqueName(`${out}_fp32`)));
        continue;
      }
      const value = getAttr(node, 'value')?.t ?? constantAsTensor(node);
      if (!value) {
        newType.set(out, FLOAT); // sparse_value: left float32
        continue;
      }
      const half = count(tensorToFloat16(value, value.name));
      if (want32) {
        const copy = graph.uniqueName(`${out}_fp16`);
        graph.addNode(makeNode('Constant', [], [copy], [attr.tensor('value', half)], { name: graph.uniqueName(`${node.name || out}_fp16`) }));
        newType.set(out, FLOAT);
        newType.set(copy, FLOAT16);
        copies.set(out, copy);
        report.duplicatedConstants++;
      } else {
        node.attribute = [attr.tensor('value', half)];
        newType.set(out, FLOAT16);
      }
      report.convertedConstants++;
      continue;
    }
    report.float16Nodes++;
    node.output.forEach((o, k) => {
      if (isFloat(o)) newType.set(o, slotWant(node, k, true) === FLOAT16 ? FLOAT16 : FLOAT);
    });
    // Attributes that name the output's float type.
    const out16 = floatOuts.some((o) => newType.get(o) === FLOAT16);
    if (!out16) continue;
    switch (node.opType) {
      case 'RandomNormal':
      case 'RandomUniform':
        setAttr(node, attr.int('dtype', FLOAT16));
        break;
      case 'RandomNormalLike':
      case 'RandomUniformLike':
      case 'EyeLike':
      case 'Bernoulli':
        if (attrInt(node, 'dtype') !== undefined) setAttr(node, attr.int('dtype', FLOAT16));
        break;
      default:
        break;
    }
  }

  // ---- 3. graph outputs keep their names and their type -------------------------------------------
  /** Names whose producer now writes another name: original → new. */
  const moved = new Map<string, string>();
  for (const vi of graph.outputs) {
    if (!isFloat(vi.name)) continue;
    const want = keepIO ? FLOAT : FLOAT16;
    const has = newType.get(vi.name);
    const producer = graph.producer(vi.name);
    if (has === undefined || has === want || !producer) continue;
    const inner = graph.uniqueName(`${vi.name}_${has === FLOAT16 ? 'fp16' : 'fp32'}`);
    producer.output = producer.output.map((o) => (o === vi.name ? inner : o));
    graph.invalidate();
    newType.set(inner, has);
    types.set(inner, FLOAT);
    moved.set(vi.name, inner);
    addCast(inner, want, vi.name);
    newType.set(vi.name, want);
    castCache.set(castKey(inner, want), vi.name);
    const shape = vi.type?.tensorType?.shape;
    graph.setValueInfo(retyped({ name: inner, type: { denotation: '', tensorType: { elemType: has, shape } }, docString: '', metadataProps: [] }, has));
  }

  // ---- 4. every reader gets the type it wants -----------------------------------------------------
  const cast = (source: string, to: number): string => {
    if (newType.get(source) === to) return source;
    const key = castKey(source, to);
    let out = castCache.get(key);
    if (!out) {
      out = addCast(source, to);
      castCache.set(key, out);
    }
    return out;
  };
  // Sub-graph reads, taken before inputs change (the index answers them); nodes with sub-graphs are kept.
  const implicitReads = graph.nodes.filter((n) => subgraphsOf(n).length > 0).map((n) => ({ node: n, names: [...graph.implicitInputs(n)] }));
  // Inputs are rewritten in place without asking the graph's index anything, which is refreshed once after.
  for (const node of [...graph.nodes]) {
    if (ownCasts.has(node)) continue;
    node.input = node.input.map((name, i) => {
      if (!isFloat(name)) return name;
      const source = moved.get(name) ?? name;
      const want = slotWant(node, i, false);
      if (want === 'any') return source;
      if (want === FLOAT16 && copies.has(source)) return copies.get(source)!;
      return cast(source, want);
    });
  }
  graph.invalidate();
  // Reads from inside sub-graphs stay float32. (A moved graph output's name now holds its Cast.)
  for (const { node, names } of implicitReads) {
    for (const name of names) {
      if (!isFloat(name) || newType.get(name) !== FLOAT16) continue;
      const fp32 = cast(name, FLOAT);
      for (const g of subgraphsOf(node)) renameOuterReads(g, name, fp32);
    }
  }
  graph.invalidate();

  // ---- 5. fold casts that became no-ops or Cast→Cast pairs ---------------------------------------
  report.castsRemoved = foldCasts(graph, ownCasts, touchedCasts, types, newType, graphOutputs);
  const live = new Set(graph.nodes);
  report.castsInserted = [...ownCasts].filter((n) => live.has(n)).length;

  // ---- 6. declared types -------------------------------------------------------------------------
  if (!keepIO) {
    graph.inputs = graph.inputs.map((vi) => (isFloat(vi.name) ? retyped(vi, FLOAT16) : vi));
    graph.outputs = graph.outputs.map((vi) => (isFloat(vi.name) ? retyped(vi, FLOAT16) : vi));
  }
  for (const [name, t] of newType) {
    if (t !== FLOAT16 || graphInputs.has(name) || graphOutputs.has(name)) continue;
    const vi = graph.valueInfo(name);
    if (vi && vi.type?.tensorType?.elemType === FLOAT) graph.setValueInfo(retyped(vi, FLOAT16));
  }

  for (const node of graph.nodes) {
    if (ownCasts.has(node)) continue;
    const floatSlots = [...node.input, ...node.output].filter(isFloat);
    if (floatSlots.length === 0) continue;
    const reason = kept.get(node);
    if (reason) report.keptNodes.push({ name: node.name, opType: node.opType, reason });
    else if (!TYPED_BY_READERS.has(node.opType) && floatSlots.every((n) => newType.get(n) !== FLOAT16)) {
      report.keptNodes.push({ name: node.name, opType: node.opType, reason: 'no-float16' });
      report.float16Nodes--;
    }
  }
  report.bytesAfter = bytesOf();
  return report;
}

/** A Constant's value_float / value_floats as a float32 tensor, or undefined. */
function constantAsTensor(node: NodeProto): TensorProto | undefined {
  const f = getAttr(node, 'value_float');
  if (f) return makeTensor('value', FLOAT, [], Float32Array.of(f.f));
  const fs = getAttr(node, 'value_floats');
  if (fs) return makeTensor('value', FLOAT, [fs.floats.length], Float32Array.from(fs.floats));
  return undefined;
}

/**
 * Remove Casts that cast a tensor to the type it has, and route a Cast that reads another Cast's
 * output to that Cast's input when the first cast lost nothing. Only Casts this pass added or changed
 * are touched. Returns how many Cast nodes were removed.
 */
function foldCasts(
  graph: Graph,
  own: Set<NodeProto>,
  touched: Set<NodeProto>,
  types: Map<string, number>,
  newType: Map<string, number>,
  graphOutputs: ReadonlySet<string>,
): number {
  const typeOf = (name: string): number | undefined => newType.get(name) ?? types.get(name);
  let removed = 0;
  let changed = true;
  while (changed) {
    changed = false;
    for (const node of [...graph.nodes]) {
      if (node.opType !== 'Cast' || (!own.has(node) && !touched.has(node))) continue;
      const to = attrInt(node, 'to');
      const input = node.input[0];
      const output = node.output[0];
      // A Cast reading a Cast whose cast was exact: read the first Cast's input.
      const before = graph.producer(input);
      if (before && before.opType === 'Cast' && isDefaultDomain(before.domain)) {
        const source = before.input[0];
        const sourceType = typeOf(source);
        const middle = attrInt(before, 'to');
        if (sourceType !== undefined && middle !== undefined && exactCast(sourceType, middle)) {
          node.input = [source];
          graph.invalidate();
          changed = true;
          if (graph.consumers(input).length === 0 && !graphOutputs.has(input) && own.has(before)) {
            graph.removeNode(before);
            removed++;
          }
          continue;
        }
      }
      // A Cast to the type its input already has.
      if (to !== undefined && typeOf(input) === to && !graphOutputs.has(output)) {
        graph.replaceAllUses(output, input);
        graph.removeNode(node);
        removed++;
        changed = true;
      }
    }
  }
  return removed;
}
