/**
 * Does a catalog entry's inputs/outputs agree with what a runtime reports (onnxruntime's
 * inputMetadata/outputMetadata) or with tensors a run produced? Pure.
 */
import type { TensorSpec } from './catalog.js';

/** A tensor as a runtime describes it: symbolic dims as strings ('' when unnamed). */
export interface RuntimeTensorInfo {
  name: string;
  type?: string;
  shape?: readonly (number | string)[];
}

/**
 * Problems (empty when they agree): same names in the same order, same dtype, same rank; where the
 * runtime has a fixed dim the catalog has the same number. Where the runtime's dim is symbolic the
 * catalog may name it or fix it (the catalog can know more than the file declares).
 */
export function compareSignature(kind: 'input' | 'output', catalog: readonly TensorSpec[], runtime: readonly RuntimeTensorInfo[]): string[] {
  const problems: string[] = [];
  const a = catalog.map((t) => t.name);
  const b = runtime.map((t) => t.name);
  if (a.join('\u0000') !== b.join('\u0000')) problems.push(`${kind}s: catalog lists [${a.join(', ')}], the model has [${b.join(', ')}]`);
  for (const rt of runtime) {
    const spec = catalog.find((t) => t.name === rt.name);
    if (!spec) continue;
    if (rt.type !== undefined && rt.type !== spec.dtype) problems.push(`${kind} '${rt.name}': catalog dtype ${spec.dtype}, model ${rt.type}`);
    if (rt.shape === undefined) continue;
    if (rt.shape.length !== spec.shape.length) {
      problems.push(
        `${kind} '${rt.name}': catalog shape [${spec.shape.join(', ')}] has rank ${spec.shape.length}, model [${rt.shape.join(', ')}] has rank ${rt.shape.length}`,
      );
      continue;
    }
    rt.shape.forEach((d, i) => {
      if (typeof d === 'number' && d >= 0 && spec.shape[i] !== d)
        problems.push(`${kind} '${rt.name}' dim ${i}: catalog ${JSON.stringify(spec.shape[i])}, model ${d}`);
    });
  }
  return problems;
}

/**
 * Problems with actual tensors from a run against the catalog shapes: every fixed dim equal, and
 * each symbolic name one size across all the given tensors.
 */
export function checkShapes(specs: readonly TensorSpec[], actual: Readonly<Record<string, { dims: readonly number[] }>>): string[] {
  const problems: string[] = [];
  const bound = new Map<string, { size: number; where: string }>();
  for (const spec of specs) {
    const t = actual[spec.name];
    if (!t) {
      problems.push(`'${spec.name}' is missing`);
      continue;
    }
    if (t.dims.length !== spec.shape.length) {
      problems.push(`'${spec.name}': dims [${t.dims.join(', ')}] do not have the rank of [${spec.shape.join(', ')}]`);
      continue;
    }
    spec.shape.forEach((d, i) => {
      const size = t.dims[i];
      if (typeof d === 'number') {
        if (d !== size) problems.push(`'${spec.name}' dim ${i}: expected ${d}, got ${size}`);
      } else {
        const prev = bound.get(d);
        if (prev && prev.size !== size) problems.push(`'${spec.name}' dim ${i} ('${d}'): ${size}, but ${prev.size} at ${prev.where}`);
        else bound.set(d, { size, where: `'${spec.name}' dim ${i}` });
      }
    });
  }
  return problems;
}
