/**
 * Test models written in code. `GraphBuilder` assembles a graph node by node with seeded random
 * weights; `buildMlp`, `buildCnn` and `buildMatMulAdd` are ready-made models that compiler passes and
 * runtimes are tested on. Everything here is deterministic for a seed, and every model it builds
 * loads and runs in onnxruntime.
 */
import { DataType, dtypeFromShort, dtypeInfo, numberToFloat16 } from './dtypes.js';
import { attr, makeNode, makeValueInfo, type Dim } from './nodes.js';
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from './proto-types.js';
import { Rng } from './random.js';
import { elementCount, makeTensor } from './tensor.js';

/** A data type code (DataType.FLOAT) or its short name ('float32', 'int64', ...). */
export type DTypeLike = number | string;

const toCode = (dtype: DTypeLike): number => (typeof dtype === 'number' ? (dtypeInfo(dtype), dtype) : dtypeFromShort(dtype));

export interface RandomInitializerOptions {
  /** @default 'normal' */
  distribution?: 'normal' | 'uniform';
  /** Mean of the normal distribution. @default 0 */
  mean?: number;
  /** Standard deviation of the normal distribution. @default 1 */
  std?: number;
  /** Lower bound of the uniform distribution. @default -1 */
  min?: number;
  /** Upper bound (exclusive) of the uniform distribution. @default 1 */
  max?: number;
  /** 'float32', 'float16' or 'float64'. @default 'float32' */
  dtype?: DTypeLike;
}

export interface NodeOptions {
  /** Node name. @default `<opType>_<n>` */
  name?: string;
  /** Operator domain. @default '' (ai.onnx) */
  domain?: string;
}

export interface BuildOptions {
  /** Version of the default ONNX opset. @default 17 */
  opset?: number;
  /** IR version. @default 8 */
  irVersion?: number;
  /** Further opset imports, domain → version (e.g. {'com.microsoft': 1}). @default {} */
  opsets?: Readonly<Record<string, number>>;
  /** @default 'kiln' */
  producerName?: string;
  /** @default '' */
  docString?: string;
}

export interface GraphBuilderOptions {
  /** Seed of the random initializers. @default 0 */
  seed?: number;
}

/** State shared by a builder and the builders of its sub-graphs, so that names never collide. */
interface Shared {
  rng: Rng;
  /** Tensor names (inputs, initializers, node outputs). */
  names: Set<string>;
  /** Node names: a namespace of their own in ONNX. */
  nodeNames: Set<string>;
  counter: number;
}

