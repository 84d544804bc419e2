/**
 * Checks every backend applies to the tensors it is given, before handing them to a runtime whose own
 * messages are terse (or, in WASM, an abort). Pure functions.
 */
import { KilnError } from '../errors.js';
import type { NamedTensors, TensorData, TensorInfo } from './backend.js';

const shapeText = (shape: readonly (number | string | null)[]): string => `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;

/**
 * Throw a KilnError('BAD_SHAPE') naming the input when `feeds` does not fit `inputs`: a missing or
 * unknown name, a type other than the declared one, a rank or fixed dimension that differs, or
 * data whose length is not the product of its dims.
 */
export function checkFeeds(backend: string, inputs: readonly TensorInfo[], feeds: NamedTensors): void {
  if (typeof feeds !== 'object' || feeds === null || Array.isArray(feeds)) {
    throw new TypeError(`${backend}: run() takes an object of named tensors {name: {type, dims, data}}`);
  }
  const expected = inputs.map((i) => `'${i.name}'`).join(', ');
  for (const name of Object.keys(feeds)) {
    if (!inputs.some((i) => i.name === name)) {
      throw new KilnError('BAD_SHAPE', `${backend}: the model has no input '${name}'`, { hint: `its inputs are ${expected}` });
    }
  }
  for (const info of inputs) {
    const tensor = feeds[info.name];
    if (tensor === undefined) throw new KilnError('BAD_SHAPE', `${backend}: input '${info.name}' is missing`, { hint: `feed every input: ${expected}` });
    checkTensor(backend, info, tensor);
  }
}

function checkTensor(backend: string, info: TensorInfo, tensor: TensorData): void {
  const where = `${backend}: input '${info.name}'`;
  if (!tensor || !Array.isArray(tensor.dims) || !ArrayBuffer.isView(tensor.data)) {
    throw new TypeError(`${where}: a tensor is {type, dims: number[], data: TypedArray}`);
  }
  if (info.type && info.type !== 'unknown' && tensor.type !== info.type) {
    throw new KilnError('BAD_SHAPE', `${where} is ${info.type}, got ${tensor.type}`, { hint: `convert the data to ${info.type}` });
  }
  const dims = tensor.dims;
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new KilnError('BAD_SHAPE', `${where}: dims ${shapeText(dims)} must be non-negative integers`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== tensor.data.length) {
    throw new KilnError('BAD_SHAPE', `${where}: dims ${shapeText(dims)} hold ${count} values but data has ${tensor.data.length}`);
  }
  // A declared shape of [] may be a scalar or an unknown rank: only a known rank is checked.
  if (info.shape.length > 0) {
    const fits = info.shape.length === dims.length && info.shape.every((d, i) => typeof d !== 'number' || d === dims[i]);
    if (!fits)
      throw new KilnError('BAD_SHAPE', `${where} has shape ${shapeText(info.shape)}, got ${shapeText(dims)}`, { hint: '? and named dims accept any size' });
  }
}
