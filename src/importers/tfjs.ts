/**
 * TensorFlow.js layers model → ONNX.
 *
 *   convertTfjsModel('model/model.json')  reads model.json + weight shards from disk
 *   convertLayersModel(model)             takes a tf.LayersModel in memory (through model.save)
 *   convertTfjsArtifacts(artifacts)       the pure core: topology + weight specs + weight bytes
 *
 * The ONNX model takes and returns tensors exactly as the TF.js model does (channels-last images,
 * same element order after Flatten), under the TF.js input/output layer names (sanitised). Inside,
 * convolutions run NCHW; see tfjs-layers.ts for how layouts are tracked. float32 only; opset 13 by
 * default (13–17 allowed; the emitted ops mean the same in all of them), IR version 8.
 */
import type { io } from '@tensorflow/tfjs';
import { KilnError } from '../errors.js';
import { DataType } from '../onnx/dtypes.js';
import type { Dimension, ModelProto, ValueInfoProto } from '../onnx/proto-types.js';
import { GraphEmitter, ints } from './onnx-emit.js';
import { readTfjsModelFiles } from './tfjs-files.js';
import { decodeWeights, parseTopology, declaredInputShape, checkWeightSpec, type LayerSpec, type TensorRef, type TfjsWeightSpec } from './tfjs-format.js';
import { LAYER_CONVERTERS, SUPPORTED_LAYERS, fmtShape, layerError, type Dim, type LayerContext, type Value } from './tfjs-layers.js';

export { SUPPORTED_LAYERS, SUPPORTED_ACTIVATIONS } from './tfjs-layers.js';
export { tfjsDirectory, readTfjsModelFiles, type TfjsDirectoryOptions } from './tfjs-files.js';

export interface TfjsConvertOptions {
  /**
   * Fix the batch dimension of every input and output to this size.
   * @default undefined: the TF.js model's own batch size if it fixes one, else a dynamic dimension named 'batch'
   */
  batchSize?: number;
  /**
   * ONNX opset of the default domain, 13–17.
   * @default 13
   */
  opset?: number;
  /**
   * Name used in error messages and the model's doc string.
   * @default the model.json path, or 'tfjs model' for in-memory models
   */
  source?: string;
}

/** A layers model as TF.js's `io.ModelArtifacts` holds it, with the weight bytes in one array. */
export interface TfjsArtifacts {
  modelTopology: Record<string, unknown>;
  weightSpecs: TfjsWeightSpec[];
  weightData: Uint8Array;
  generatedBy?: string;
  convertedBy?: string | null;
  /** Names the file that holds byte `offset` of `weightData`, for error messages. */
  describeOffset?: (offset: number) => string;
}

/** Anything with TF.js's `save(handler)`: a tf.LayersModel, tf.Sequential or tf.Model. */
export interface SavableLayersModel {
  save(handler: io.IOHandler): Promise<io.SaveResult>;
}

export const DEFAULT_OPSET = 13;
export const ONNX_IR_VERSION = 8;

/** Convert a TF.js layers model saved as model.json (+ weight .bin files beside it) to ONNX. */
export async function convertTfjsModel(modelJsonPath: string, options: TfjsConvertOptions = {}): Promise<ModelProto> {
  const files = readTfjsModelFiles(modelJsonPath);
  return convertTfjsArtifacts(
    {
      modelTopology: files.modelJson.modelTopology,
      weightSpecs: files.weightSpecs,
      weightData: files.weightData,
      generatedBy: files.modelJson.generatedBy,
      convertedBy: files.modelJson.convertedBy,
      describeOffset: files.describeOffset,
    },
    { ...options, source: options.source ?? modelJsonPath },
  );
}

