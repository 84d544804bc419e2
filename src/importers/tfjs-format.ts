/**
 * The TensorFlow.js layers-model format, read without TensorFlow.js: model.json validation, the
 * Keras topology (Sequential or functional) as a list of layer calls, and weight decoding
 * (float32, int32, and the uint8 / uint16 / float16 quantized forms). Pure; file I/O is in tfjs-files.ts.
 */
import { KilnError } from '../errors.js';

/** One entry of a weights manifest (TF.js `WeightsManifestEntry`). */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; original_dtype?: string };
  group?: string;
}

/** A group of weight files whose concatenated bytes hold `weights` in order. */
export interface TfjsWeightsGroup {
  paths: string[];
  weights: TfjsWeightSpec[];
}

/** What a layers-model model.json holds (TF.js `ModelJSON`), as far as kiln reads it. */
export interface TfjsModelJson {
  modelTopology: Record<string, unknown>;
  weightsManifest: TfjsWeightsGroup[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

/** A decoded weight: its shape and values as float32. */
export interface TfjsWeight {
  shape: number[];
  data: Float32Array;
}

/** Where a layer call takes one input from: the `tensor`-th output of the `node`-th call of `layer`. */
export interface TensorRef {
  layer: string;
  node: number;
  tensor: number;
}

/** One layer of the topology, with the inputs of each of its calls (a shared layer has several). */
export interface LayerSpec {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** Inputs per call; an InputLayer has none. */
  calls: TensorRef[][];
}

/** The model as layers in an order where every input is defined before it is used (mostly: see tfjs.ts). */
export interface Topology {
  /** 'Sequential' or 'Model' / 'Functional'. */
  className: string;
  name: string;
  layers: LayerSpec[];
  inputs: TensorRef[];
  outputs: TensorRef[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(source: string, message: string, hint?: string): never {
  throw new KilnError('CONVERT', `${source}: ${message}`, { hint });
}

/**
 * Parse and check the text of a model.json. Graph models (the TF.js converter's SavedModel output)
 * and anything that is not a layers model are refused with a CONVERT error naming `source`.
 */
export function parseModelJson(text: string, source: string): TfjsModelJson {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    fail(
      source,
      `not a TensorFlow.js model.json (it is not JSON: ${(err as Error).message})`,
      'pass the model.json that tf.LayersModel.save() or tensorflowjs_converter wrote',
    );
  }
  if (!isRecord(json) || !isRecord(json.modelTopology)) {
    fail(
      source,
      'not a TensorFlow.js model.json (no "modelTopology" object)',
      'pass the model.json that tf.LayersModel.save() or tensorflowjs_converter wrote',
    );
  }
  const topology = json.modelTopology as Record<string, unknown>;
  if (json.format === 'graph-model' || Array.isArray(topology.node)) {
    fail(
      source,
      'is a TF.js graph model (a converted SavedModel / frozen graph); kiln converts layers models only',
      'export the Keras model as a layers model (tensorflowjs_converter --output_format tfjs_layers_model) or convert the SavedModel with tf2onnx',
    );
  }
  if (json.format !== undefined && json.format !== 'layers-model') {
    fail(source, `has format '${String(json.format)}'; kiln converts 'layers-model' files only`);
  }
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) fail(source, '"weightsManifest" is not a list of weight groups');
  manifest.forEach((group, g) => {
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      fail(source, `weightsManifest[${g}] needs "paths" and "weights" lists`);
    }
    group.paths.forEach((p, i) => {
      if (typeof p !== 'string' || p === '') fail(source, `weightsManifest[${g}].paths[${i}] is not a file name`);
    });
    group.weights.forEach((w, i) => checkWeightSpec(w, `weightsManifest[${g}].weights[${i}]`, source));
  });
  return {
    modelTopology: topology,
    weightsManifest: manifest as TfjsWeightsGroup[],
    format: typeof json.format === 'string' ? json.format : undefined,
    generatedBy: typeof json.generatedBy === 'string' ? json.generatedBy : undefined,
    convertedBy: typeof json.convertedBy === 'string' ? json.convertedBy : null,
  };
}

export function checkWeightSpec(w: unknown, where: string, source: string): asserts w is TfjsWeightSpec {
  if (!isRecord(w) || typeof w.name !== 'string' || typeof w.dtype !== 'string' || !Array.isArray(w.shape)) {
    fail(source, `${where} is not a weight entry (needs name, shape and dtype)`);
  }
  if (!w.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    fail(source, `weight '${w.name}' has an invalid shape [${w.shape.join(', ')}]`);
  }
}

const BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/**
 * Decode `specs`, laid out one after the other in `data`, into float32 arrays keyed by weight name.
 * `describe(offset)` names the file that holds byte `offset`, for error messages.
 */
export function decodeWeights(
  specs: readonly TfjsWeightSpec[],
  data: Uint8Array,
  source: string,
  describe: (offset: number) => string = () => 'the weight data',
): Map<string, TfjsWeight> {
  const out = new Map<string, TfjsWeight>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const q = spec.quantization;
    const stored = q ? q.dtype : spec.dtype;
    const size = BYTES[stored];
    if (size === undefined || (q && !['uint8', 'uint16', 'float16'].includes(q.dtype)) || (!q && !['float32', 'int32', 'bool'].includes(spec.dtype))) {
      fail(
        source,
        `weight '${spec.name}' is stored as ${q ? `${q.dtype}-quantized ${spec.dtype}` : spec.dtype}`,
        'supported: float32, int32 and bool weights, and uint8 / uint16 / float16 quantization',
      );
    }
    const bytes = count * size;
    if (offset + bytes > data.byteLength) {
      const layer = spec.name.includes('/') ? spec.name.slice(0, spec.name.lastIndexOf('/')) : spec.name;
      fail(
        source,
        `weight '${spec.name}' (layer '${layer}') needs bytes ${offset}..${offset + bytes} of the weight data, but ${describe(Math.min(offset, Math.max(data.byteLength - 1, 0)))} ends at byte ${data.byteLength}`,
        'the weight files are truncated or belong to another model: copy all the .bin files that came with model.json',
      );
    }
    const values = new Float32Array(count);
    if (q && (q.dtype === 'uint8' || q.dtype === 'uint16')) {
      if (typeof q.scale !== 'number' || typeof q.min !== 'number') fail(source, `weight '${spec.name}' is ${q.dtype}-quantized but has no scale and min`);
      for (let i = 0; i < count; i++) {
        const v = q.dtype === 'uint8' ? view.getUint8(offset + i) : view.getUint16(offset + 2 * i, true);
        values[i] = v * q.scale + q.min;
      }
    } else if (q) {
      for (let i = 0; i < count; i++) values[i] = float16ToFloat32(view.getUint16(offset + 2 * i, true));
    } else if (spec.dtype === 'float32') {
      for (let i = 0; i < count; i++) values[i] = view.getFloat32(offset + 4 * i, true);
    } else if (spec.dtype === 'int32') {
      for (let i = 0; i < count; i++) values[i] = view.getInt32(offset + 4 * i, true);
    } else {
      for (let i = 0; i < count; i++) values[i] = view.getUint8(offset + i) ? 1 : 0;
    }
    offset += bytes;
    out.set(spec.name, { shape: [...spec.shape], data: values });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Topology

/** Keras writes `[name, node, tensor]`; Keras 3 may write a single input without the outer list. */
function refList(value: unknown, where: string, source: string): TensorRef[] {
  if (!Array.isArray(value)) fail(source, `${where} is not a list`);
  const list = value.length > 0 && typeof value[0] === 'string' ? [value] : value;
  return list.map((r, i) => {
    if (!Array.isArray(r) || typeof r[0] !== 'string') fail(source, `${where}[${i}] is not [layer name, node index, tensor index]`);
    return { layer: r[0], node: Number(r[1] ?? 0), tensor: Number(r[2] ?? 0) };
  });
}

/** Inputs of one layer call: Keras 2 / TF.js `[[name, node, tensor, kwargs], ...]` or Keras 3 `{args, kwargs}`. */
function callInputs(call: unknown, where: string, source: string): TensorRef[] {
  if (Array.isArray(call)) {
    return call.map((r, i) => {
      if (!Array.isArray(r) || typeof r[0] !== 'string') fail(source, `${where}[${i}] is not [layer name, node index, tensor index, kwargs]`);
      return { layer: r[0], node: Number(r[1] ?? 0), tensor: Number(r[2] ?? 0) };
    });
  }
  if (isRecord(call)) {
    const refs: TensorRef[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (isRecord(v)) {
        const history = isRecord(v.config) ? v.config.keras_history : undefined;
        if (v.class_name === '__keras_tensor__' && Array.isArray(history)) {
          refs.push({ layer: String(history[0]), node: Number(history[1] ?? 0), tensor: Number(history[2] ?? 0) });
        }
      }
    };
    walk(call.args);
    return refs;
  }
  fail(source, `${where} is not a layer call`);
}

function layerSpec(raw: unknown, where: string, source: string): LayerSpec {
  if (!isRecord(raw) || typeof raw.class_name !== 'string' || !isRecord(raw.config)) {
    fail(source, `${where} is not a layer (needs class_name and config)`);
  }
  const config = raw.config;
  const name = typeof raw.name === 'string' ? raw.name : typeof config.name === 'string' ? config.name : '';
  if (!name) fail(source, `${where} (${raw.class_name}) has no name`);
  const inbound = raw.inbound_nodes ?? [];
  if (!Array.isArray(inbound)) fail(source, `layer '${name}' (${raw.class_name}): inbound_nodes is not a list`);
  const calls = inbound.map((call, i) => callInputs(call, `layer '${name}' inbound_nodes[${i}]`, source));
  return { className: raw.class_name, name, config, calls };
}

/** The batch input shape a layer config declares, if any (batch_input_shape, batch_shape, input_shape, input_dim). */
export function declaredInputShape(config: Record<string, unknown>): (number | null)[] | undefined {
  const shape = config.batch_input_shape ?? config.batch_shape;
  if (Array.isArray(shape)) return shape.map((d) => (typeof d === 'number' ? d : null));
  if (Array.isArray(config.input_shape)) return [null, ...config.input_shape.map((d) => (typeof d === 'number' ? d : null))];
  if (typeof config.input_dim === 'number') return [null, config.input_dim];
  return undefined;
}

/** Read the Keras topology of a layers model.json (`modelTopology`, or its `model_config`). */
export function parseTopology(modelTopology: Record<string, unknown>, source: string): Topology {
  const top = isRecord(modelTopology.model_config) ? modelTopology.model_config : modelTopology;
  const className = top.class_name;
  if (typeof className !== 'string') fail(source, 'modelTopology has no class_name (Sequential or Model)');
  const config = top.config;
  if (className === 'Sequential') {
    const rawLayers = Array.isArray(config) ? config : isRecord(config) ? config.layers : undefined;
    if (!Array.isArray(rawLayers) || rawLayers.length === 0) fail(source, 'the Sequential model has no layers');
    const name = isRecord(config) && typeof config.name === 'string' ? config.name : 'sequential';
    const specs = rawLayers.map((l, i) => layerSpec(l, `layers[${i}]`, source));
    const layers: LayerSpec[] = [];
    let first = specs[0];
    if (first.className !== 'InputLayer') {
      const shape = declaredInputShape(first.config);
      if (!shape) {
        fail(
          source,
          `the Sequential model's first layer '${first.name}' (${first.className}) declares no input shape`,
          'give the first layer an inputShape (or batchInputShape) before saving',
        );
      }
      first = {
        className: 'InputLayer',
        name: `${first.name}_input`,
        config: { batch_input_shape: shape, dtype: first.config.dtype ?? 'float32', name: `${first.name}_input` },
        calls: [],
      };
      layers.push(first);
    }
    for (const spec of specs) {
      if (spec.className === 'InputLayer') {
        if (spec !== specs[0]) fail(source, `layer '${spec.name}' (InputLayer) appears after the first layer of a Sequential model`);
        layers.push({ ...spec, calls: [] });
        continue;
      }
      const prev = layers[layers.length - 1];
      layers.push({ ...spec, calls: [[{ layer: prev.name, node: 0, tensor: 0 }]] });
    }
    const last = layers[layers.length - 1];
    return {
      className,
      name,
      layers,
      inputs: [{ layer: layers[0].name, node: 0, tensor: 0 }],
      outputs: [{ layer: last.name, node: 0, tensor: 0 }],
    };
  }
  if (className === 'Model' || className === 'Functional') {
    if (!isRecord(config) || !Array.isArray(config.layers)) fail(source, `the ${className} has no layers list`);
    const layers = config.layers.map((l, i) => layerSpec(l, `layers[${i}]`, source));
    return {
      className,
      name: typeof config.name === 'string' ? config.name : 'model',
      layers,
      inputs: refList(config.input_layers, 'input_layers', source),
      outputs: refList(config.output_layers, 'output_layers', source),
    };
  }
  fail(source, `modelTopology is a '${className}'; kiln converts Sequential and functional (Model) layers models`);
}