export class GraphBuilder {
  /** The random number generator behind randomInitializer, for test data that follows the same seed. */
  readonly rng: Rng;
  private readonly shared: Shared;
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];

  constructor(
    readonly name = 'graph',
    options: GraphBuilderOptions = {},
    shared?: Shared,
  ) {
    this.shared = shared ?? { rng: new Rng(options.seed ?? 0), names: new Set(), nodeNames: new Set(), counter: 0 };
    this.rng = this.shared.rng;
  }

  /**
   * A builder for a sub-graph (If branch, Loop body) that shares this builder's names and random
   * numbers; pass its `buildGraph()` to `attr.graph`. Its nodes may read this graph's tensors.
   */
  subgraph(name: string): GraphBuilder {
    return new GraphBuilder(name, {}, this.shared);
  }

  /** Declare a graph input. Shape entries: a size, a symbolic name ('N') or null (unknown). */
  input(name: string, dtype: DTypeLike, shape: readonly Dim[]): string {
    this.claim(name);
    this.inputs.push(makeValueInfo(name, toCode(dtype), shape));
    return name;
  }

  /** Add an initializer holding `data` (float16/bfloat16 as bits, as makeTensor takes them). */
  initializer(name: string, dims: readonly number[], data: ArrayLike<number | bigint>, dtype: DTypeLike = DataType.FLOAT): string {
    this.claim(name);
    this.initializers.push(makeTensor(name, toCode(dtype), [...dims], data));
    return name;
  }

  /** Add an initializer of seeded random values (normal by default). */
  randomInitializer(name: string, dims: readonly number[], options: RandomInitializerOptions = {}): string {
    const count = elementCount(dims);
    const values =
      options.distribution === 'uniform'
        ? this.rng.uniformArray(count, options.min ?? -1, options.max ?? 1)
        : this.rng.normalArray(count, options.mean ?? 0, options.std ?? 1);
    const code = toCode(options.dtype ?? DataType.FLOAT);
    switch (code) {
      case DataType.FLOAT:
        return this.initializer(name, dims, values, code);
      case DataType.DOUBLE:
        return this.initializer(name, dims, Float64Array.from(values), code);
      case DataType.FLOAT16:
        return this.initializer(name, dims, Uint16Array.from(values, numberToFloat16), code);
      default:
        throw new RangeError(`randomInitializer('${name}'): dtype must be float32, float16 or float64, got ${String(options.dtype)}`);
    }
  }

  /** Add a node with one output; returns the output's name (`<node name>_out`, or `output` when given). */
  node(opType: string, inputs: readonly string[], attrs: readonly AttributeProto[] = [], options: NodeOptions & { output?: string } = {}): string {
    return this.nodeOutputs(opType, inputs, options.output !== undefined ? [options.output] : 1, attrs, options)[0];
  }

  /** Add a node with several outputs: a count (named `<node name>_out<i>`) or the names. */
  nodeOutputs(
    opType: string,
    inputs: readonly string[],
    outputs: number | readonly string[],
    attrs: readonly AttributeProto[] = [],
    options: NodeOptions = {},
  ): string[] {
    const nodeName = options.name ?? this.fresh(opType, true, this.shared.nodeNames);
    if (options.name !== undefined) this.claim(nodeName, this.shared.nodeNames);
    let names: string[];
    if (typeof outputs === 'number') {
      names = outputs === 1 ? [this.fresh(`${nodeName}_out`, false)] : Array.from({ length: outputs }, (_, i) => this.fresh(`${nodeName}_out${i}`, false));
    } else {
      names = [...outputs];
      for (const n of names) this.claim(n);
    }
    this.nodes.push(makeNode(opType, inputs, names, attrs, { name: nodeName, domain: options.domain }));
    return names;
  }

  /** Mark a tensor as a graph output. `shape` undefined leaves the rank unknown. */
  output(name: string, dtype: DTypeLike, shape?: readonly Dim[]): string {
    this.outputs.push(makeValueInfo(name, toCode(dtype), shape));
    return name;
  }

  /** The GraphProto (for a sub-graph, or a model made by hand). */
  buildGraph(): GraphProto {
    return {
      name: this.name,
      node: [...this.nodes],
      initializer: [...this.initializers],
      sparseInitializer: [],
      docString: '',
      input: [...this.inputs],
      output: [...this.outputs],
      valueInfo: [],
      quantizationAnnotation: [],
      metadataProps: [],
    };
  }

  /** The model. Throws RangeError when a graph output names a tensor that nothing defines. */
  build(options: BuildOptions = {}): ModelProto {
    const defined = new Set([...this.inputs.map((v) => v.name), ...this.initializers.map((t) => t.name), ...this.nodes.flatMap((n) => n.output)]);
    for (const o of this.outputs) {
      if (!defined.has(o.name)) throw new RangeError(`GraphBuilder('${this.name}'): output '${o.name}' is not an input, initializer or node output`);
    }
    const extra = Object.entries(options.opsets ?? {}).map(([domain, version]) => ({ domain, version }));
    return {
      irVersion: options.irVersion ?? 8,
      opsetImport: [{ domain: '', version: options.opset ?? 17 }, ...extra],
      producerName: options.producerName ?? 'kiln',
      producerVersion: '',
      domain: '',
      modelVersion: 0,
      docString: options.docString ?? '',
      graph: this.buildGraph(),
      metadataProps: [],
      trainingInfo: [],
      functions: [],
    };
  }

  private claim(name: string, names = this.shared.names): void {
    if (!name) throw new RangeError(`GraphBuilder('${this.name}'): names must not be empty`);
    if (names.has(name))
      throw new RangeError(`GraphBuilder('${this.name}'): the ${names === this.shared.names ? 'tensor' : 'node'} name '${name}' is already used`);
    names.add(name);
  }

  /** A free name: `base` itself, or `base_<n>` when `numbered` or when `base` is taken. */
  private fresh(base: string, numbered: boolean, names = this.shared.names): string {
    let name = numbered ? `${base}_${this.shared.counter++}` : base;
    while (names.has(name)) name = `${base}_${this.shared.counter++}`;
    names.add(name);
    return name;
  }
}