/** Convert a TF.js layers model held in memory (it is serialized through `model.save`, not changed). */
export async function convertLayersModel(model: SavableLayersModel, options: TfjsConvertOptions = {}): Promise<ModelProto> {
  let captured: io.ModelArtifacts | undefined;
  await model.save({
    async save(artifacts: io.ModelArtifacts): Promise<io.SaveResult> {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  const source = options.source ?? 'tfjs model';
  if (!captured || typeof captured.modelTopology !== 'object' || captured.modelTopology instanceof ArrayBuffer || captured.modelTopology === null) {
    throw new KilnError('CONVERT', `${source}: the model did not save a JSON layers topology`, { hint: 'pass a tf.LayersModel (tf.sequential / tf.model)' });
  }
  const data = captured.weightData;
  const bytes = !data ? new Uint8Array(0) : Array.isArray(data) ? new Uint8Array(Buffer.concat(data.map((b) => new Uint8Array(b)))) : new Uint8Array(data);
  return convertTfjsArtifacts(
    {
      modelTopology: captured.modelTopology as Record<string, unknown>,
      weightSpecs: (captured.weightSpecs ?? []) as TfjsWeightSpec[],
      weightData: bytes,
      generatedBy: captured.generatedBy,
      convertedBy: captured.convertedBy,
    },
    { ...options, source },
  );
}

/** Sanitise a TF.js name for ONNX: letters, digits, '_', '.', '-' only. */
export function sanitizeName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return s === '' ? '_' : s;
}

const refKey = (r: TensorRef): string => `${r.layer}\u0000${r.node}\u0000${r.tensor}`;

const NESTED_MODELS = new Set(['Sequential', 'Model', 'Functional']);
const MERGE_LAYERS = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate']);

/** Convert topology + weights to an ONNX ModelProto. Pure: no file or network access. */
export function convertTfjsArtifacts(artifacts: TfjsArtifacts, options: TfjsConvertOptions = {}): ModelProto {
  const source = options.source ?? 'tfjs model';
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < 13 || opset > 17) {
    throw new KilnError('BAD_OPTION', `opset ${opset} is not supported by the TF.js importer`, { hint: 'use an opset from 13 to 17' });
  }
  const { batchSize } = options;
  if (batchSize !== undefined && (!Number.isSafeInteger(batchSize) || batchSize < 1)) {
    throw new KilnError('BAD_OPTION', `batchSize ${batchSize} is not a positive integer`, { hint: 'leave it out for a dynamic batch' });
  }
  artifacts.weightSpecs.forEach((w, i) => checkWeightSpec(w, `weightSpecs[${i}]`, source));
  const topology = parseTopology(artifacts.modelTopology, source);
  const weights = decodeWeights(artifacts.weightSpecs, artifacts.weightData, source, artifacts.describeOffset);
  const layers = new Map<string, LayerSpec>();
  for (const layer of topology.layers) {
    if (layers.has(layer.name)) throw new KilnError('CONVERT', `${source}: two layers are named '${layer.name}'`);
    layers.set(layer.name, layer);
  }

  // Graph input and output names: the TF.js layer names, sanitised and unique.
  const ioNames = new Set<string>();
  const uniqueIo = (name: string): string => {
    let n = sanitizeName(name);
    for (let i = 1; ioNames.has(n); i++) n = `${sanitizeName(name)}_${i}`;
    ioNames.add(n);
    return n;
  };
  // (TF.js's inputNames / outputNames are the layer names too, even for a shared layer's later call.)
  const inputNames = topology.inputs.map((r) => uniqueIo(r.layer));
  const outputNames = topology.outputs.map((r) => uniqueIo(r.layer));
  const emit = new GraphEmitter(ioNames);

  // Weights by name, found per layer as '<layer>/<key>' (Keras may add scopes in front, or ':0' behind).
  const weightIndex = [...weights.entries()].map(([name, w]) => ({ name: name.replace(/:\d+$/, ''), w }));

  const values = new Map<string, Value>();
  const graphInputs: ValueInfoProto[] = [];
  topology.inputs.forEach((ref, i) => {
    const layer = layers.get(ref.layer);
    if (!layer) throw new KilnError('CONVERT', `${source}: input layer '${ref.layer}' is not among the model's layers`);
    if (layer.className !== 'InputLayer') throw layerError(source, layer, 'is listed as a model input but is not an InputLayer');
    const dtype = layer.config.dtype ?? 'float32';
    if (dtype !== 'float32') throw layerError(source, layer, `input dtype '${String(dtype)}' is not supported`, 'supported: float32 inputs');
    if (layer.config.sparse === true || layer.config.ragged === true) throw layerError(source, layer, 'sparse and ragged inputs are not supported');
    const shape = declaredInputShape(layer.config);
    if (!shape || shape.length < 2) throw layerError(source, layer, 'declares no input shape (batch_input_shape)');
    const name = inputNames[i];
    emit.claim(name);
    const dims: Dim[] = [batchSize ?? shape[0], ...shape.slice(1)];
    values.set(refKey(ref), { name, shape: dims, layout: 'tf' });
    graphInputs.push(valueInfo(name, dims, batchSize === undefined && shape[0] === null ? 'batch' : undefined, name));
  });

  // Conversion state shared by every layer call.
  const layoutCache = new Map<string, Value>();
  const initCache = new Map<string, string>();

  const contextFor = (layer: LayerSpec, call: number): LayerContext => {
    const base = sanitizeName(call === 0 ? layer.name : `${layer.name}_call${call}`);
    const fail: (message: string, hint?: string) => never = (message, hint) => {
      throw layerError(source, layer, message, hint);
    };
    const ctx: LayerContext = {
      layer,
      emit,
      base,
      fail,
      weight(key, expected) {
        const exact = `${layer.name}/${key}`;
        const found = weightIndex.filter((e) => e.name === exact || e.name.endsWith(`/${exact}`));
        const hit = found.length === 1 ? found[0] : found.find((e) => e.name === exact);
        if (!hit) {
          if (found.length > 1) fail(`weight '${key}' is ambiguous: ${found.map((e) => `'${e.name}'`).join(', ')}`);
          fail(`weight '${exact}' is not in the weights manifest`, 'the model.json and its weights do not match, or the layer was saved without weights');
        }
        const w = hit.w;
        if (expected && (w.shape.length !== expected.length || expected.some((d, i) => d !== null && d !== w.shape[i]))) {
          fail(`weight '${hit.name}' has shape [${w.shape.join(', ')}], expected [${fmtShape(expected)}]`);
        }
        return w;
      },
      init(key, dims, make) {
        const cacheKey = `${layer.name}\u0000${key}`;
        let name = initCache.get(cacheKey);
        if (!name) {
          name = emit.floats(`${sanitizeName(layer.name)}/${key}`, dims, make());
          initCache.set(cacheKey, name);
        }
        return name;
      },
      toTf(v) {
        if (v.layout === 'tf') return v;
        const key = `${v.name}\u0000tf`;
        let out = layoutCache.get(key);
        if (!out) {
          out = { name: emit.op('Transpose', [v.name], { perm: ints([0, 2, 3, 1]) }, `${base}/to_nhwc`), shape: v.shape, layout: 'tf' };
          layoutCache.set(key, out);
        }
        return out;
      },
      toNchw(v) {
        if (v.layout === 'nchw') return v;
        if (v.shape.length !== 4) fail(`needs a rank-4 (NHWC) input, got shape [${fmtShape(v.shape)}]`);
        const key = `${v.name}\u0000nchw`;
        let out = layoutCache.get(key);
        if (!out) {
          out = { name: emit.op('Transpose', [v.name], { perm: ints([0, 3, 1, 2]) }, `${base}/to_nchw`), shape: v.shape, layout: 'nchw' };
          layoutCache.set(key, out);
        }
        return out;
      },
    };
    return ctx;
  };

  // Convert layer calls in dependency order (Keras lists layers in order, but shared layers' later
  // calls may come after layers that use them, so iterate until nothing more can be done).
  const pending: { layer: LayerSpec; call: number }[] = [];
  for (const layer of topology.layers) {
    if (layer.className === 'InputLayer') continue;
    if (NESTED_MODELS.has(layer.className)) {
      throw layerError(
        source,
        layer,
        'nested models are not supported',
        'flatten the model: build it from layers directly instead of using a model as a layer',
      );
    }
    if (!LAYER_CONVERTERS[layer.className]) {
      throw layerError(source, layer, 'this layer type is not supported', `supported layers: ${SUPPORTED_LAYERS.join(', ')}`);
    }
    layer.calls.forEach((_, call) => pending.push({ layer, call }));
  }
  let progress = true;
  while (pending.length > 0 && progress) {
    progress = false;
    for (let i = 0; i < pending.length; i++) {
      const { layer, call } = pending[i];
      const refs = layer.calls[call];
      if (!refs.every((r) => values.has(refKey(r)))) continue;
      if (refs.length === 0) throw layerError(source, layer, 'is called without inputs');
      if (refs.length > 1 && !MERGE_LAYERS.has(layer.className)) {
        throw layerError(source, layer, `is called with ${refs.length} inputs; this layer type takes one`);
      }
      const inputs = refs.map((r) => values.get(refKey(r))!);
      const out = LAYER_CONVERTERS[layer.className](contextFor(layer, call), inputs);
      values.set(refKey({ layer: layer.name, node: call, tensor: 0 }), out);
      pending.splice(i, 1);
      i--;
      progress = true;
    }
  }

  // Outputs: back in TF layout, under their TF.js names.
  const graphOutputs: ValueInfoProto[] = [];
  const taken = new Set(graphInputs.map((v) => v.name));
  topology.outputs.forEach((ref, i) => {
    let v = values.get(refKey(ref));
    if (!v) {
      const layer = layers.get(ref.layer);
      if (!layer) throw new KilnError('CONVERT', `${source}: output layer '${ref.layer}' is not among the model's layers`);
      if (ref.tensor !== 0) throw layerError(source, layer, `output ${ref.tensor} is asked for, but the supported layers have a single output`);
      const stuck = pending[0];
      const missing = stuck?.layer.calls[stuck.call].find((r) => !values.has(refKey(r)));
      throw layerError(
        source,
        stuck?.layer ?? layer,
        `cannot be reached from the model's inputs${missing ? ` (its input '${missing.layer}' is never computed)` : ''}`,
      );
    }
    v = contextFor(layers.get(ref.layer)!, ref.node).toTf(v);
    const name = outputNames[i];
    if (taken.has(v.name)) {
      emit.nodes.push({
        name: emit.unique(`${name}/Identity`),
        opType: 'Identity',
        domain: '',
        overload: '',
        input: [v.name],
        output: [name],
        attribute: [],
        docString: '',
        metadataProps: [],
      });
    } else {
      const old = v.name;
      emit.rename(old, name);
      for (const other of [...values.values(), ...layoutCache.values()]) if (other.name === old) other.name = name;
    }
    taken.add(name);
    graphOutputs.push(
      valueInfo(name, [batchSize ?? v.shape[0], ...v.shape.slice(1)], batchSize === undefined && v.shape[0] === null ? 'batch' : undefined, name),
    );
  });

  emit.prune(graphOutputs.map((o) => o.name));

  return {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'kiln',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: `Converted by kiln from the TensorFlow.js layers model ${source}`,
    graph: {
      name: sanitizeName(topology.name),
      node: emit.nodes,
      initializer: emit.initializers,
      sparseInitializer: [],
      docString: '',
      input: graphInputs,
      output: graphOutputs,
      valueInfo: [],
      quantizationAnnotation: [],
      metadataProps: [],
    },
    metadataProps: [
      { key: 'source_format', value: 'tfjs-layers-model' },
      ...(artifacts.generatedBy ? [{ key: 'tfjs_generated_by', value: artifacts.generatedBy }] : []),
      ...(artifacts.convertedBy ? [{ key: 'tfjs_converted_by', value: artifacts.convertedBy }] : []),
    ],
    trainingInfo: [],
    functions: [],
  };
}

function valueInfo(name: string, dims: readonly Dim[], batchParam: string | undefined, prefix: string): ValueInfoProto {
  const dim: Dimension[] = dims.map((d, i) => {
    if (d !== null) return { dimValue: d, denotation: '' };
    if (i === 0 && batchParam) return { dimParam: batchParam, denotation: '' };
    return { dimParam: `${prefix}_dim${i}`, denotation: '' };
  });
  return {
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim } }, denotation: '' },
    docString: '',
    metadataProps: [],
  };
}
