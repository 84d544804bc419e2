/**
 * What the two onnxruntime backends (node and web) share: reading session metadata into TensorInfo and
 * checking load options. Pure; neither runtime is imported here.
 */
import { KilnError } from '../errors.js';
import type { BackendLoadOptions, TensorData, TensorInfo } from './backend.js';

/** The metadata shape both onnxruntime-node and onnxruntime-web sessions expose (1.20+). */
export interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}

/** Session names + metadata → TensorInfo (symbolic dims stay strings; a non-tensor value gets type 'non-tensor'). */
export function tensorInfos(names: readonly string[], metadata: readonly OrtValueMetadata[] | undefined): TensorInfo[] {
  return names.map((name, i) => {
    const m = metadata?.find((v) => v.name === name) ?? metadata?.[i];
    if (!m) return { name, type: 'unknown', shape: [] };
    if (!m.isTensor) return { name, type: 'non-tensor', shape: [] };
    return { name, type: m.type ?? 'unknown', shape: (m.shape ?? []).map((d) => (typeof d === 'number' && d < 0 ? null : d)) };
  });
}

/** An onnxruntime Tensor → the backend-neutral TensorData (no copy). */
export function toTensorData(tensor: { type: string; dims: readonly number[]; data: unknown }): TensorData {
  return { type: tensor.type, dims: [...tensor.dims], data: tensor.data as TensorData['data'] };
}

const LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;

/** Reject load options that no backend could honour; one KilnError('BAD_OPTION') quoting the value. */
export function checkLoadOptions(backend: string, options: BackendLoadOptions): void {
  const { threads, interOpThreads, optimization, executionProviders } = options;
  if (threads !== undefined && (!Number.isSafeInteger(threads) || threads < 0)) {
    throw new KilnError('BAD_OPTION', `${backend}: threads must be a whole number ≥ 0 (0 = one per core), got ${String(threads)}`);
  }
  if (interOpThreads !== undefined && (!Number.isSafeInteger(interOpThreads) || interOpThreads < 0)) {
    throw new KilnError('BAD_OPTION', `${backend}: interOpThreads must be a whole number ≥ 0 (0 = onnxruntime's choice), got ${String(interOpThreads)}`);
  }
  if (optimization !== undefined && !LEVELS.includes(optimization)) {
    throw new KilnError('BAD_OPTION', `${backend}: optimization must be one of ${LEVELS.join(', ')}, got '${String(optimization)}'`);
  }
  if (
    executionProviders !== undefined &&
    (!Array.isArray(executionProviders) || executionProviders.length === 0 || executionProviders.some((p) => typeof p !== 'string' || p === ''))
  ) {
    throw new KilnError('BAD_OPTION', `${backend}: executionProviders must be a non-empty list of provider names, got ${JSON.stringify(executionProviders)}`);
  }
}