// ---- ready-made models ---------------------------------------------------------------------------

/** Fan-in scaled normal weights keep activations of order 1 through the layers. */
const fanInStd = (fanIn: number): number => 1 / Math.sqrt(fanIn);

export interface MlpOptions {
  /** Features per example. @default 16 */
  inputSize?: number;
  /** Widths of the hidden layers (each Gemm + Relu). @default [32] */
  hidden?: readonly number[];
  /** Width of the output layer. @default 10 */
  outputs?: number;
  /** The batch dimension. @default 'N' */
  batch?: Dim;
  /** @default 0 */
  seed?: number;
  /** @default 17 */
  opset?: number;
}

/**
 * A multi-layer perceptron as PyTorch exports one: `input` [batch, inputSize] → (Gemm transB=1 →
 * Relu) per hidden layer → Gemm → `output` [batch, outputs]. Weights `fc<i>.weight` [out, in] and
 * biases `fc<i>.bias` [out].
 */
export function buildMlp(options: MlpOptions = {}): ModelProto {
  const { inputSize = 16, hidden = [32], outputs = 10, batch = 'N', seed = 0, opset = 17 } = options;
  const b = new GraphBuilder('mlp', { seed });
  let x = b.input('input', 'float32', [batch, inputSize]);
  const widths = [...hidden, outputs];
  let fanIn = inputSize;
  widths.forEach((width, i) => {
    const w = b.randomInitializer(`fc${i}.weight`, [width, fanIn], { std: fanInStd(fanIn) });
    const bias = b.randomInitializer(`fc${i}.bias`, [width], { std: 0.1 });
    const last = i === widths.length - 1;
    x = b.node('Gemm', [x, w, bias], [attr.int('transB', 1)], { name: `fc${i}`, output: last ? 'output' : undefined });
    if (!last) x = b.node('Relu', [x], [], { name: `relu${i}` });
    fanIn = width;
  });
  b.output('output', 'float32', [batch, outputs]);
  return b.build({ opset });
}

export interface CnnOptions {
  /** Input shape [batch, channels, height, width]; height and width must divide by 2^channels.length. @default ['N', 3, 32, 32] */
  inputShape?: readonly [Dim, number, number, number];
  /** Output channels of each stage (Conv 3×3 → BatchNormalization → Relu → MaxPool 2×2). @default [8, 16] */
  channels?: readonly number[];
  /** Classes of the final Gemm. @default 10 */
  classes?: number;
  /** Append a residual block: Conv → BN → Relu → Conv → BN → Add(skip) → Relu. @default false */
  residual?: boolean;
  /** Append a depthwise-separable block: depthwise Conv 3×3 (group = channels) → BN → Relu → Conv 1×1 → BN → Relu. @default false */
  depthwise?: boolean;
  /** Give every Conv a bias input (PyTorch's default is none before a BatchNormalization). @default false */
  convBias?: boolean;
  /** @default 0 */
  seed?: number;
  /** @default 17 */
  opset?: number;
}

/**
 * A small image classifier in the shape BN folding and quantization passes meet in practice:
 * stages of Conv/BatchNormalization/Relu/MaxPool, optional residual and depthwise blocks, then
 * GlobalAveragePool → Flatten → Gemm → `output` [batch, classes]. Input `input`.
 */
