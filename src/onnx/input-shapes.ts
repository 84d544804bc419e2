/**
 * Concrete input shapes given by the user (`--shape images=1x3x640x640`): parsing the text form and
 * checking it against a model's inputs. Pure.
 */
import { KilnError } from '../errors.js';
import type { GraphProto, ValueInfoProto } from './proto-types.js';
import { declaredShape, type Shape } from './shape-inference.js';

export interface ShapeSpec {
  /** Input name; undefined when the text gave dims only (allowed for single-input models). */
  name?: string;
  dims: number[];
}

/** `[batch, 3, 224, 224]`, with '?' for unknown dims. */
export const formatDims = (dims: readonly (number | string | null)[]): string => `[${dims.map((d) => d ?? '?').join(', ')}]`;

/**
 * Parse `NAME=D1xD2x...` (or `D1xD2x...` alone). Commas may replace the x's. The name is everything
 * before the last '=' so that names such as `input:0` or `a=b` work.
 */
export function parseShapeSpec(text: string): ShapeSpec {
  const eq = text.lastIndexOf('=');
  const name = eq >= 0 ? text.slice(0, eq) : undefined;
  const dimsText = (eq >= 0 ? text.slice(eq + 1) : text).trim();
  const example = `${name || 'input'}=1x3x224x224`;
  if (name !== undefined && name.length === 0) {
    throw new KilnError('USAGE', `--shape '${text}': the input name before '=' is empty`, { hint: `write NAME=DIMS, e.g. ${example}` });
  }
  if (!dimsText) {
    throw new KilnError('USAGE', `--shape '${text}': no dimensions after '='`, { hint: `write NAME=DIMS, e.g. ${example}` });
  }
  const parts = dimsText.split(/[x×,]/i).map((p) => p.trim());
  const dims = parts.map((p) => {
    if (!/^\d+$/.test(p) || Number(p) < 1 || !Number.isSafeInteger(Number(p))) {
      throw new KilnError('USAGE', `--shape '${text}': '${p}' is not a dimension (dimensions are positive integers)`, {
        hint: `write NAME=DIMS with dims separated by x, e.g. ${example}`,
      });
    }
    return Number(p);
  });
  return { name, dims };
}

/** Graph inputs that are fed at run time: graph.input minus those that are initializers. */
export function runtimeInputs(graph: GraphProto): ValueInfoProto[] {
  const initializers = new Set(graph.initializer.map((t) => t.name));
  return graph.input.filter((i) => !initializers.has(i.name));
}

/**
 * Check shapes against the graph's inputs and return them by name. Rejects unknown names, wrong
 * ranks and dims that contradict fixed ones, each with a message naming the input and its shape.
 */
export function resolveInputShapes(graph: GraphProto, specs: readonly ShapeSpec[]): Record<string, number[]> {
  const inputs = runtimeInputs(graph);
  const byName = new Map(inputs.map((i) => [i.name, i]));
  const list = (): string => inputs.map((i) => `${i.name} ${formatDims(declaredShape(i) ?? [])}`).join(', ');
  const out: Record<string, number[]> = {};
  for (const spec of specs) {
    let name = spec.name;
    const shown = `${name !== undefined ? `${name}=` : ''}${spec.dims.join('x')}`;
    if (name === undefined) {
      if (inputs.length !== 1) {
        throw new KilnError('BAD_SHAPE', `--shape ${shown}: the model has ${inputs.length} inputs, so the shape needs a name (inputs: ${list()})`, {
          hint: `write NAME=DIMS, e.g. --shape ${inputs[0]?.name ?? 'input'}=${spec.dims.join('x')}`,
        });
      }
      name = inputs[0].name;
    }
    const input = byName.get(name);
    if (!input) {
      throw new KilnError('BAD_SHAPE', `--shape ${shown}: the model has no input '${name}' (inputs: ${list() || 'none'})`, {
        hint: 'use one of the input names listed',
      });
    }
    if (out[name]) throw new KilnError('BAD_SHAPE', `--shape: input '${name}' is given twice`, { hint: 'give each input once' });
    const declared: Shape | null = declaredShape(input);
    if (declared) {
      if (declared.length !== spec.dims.length) {
        throw new KilnError(
          'BAD_SHAPE',
          `--shape ${shown}: input '${name}' has ${declared.length} dimensions ${formatDims(declared)}, but ${spec.dims.length} were given`,
          {
            hint: `give ${declared.length} dimensions, e.g. ${name}=${declared.map((d) => (typeof d === 'number' ? d : 1)).join('x')}`,
          },
        );
      }
      declared.forEach((d, i) => {
        if (typeof d === 'number' && d !== spec.dims[i]) {
          throw new KilnError(
            'BAD_SHAPE',
            `--shape ${shown}: dimension ${i} of input '${name}' is fixed at ${d} ${formatDims(declared)}, but ${spec.dims[i]} was given`,
            {
              hint: `keep the fixed dimensions, e.g. ${name}=${declared.map((x, j) => (typeof x === 'number' ? x : spec.dims[j])).join('x')}`,
            },
          );
        }
      });
    }
    out[name] = [...spec.dims];
  }
  return out;
}
