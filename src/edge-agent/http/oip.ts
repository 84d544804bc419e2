/**
 * The Open Inference Protocol (KServe v2) over HTTP/REST, with Triton's binary tensor data
 * extension: pure request parsing/checking and response encoding.
 *
 * Binary requests: the body is a JSON header of `Inference-Header-Content-Length` bytes, then the
 * raw little-endian bytes of each input that has `parameters.binary_data_size`, in input order.
 * Binary responses: asked for per output (`outputs[].parameters.binary_data: true`) or for all
 * (`parameters.binary_data_output: true`); the response then carries `Inference-Header-Content-Length`
 * and the output bytes after its JSON header.
 */
import type { TensorSpec } from '../../protocol/manifest.js';
import type { NamedTensors, TensorData } from '../../runtime/backend.js';
import { badRequest, RequestError } from '../errors.js';
import {
  elementBytes,
  elementCount,
  flattenJson,
  OIP_DATATYPE,
  oipShape,
  shapeProblem,
  tensorBytes,
  tensorToJson,
  typedFromBytes,
  typedFromJson,
} from '../tensors.js';

export interface ModelSignature {
  name: string;
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
}

export interface RequestedOutput {
  name: string;
  binary: boolean;
}

export interface InferRequest {
  id?: string;
  inputs: NamedTensors;
  /** Outputs to return, in order. */
  outputs: RequestedOutput[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}

const list = (names: readonly { name: string }[]): string => names.map((n) => `'${n.name}'`).join(', ');

/**
 * Parse and check an inference request against the model's signature. `headerLength` is the
 * `Inference-Header-Content-Length` value (undefined: the whole body is JSON). Throws RequestError(400).
 */
export function parseInferRequest(body: Uint8Array, headerLength: number | undefined, model: ModelSignature): InferRequest {
  if (headerLength !== undefined && (!Number.isSafeInteger(headerLength) || headerLength < 0 || headerLength > body.byteLength)) {
    throw badRequest(`Inference-Header-Content-Length is ${headerLength}, but the body has ${body.byteLength} bytes`);
  }
  const jsonEnd = headerLength ?? body.byteLength;
  const doc = parseJson(body.subarray(0, jsonEnd));
  if (!isObject(doc)) throw badRequest('the request must be a JSON object with an "inputs" array');
  const { inputs, outputs, parameters, id } = doc;
  if (id !== undefined && typeof id !== 'string') throw badRequest('"id" must be a string');
  if (!Array.isArray(inputs) || inputs.length === 0) throw badRequest(`"inputs" must be a non-empty array (model '${model.name}' takes ${list(model.inputs)})`);
  if (parameters !== undefined && !isObject(parameters)) throw badRequest('"parameters" must be an object');
  const binaryDefault = parameters?.binary_data_output === true;

  const feeds: NamedTensors = {};
  let offset = jsonEnd;
  for (const [i, raw] of inputs.entries()) {
    if (!isObject(raw)) throw badRequest(`inputs[${i}] must be an object with name, datatype, shape and data`);
    const { name, datatype, shape, data } = raw;
    const params = raw.parameters;
    if (typeof name !== 'string') throw badRequest(`inputs[${i}].name must be a string`);
    const spec = model.inputs.find((s) => s.name === name);
    if (!spec) throw badRequest(`model '${model.name}' has no input '${name}'; its inputs are ${list(model.inputs)}`);
    if (name in feeds) throw badRequest(`input '${name}' is given twice`);
    const want = OIP_DATATYPE[spec.dtype];
    if (typeof datatype !== 'string') throw badRequest(`input '${name}': "datatype" must be a string (the model expects ${want})`);
    if (datatype !== want) throw badRequest(`input '${name}' has datatype ${datatype}, the model expects ${want}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw badRequest(`input '${name}': "shape" must be an array of non-negative integers`);
    }
    const dims = shape as number[];
    const problem = shapeProblem(spec.shape, dims);
    if (problem) throw badRequest(`input '${name}' ${problem}`);
    const count = elementCount(dims);
    const size = elementBytes(spec.dtype);
    if (size === undefined) throw badRequest(`input '${name}': datatype ${want} is not supported by this agent`);
    if (params !== undefined && !isObject(params)) throw badRequest(`input '${name}': "parameters" must be an object`);
    const binarySize = params?.binary_data_size;
    let tensor: TensorData;
    if (binarySize !== undefined) {
      if (data !== undefined) throw badRequest(`input '${name}' has both "data" and binary_data_size; send one`);
      if (headerLength === undefined) throw badRequest(`input '${name}' has binary_data_size but the request has no Inference-Header-Content-Length header`);
      if (!Number.isSafeInteger(binarySize) || (binarySize as number) < 0) throw badRequest(`input '${name}': binary_data_size must be a non-negative integer`);
      const n = binarySize as number;
      if (n !== count * size) {
        throw badRequest(
          `input '${name}' has ${n} bytes of binary data, but shape [${dims.join(', ')}] of ${want} needs ${count * size} (${count} elements × ${size} bytes)`,
        );
      }
      if (offset + n > body.byteLength) throw badRequest(`input '${name}': the body ends ${offset + n - body.byteLength} bytes before its binary data does`);
      tensor = { type: spec.dtype, dims, data: typedFromBytes(spec.dtype, body.subarray(offset, offset + n)) };
      offset += n;
    } else {
      if (data === undefined) throw badRequest(`input '${name}' has no "data" (nor parameters.binary_data_size)`);
      const values = flattenJson(data);
      if (values.length !== count) {
        throw badRequest(`input '${name}' has ${values.length} elements in "data", but shape [${dims.join(', ')}] needs ${count}`);
      }
      try {
        tensor = { type: spec.dtype, dims, data: typedFromJson(spec.dtype, values, `input '${name}'`) };
      } catch (err) {
        throw badRequest((err as Error).message);
      }
    }
    feeds[name] = tensor;
  }
  if (offset !== body.byteLength) throw badRequest(`the body has ${body.byteLength - offset} bytes after the inputs' data`);
  const missing = model.inputs.filter((s) => !(s.name in feeds));
  if (missing.length) throw badRequest(`model '${model.name}' needs input${missing.length > 1 ? 's' : ''} ${list(missing)}, which the request lacks`);

  let requested: RequestedOutput[];
  if (outputs === undefined) requested = model.outputs.map((o) => ({ name: o.name, binary: binaryDefault }));
  else {
    if (!Array.isArray(outputs)) throw badRequest('"outputs" must be an array');
    requested = outputs.map((o, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw badRequest(`outputs[${i}] must be an object with a "name"`);
      if (!model.outputs.some((s) => s.name === o.name))
        throw badRequest(`model '${model.name}' has no output '${o.name}'; its outputs are ${list(model.outputs)}`);
      if (o.parameters !== undefined && !isObject(o.parameters)) throw badRequest(`outputs[${i}].parameters must be an object`);
      const b = o.parameters?.binary_data;
      if (b !== undefined && typeof b !== 'boolean') throw badRequest(`outputs[${i}].parameters.binary_data must be true or false`);
      return { name: o.name, binary: b ?? binaryDefault };
    });
  }
  return { id, inputs: feeds, outputs: requested };
}

export interface EncodedResponse {
  contentType: string;
  /** Set when any output is binary. */
  headerLength?: number;
  /** Body parts, written in order. */
  chunks: Uint8Array[];
  byteLength: number;
}

/** Encode an inference response: JSON, or a JSON header plus raw bytes for binary outputs. */
export function encodeInferResponse(
  modelName: string,
  modelVersion: string,
  id: string | undefined,
  requested: readonly RequestedOutput[],
  results: NamedTensors,
): EncodedResponse {
  const binaries: Uint8Array[] = [];
  const outputs = requested.map(({ name, binary }) => {
    const t = results[name];
    if (!t) throw new RequestError(500, `the model returned no output '${name}'`);
    const datatype = OIP_DATATYPE[t.type] ?? String(t.type).toUpperCase();
    const shape = [...t.dims];
    if (binary) {
      const bytes = tensorBytes(t);
      binaries.push(bytes);
      return { name, datatype, shape, parameters: { binary_data_size: bytes.byteLength } };
    }
    return { name, datatype, shape, data: tensorToJson(t) };
  });
  const header = Buffer.from(JSON.stringify({ model_name: modelName, model_version: modelVersion, ...(id !== undefined ? { id } : {}), outputs }));
  if (!binaries.length) return { contentType: 'application/json', chunks: [header], byteLength: header.byteLength };
  return {
    contentType: 'application/octet-stream',
    headerLength: header.byteLength,
    chunks: [header, ...binaries],
    byteLength: binaries.reduce((n, b) => n + b.byteLength, header.byteLength),
  };
}

/** Model metadata (GET /v2/models/{name}[/versions/{v}]). */
export function modelMetadata(model: ModelSignature, versions: readonly string[], platform: string) {
  return {
    name: model.name,
    versions,
    platform,
    inputs: model.inputs.map((s) => ({ name: s.name, datatype: OIP_DATATYPE[s.dtype] ?? s.dtype.toUpperCase(), shape: oipShape(s.shape) })),
    outputs: model.outputs.map((s) => ({ name: s.name, datatype: OIP_DATATYPE[s.dtype] ?? s.dtype.toUpperCase(), shape: oipShape(s.shape) })),
  };
}

/**
 * Build a binary-extension request body (client side; tests, `kiln batch`, the bench).
 * Returns the body and the header length to send as Inference-Header-Content-Length.
 */
export function encodeBinaryRequest(
  inputs: Readonly<Record<string, TensorData>>,
  options: { binaryOutputs?: boolean; outputs?: readonly string[]; id?: string } = {},
): { body: Buffer; headerLength: number } {
  const parts: Uint8Array[] = [];
  const doc: Record<string, unknown> = {
    ...(options.id !== undefined ? { id: options.id } : {}),
    inputs: Object.entries(inputs).map(([name, t]) => {
      const bytes = tensorBytes(t);
      parts.push(bytes);
      return { name, datatype: OIP_DATATYPE[t.type] ?? String(t.type).toUpperCase(), shape: [...t.dims], parameters: { binary_data_size: bytes.byteLength } };
    }),
  };
  if (options.outputs) doc.outputs = options.outputs.map((name) => ({ name, parameters: { binary_data: options.binaryOutputs ?? false } }));
  else if (options.binaryOutputs) doc.parameters = { binary_data_output: true };
  const header = Buffer.from(JSON.stringify(doc));
  return { body: Buffer.concat([header, ...parts]), headerLength: header.byteLength };
}

/** Decode a binary-extension response body into named tensors (client side). */
export function decodeBinaryResponse(
  body: Uint8Array,
  headerLength: number | undefined,
): { doc: Record<string, unknown>; outputs: Record<string, TensorData> } {
  const end = headerLength ?? body.byteLength;
  const doc = JSON.parse(Buffer.from(body.buffer, body.byteOffset, end).toString('utf8')) as Record<string, unknown>;
  const out: Record<string, TensorData> = {};
  let off = end;
  for (const o of (doc.outputs as { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[]) ?? []) {
    const dtype = Object.entries(OIP_DATATYPE).find(([, v]) => v === o.datatype)?.[0] ?? o.datatype.toLowerCase();
    const size = o.parameters?.binary_data_size;
    if (size !== undefined) {
      out[o.name] = { type: dtype, dims: o.shape, data: typedFromBytes(dtype, body.subarray(off, off + size)) };
      off += size;
    } else {
      out[o.name] = { type: dtype, dims: o.shape, data: typedFromJson(dtype, o.data ?? [], o.name) };
    }
  }
  return { doc, outputs: out };
}