export function buildCnn(options: CnnOptions = {}): ModelProto {
  const {
    inputShape = ['N', 3, 32, 32],
    channels = [8, 16],
    classes = 10,
    residual = false,
    depthwise = false,
    convBias = false,
    seed = 0,
    opset = 17,
  } = options;
  const [batch, inChannels, height, width] = inputShape;
  const scale = 2 ** channels.length;
  if (channels.length === 0) throw new RangeError('buildCnn: channels must name at least one stage');
  if (height % scale !== 0 || width % scale !== 0) {
    throw new RangeError(`buildCnn: height and width (${height}×${width}) must divide by ${scale} for ${channels.length} pooling stages`);
  }
  const b = new GraphBuilder('cnn', { seed });
  let x = b.input('input', 'float32', inputShape);
  let c = inChannels;
  let layer = 0;

  const conv = (input: string, cin: number, cout: number, kernel: number, group = 1): string => {
    const i = layer++;
    const w = b.randomInitializer(`conv${i}.weight`, [cout, cin / group, kernel, kernel], { std: Math.sqrt(2 / ((cin / group) * kernel * kernel)) });
    const inputs = [input, w];
    if (convBias) inputs.push(b.randomInitializer(`conv${i}.bias`, [cout], { std: 0.1 }));
    const pad = (kernel - 1) / 2;
    const attrs = [attr.ints('kernel_shape', [kernel, kernel]), attr.ints('pads', [pad, pad, pad, pad]), attr.ints('strides', [1, 1])];
    if (group !== 1) attrs.push(attr.int('group', group));
    const y = b.node('Conv', inputs, attrs, { name: `conv${i}` });
    const bn = b.node(
      'BatchNormalization',
      [
        y,
        b.randomInitializer(`bn${i}.scale`, [cout], { distribution: 'uniform', min: 0.5, max: 1.5 }),
        b.randomInitializer(`bn${i}.bias`, [cout], { std: 0.1 }),
        b.randomInitializer(`bn${i}.mean`, [cout], { std: 0.1 }),
        b.randomInitializer(`bn${i}.var`, [cout], { distribution: 'uniform', min: 0.5, max: 1.5 }),
      ],
      [attr.float('epsilon', 1e-5)],
      { name: `bn${i}` },
    );
    return bn;
  };
  const relu = (input: string): string => b.node('Relu', [input]);

  for (const cout of channels) {
    x = relu(conv(x, c, cout, 3));
    x = b.node('MaxPool', [x], [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])]);
    c = cout;
  }
  if (residual) {
    const skip = x;
    const y = conv(relu(conv(x, c, c, 3)), c, c, 3);
    x = relu(b.node('Add', [y, skip], [], { name: 'residual_add' }));
  }
  if (depthwise) {
    x = relu(conv(relu(conv(x, c, c, 3, c)), c, c, 1));
  }
  x = b.node('GlobalAveragePool', [x]);
  x = b.node('Flatten', [x], [attr.int('axis', 1)]);
  const w = b.randomInitializer('fc.weight', [classes, c], { std: fanInStd(c) });
  const bias = b.randomInitializer('fc.bias', [classes], { std: 0.1 });
  b.node('Gemm', [x, w, bias], [attr.int('transB', 1)], { name: 'fc', output: 'output' });
  b.output('output', 'float32', [batch, classes]);
  return b.build({ opset });
}

export interface MatMulAddOptions {
  /** @default 'N' */
  batch?: Dim;
  /** Sequence length. @default 'S' */
  seqLen?: Dim;
  /** Model width. @default 32 */
  dModel?: number;
  /** Width of the feed-forward layer. @default 64 */
  ffDim?: number;
  /** Number of blocks. @default 1 */
  layers?: number;
  /** Give each block single-head self-attention before the feed-forward layer. @default true */
  attention?: boolean;
  /** Every block reuses block 0's weight initializers (a weight-tied encoder, ALBERT-style). @default false */
  shareLayers?: boolean;
  /** Token ids in (int64 [batch, seqLen]) and an embedding table of this many rows (Gather on an initializer). */
  vocab?: number;
  /** @default 0 */
  seed?: number;
  /** LayerNormalization is used where opset ≥ 17. @default 17 */
  opset?: number;
}

