/**
 * A tiny append-only ONNX graph writer for the importers: unique value names, nodes with typed
 * attributes, initializers, and pruning of what the outputs do not need. Pure; no I/O.
 * (Deliberately private to src/importers: the shared in-memory graph lives in src/onnx/graph.ts.)
 */
import type { AttributeProto, NodeProto, TensorProto } from '../onnx/proto-types.js';
import { attr } from '../onnx/nodes.js';
import { DataType } from '../onnx/dtypes.js';
import { makeTensor } from '../onnx/tensor.js';

/** An attribute value with its ONNX type spelled out (a JS number alone cannot say INT or FLOAT). */
export type AttrValue = { int: number } | { float: number } | { ints: readonly number[] } | { floats: readonly number[] } | { string: string };

export const int = (v: number): AttrValue => ({ int: v });
export const float = (v: number): AttrValue => ({ float: v });
export const ints = (v: readonly number[]): AttrValue => ({ ints: v });
export const str = (v: string): AttrValue => ({ string: v });

/** The AttributeProto for a typed value, built with src/onnx's attribute constructors. */
function attribute(name: string, value: AttrValue): AttributeProto {
  if ('int' in value) return attr.int(name, value.int);
  if ('float' in value) return attr.float(name, value.float);
  if ('ints' in value) return attr.ints(name, value.ints);
  if ('floats' in value) return attr.floats(name, value.floats);
  return attr.string(name, value.string);
}

export class GraphEmitter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly scalars = new Map<string, string>();

  /** `reserved`: names that internal values must never take (graph inputs and outputs). */
  constructor(reserved: Iterable<string> = []) {
    for (const name of reserved) this.used.add(name);
  }

  /** A value or node name not used before, derived from `base`. */
  unique(base: string): string {
    let name = base || 'v';
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Mark a name as taken (a graph input). */
  claim(name: string): void {
    this.used.add(name);
  }

  /** Append a single-output node; returns its output name (unique, derived from `base`). */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, base = opType): string {
    const output = this.unique(base);
    this.nodes.push({
      name: this.unique(`${base}/${opType}`),
      opType,
      domain: '',
      overload: '',
      input: [...inputs],
      output: [output],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      docString: '',
      metadataProps: [],
    });
    return output;
  }

  /** Add a float32 initializer; returns its name. */
  floats(base: string, dims: readonly number[], data: Float32Array): string {
    const name = this.unique(base);
    this.initializers.push(makeTensor(name, DataType.FLOAT, [...dims], data));
    return name;
  }

  /** Add an int64 initializer; returns its name. */
  int64s(base: string, values: readonly (number | bigint)[]): string {
    const name = this.unique(base);
    this.initializers.push(
      makeTensor(
        name,
        DataType.INT64,
        [values.length],
        BigInt64Array.from(values, (v) => BigInt(v)),
      ),
    );
    return name;
  }

  /** A float32 scalar initializer, shared between the nodes that use the same value. */
  scalar(value: number): string {
    const key = Object.is(value, -0) ? '-0' : String(value);
    let name = this.scalars.get(key);
    if (!name) {
      name = this.unique(`const_${key.replace(/[^0-9A-Za-z]/g, '_')}`);
      this.initializers.push(makeTensor(name, DataType.FLOAT, [], new Float32Array([value])));
      this.scalars.set(key, name);
    }
    return name;
  }

  /** Rename a value everywhere it is produced or consumed (used to give graph outputs their names). */
  rename(from: string, to: string): void {
    for (const n of this.nodes) {
      n.input = n.input.map((v) => (v === from ? to : v));
      n.output = n.output.map((v) => (v === from ? to : v));
    }
  }

  /** Drop the nodes and initializers that none of `outputs` depends on. Node order is kept. */
  prune(outputs: readonly string[]): void {
    const needed = new Set(outputs);
    const keep: boolean[] = new Array(this.nodes.length).fill(false);
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (n.output.some((o) => needed.has(o))) {
        keep[i] = true;
        for (const input of n.input) if (input) needed.add(input);
      }
    }
    const nodes = this.nodes.filter((_, i) => keep[i]);
    this.nodes.splice(0, this.nodes.length, ...nodes);
    const inits = this.initializers.filter((t) => needed.has(t.name));
    this.initializers.splice(0, this.initializers.length, ...inits);
  }
}