/**
 * A transformer-ish stack of MatMul + Add projections: per block, optional single-head self-attention
 * (Q/K/V projections, Transpose, MatMul, scale, Softmax, MatMul, output projection, residual Add)
 * then a feed-forward layer (MatMul + Add → Relu → MatMul + Add, residual Add), each preceded by
 * LayerNormalization where the opset has it. `input` and `output` are [batch, seqLen, dModel].
 */
export function buildMatMulAdd(options: MatMulAddOptions = {}): ModelProto {
  const { batch = 'N', seqLen = 'S', dModel = 32, ffDim = 64, layers = 1, attention = true, seed = 0, opset = 17, shareLayers = false, vocab } = options;
  const b = new GraphBuilder('matmul_add', { seed });
  let x: string;
  if (vocab) {
    const ids = b.input('input_ids', 'int64', [batch, seqLen]);
    const table = b.randomInitializer('embedding.weight', [vocab, dModel], { std: 1 });
    x = b.node('Gather', [table, ids], [attr.int('axis', 0)], { name: 'embedding' });
  } else {
    x = b.input('input', 'float32', [batch, seqLen, dModel]);
  }
  // With shared layers, every block's initializers are block 0's.
  const made = new Set<string>();
  const param = (name: string, make: (n: string) => string): string => {
    const n = shareLayers ? name.replace(/^block\d+\./, 'block0.') : name;
    if (made.has(n)) return n;
    made.add(n);
    return make(n);
  };

  const linear = (input: string, name: string, fanIn: number, fanOut: number): string => {
    const w = param(`${name}.weight`, (n) => b.randomInitializer(n, [fanIn, fanOut], { std: fanInStd(fanIn) }));
    const bias = param(`${name}.bias`, (n) => b.randomInitializer(n, [fanOut], { std: 0.1 }));
    return b.node('Add', [b.node('MatMul', [input, w], [], { name: `${name}.matmul` }), bias], [], { name: `${name}.add` });
  };
  const norm = (input: string, name: string): string => {
    if (opset < 17) return input;
    const gamma = param(`${name}.weight`, (n) => b.randomInitializer(n, [dModel], { distribution: 'uniform', min: 0.8, max: 1.2 }));
    const beta = param(`${name}.bias`, (n) => b.randomInitializer(n, [dModel], { std: 0.05 }));
    return b.node('LayerNormalization', [input, gamma, beta], [attr.int('axis', -1), attr.float('epsilon', 1e-5)], { name });
  };

  for (let l = 0; l < layers; l++) {
    if (attention) {
      const h = norm(x, `block${l}.ln1`);
      const q = linear(h, `block${l}.q`, dModel, dModel);
      const k = linear(h, `block${l}.k`, dModel, dModel);
      const v = linear(h, `block${l}.v`, dModel, dModel);
      const kt = b.node('Transpose', [k], [attr.ints('perm', [0, 2, 1])]);
      const scores = b.node('MatMul', [q, kt]);
      const scale = param(`block${l}.scale`, (n) => b.initializer(n, [], [1 / Math.sqrt(dModel)]));
      const probs = b.node('Softmax', [b.node('Mul', [scores, scale])], [attr.int('axis', -1)]);
      const context = b.node('MatMul', [probs, v]);
      x = b.node('Add', [x, linear(context, `block${l}.proj`, dModel, dModel)]);
    }
    const h = norm(x, `block${l}.ln2`);
    const f = linear(b.node('Relu', [linear(h, `block${l}.ff1`, dModel, ffDim)]), `block${l}.ff2`, ffDim, dModel);
    x = b.node('Add', [x, f], [], l === layers - 1 ? { output: 'output' } : {});
  }
  if (layers < 1) x = b.node('Identity', [x], [], { output: 'output' });
  b.output('output', 'float32', [batch, seqLen, dModel]);
  return b.build({ opset });
}
