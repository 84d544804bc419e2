/**
 * `kiln inspect`: what is in a model (src/onnx/inspect.ts), and whether onnxruntime loads it.
 * Heavy modules (protobuf, onnxruntime, the zoo) are imported when the command runs.
 */
import type { InspectReport, ValueSummary } from '../../onnx/inspect.js';
import type { Dim } from '../../onnx/shape-inference.js';
import { defineCommand } from '../framework.js';
import { compactNumber, humanBytes, table, thousands } from '../../format.js';

/** What onnxruntime said about the model. */
export interface RuntimeCheck {
  loaded: true;
  runtime: string;
  /** Differences between the ONNX graph and the session's inputs/outputs (names, types, shapes). Empty when they agree. */
  mismatches: string[];
}

export interface InspectCommandReport extends InspectReport {
  /** The path inspected (absolute). */
  file: string;
  /** When given as zoo:NAME. */
  zoo?: { name: string; task: string };
  /** Absent with --skip-runtime. */
  runtime?: RuntimeCheck;
}

const ZOO_PREFIX = 'zoo:';

async function locate(arg: string, cwd: string): Promise<{ path: string; zoo?: { name: string; task: string } }> {
  const { resolve } = await import('node:path');
  if (arg.startsWith(ZOO_PREFIX)) {
    const { resolveModel } = await import('../../zoo/index.js');
    const resolved = resolveModel(arg.slice(ZOO_PREFIX.length));
    return { path: resolved.path, zoo: { name: resolved.entry.name, task: resolved.entry.task } };
  }
  return { path: resolve(cwd, arg) };
}

/** A zoo name typed without its prefix: say so, rather than only "no such file". */
async function zooHint(arg: string): Promise<string | undefined> {
  if (!/^[a-z][a-z0-9-]*$/.test(arg)) return undefined;
  try {
    const { getEntry } = await import('../../zoo/index.js');
    getEntry(arg);
    return `to inspect the zoo model '${arg}', write zoo:${arg}`;
  } catch {
    return undefined;
  }
}

const shapeText = (shape: Dim[] | null): string => (shape ? `[${shape.map((d) => d ?? '?').join(', ')}]` : 'unknown');

/** Fixed dims must be equal; symbolic or unknown ones (names, null, onnxruntime's -1) match anything dynamic. */
function sameDims(a: readonly (number | string | null)[], b: readonly (number | string)[]): boolean {
  const fixed = (d: number | string | null | undefined): d is number => typeof d === 'number' && d >= 0;
  return a.length === b.length && a.every((d, i) => (fixed(d) || fixed(b[i]) ? d === b[i] : true));
}

/** Compare the graph's view of inputs/outputs with what an onnxruntime session reports. */
export function compareWithSession(
  report: Pick<InspectReport, 'inputs' | 'outputs'>,
  session: { inputNames: readonly string[]; outputNames: readonly string[]; inputMetadata?: readonly unknown[]; outputMetadata?: readonly unknown[] },
): string[] {
  const problems: string[] = [];
  const check = (kind: 'input' | 'output', ours: ValueSummary[], names: readonly string[], metadata: readonly unknown[] | undefined): void => {
    const mine = ours.map((v) => v.name);
    if (mine.join('\u0000') !== names.join('\u0000')) {
      problems.push(`${kind}s differ: the graph has [${mine.join(', ')}], onnxruntime reports [${names.join(', ')}]`);
      return;
    }
    metadata?.forEach((m, i) => {
      const meta = m as { name?: string; isTensor?: boolean; type?: string; shape?: readonly (number | string)[] };
      const v = ours[i];
      if (!meta || !meta.isTensor || !v) return;
      if (meta.type && meta.type !== v.dtype) problems.push(`${kind} '${v.name}': the graph says ${v.dtype}, onnxruntime ${meta.type}`);
      if (meta.shape && meta.shape.length > 0 && v.shape && !sameDims(v.shape, meta.shape)) {
        problems.push(`${kind} '${v.name}': the graph says ${shapeText(v.shape)}, onnxruntime [${meta.shape.join(', ')}]`);
      }
    });
  };
  check('input', report.inputs, session.inputNames, session.inputMetadata);
  check('output', report.outputs, session.outputNames, session.outputMetadata);
  return problems;
}

/** The human-readable report. */
export function renderInspect(r: InspectCommandReport): string {
  const out: string[] = [];
  out.push(r.zoo ? `${r.file}  (zoo: ${r.zoo.name}, ${r.zoo.task})` : r.file);
  const producer = [r.producer.name, r.producer.version].filter(Boolean).join(' ') || 'unknown';
  const opsets = r.opsets.map((o) => `${o.domain} ${o.version}`).join(', ');
  const summary: [string, string][] = [
    ['producer', producer],
    ['format', `IR ${r.irVersion}, opset ${opsets}`],
  ];
  if (r.runtime) {
    summary.push([
      'runtime',
      `loads in ${r.runtime.runtime}${r.runtime.mismatches.length ? `, with ${r.runtime.mismatches.length} difference(s) — see warnings` : ', inputs and outputs agree'}`,
    ]);
  }
  out.push(table(summary, { indent: 2 }));

  const values = (title: string, list: ValueSummary[], inferred?: Record<string, Dim[] | null>): void => {
    out.push('', title);
    if (list.length === 0) {
      out.push('  (none)');
      return;
    }
    const header = inferred ? ['name', 'dtype', 'shape', 'at these inputs'] : ['name', 'dtype', 'shape'];
    const rows = list.map((v) => {
      const row = [v.name, v.dtype, shapeText(v.shape)];
      if (inferred) row.push(shapeText(inferred[v.name] ?? null));
      return row;
    });
    out.push(table(rows, { header, indent: 2 }));
  };
  values('Inputs', r.inputs);
  const atShapes =
    r.macs.status === 'ok' && r.inferredOutputShapes && r.outputs.some((o) => shapeText(o.shape) !== shapeText(r.inferredOutputShapes![o.name] ?? null))
      ? r.inferredOutputShapes
      : undefined;
  values('Outputs', r.outputs, atShapes);

  out.push('');
  const p = r.parameters;
  const count = (n: number): string => (n >= 10_000 ? `${thousands(n)} (${compactNumber(n)})` : thousands(n));
  const stats: [string, string][] = [
    [
      'parameters',
      `${count(p.count)} in ${thousands(p.tensors)} tensor${p.tensors === 1 ? '' : 's'}${p.overridable ? `, ${p.overridable} overridable as inputs` : ''}`,
    ],
    ['size', `${humanBytes(r.size.totalBytes)}: ${humanBytes(r.size.weightsBytes)} weights + ${humanBytes(r.size.graphBytes)} graph`],
  ];
  if (r.macs.status === 'ok') {
    const m = r.macs;
    const at = Object.entries(m.inputShapes)
      .filter(([, s]) => s.length > 0)
      .map(([n, s]) => `${n}=${s.join('x')}`)
      .join(' ');
    stats.push(['MACs', `${count(m.total)}${at ? ` at ${at}` : ''}`]);
    if (m.byOp.length > 1) stats.push(['', m.byOp.map((b) => `${b.op} ${compactNumber(b.macs)}`).join(', ')]);
    if (m.unknownShapeNodes.length) {
      stats.push(['', `not counted: ${m.unknownShapeNodes.length} of ${m.computeNodes} Conv/MatMul/Gemm/RNN nodes, whose shapes are unknown`]);
    }
    if (m.subgraphComputeNodes) {
      stats.push(['', `not counted: ${m.subgraphComputeNodes} Conv/MatMul/Gemm/RNN nodes inside If/Loop/Scan bodies`]);
    }
  } else {
    stats.push(['MACs', `not computed — ${r.macs.message}`]);
  }
  stats.push(['nodes', thousands(r.nodes)]);
  out.push(table(stats));

  out.push('', 'Operators');
  const ops = r.operators.map((o) => [o.op, thousands(o.count)]);
  // Two columns of op/count pairs keep long histograms short.
  const half = Math.ceil(ops.length / 2);
  const rows = ops.length > 8 ? ops.slice(0, half).map((row, i) => [...row, '  ', ...(ops[half + i] ?? ['', ''])]) : ops;
  out.push(table(rows, { indent: 2, align: ['left', 'right', 'left', 'left', 'right'] }));

  if (r.shapeInference.unsupportedOps.length && r.macs.status === 'ok' && r.macs.unknownShapeNodes.length) {
    out.push('', `Shape inference has no rule for: ${r.shapeInference.unsupportedOps.map((o) => `${o.op} (${o.count})`).join(', ')}`);
  }
  return out.join('\n');
}

export const inspect = defineCommand({
  name: 'inspect',
  summary: "show a model's inputs, outputs, operators, parameters, size and MACs",
  description:
    'Reads an ONNX model and reports its inputs and outputs (symbolic dimensions kept), IR version and opsets, producer, ' +
    'an operator histogram, the parameter count, its size split into weights and graph, and the multiply-accumulates (MACs) ' +
    'of its Conv, ConvTranspose, MatMul and Gemm nodes, quantized variants included. It also loads the model in onnxruntime ' +
    'to confirm that it runs there, and checks that both agree on the inputs and outputs.\n\n' +
    'MACs depend on input sizes: when an input has a dynamic dimension, give its size with --shape (MACs are not guessed).',
  positionals: [{ name: 'model', description: 'an .onnx file, or a zoo model as zoo:NAME (see kiln models list)' }],
  options: {
    shape: {
      type: 'string',
      multiple: true,
      short: 's',
      valueName: 'NAME=DIMS',
      description: 'concrete shape of an input for MACs, e.g. images=1x3x640x640 (the name may be left out when the model has one input)',
    },
    'skip-runtime': { type: 'boolean', description: 'do not load the model in onnxruntime' },
  },
  examples: [
    { command: 'inspect model.onnx' },
    { command: 'inspect model.onnx --shape input=1x3x224x224', description: 'MACs of a model with a dynamic batch dimension' },
    { command: 'inspect zoo:ppocr-det --shape x=1x3x640x640 --json', description: 'a zoo model, as JSON' },
  ],
  async run({ args, options, io, json, print, printJson, warn }) {
    const { existsSync, statSync } = await import('node:fs');
    const { KilnError } = await import('../../errors.js');
    const { loadModel } = await import('../../onnx/model.js');
    const { inspectModel } = await import('../../onnx/inspect.js');
    const { parseShapeSpec, resolveInputShapes } = await import('../../onnx/input-shapes.js');
    const { isExternal, tensorByteSize } = await import('../../onnx/tensor.js');

    // Shape syntax first: it needs no file, and a typo should not wait for a model to load.
    const specs = options.shape.map(parseShapeSpec);
    const where = await locate(args.model, io.cwd);
    if (existsSync(where.path) && statSync(where.path).isDirectory()) {
      throw new KilnError('FILE_NOT_FOUND', `${args.model} is a folder, not a model file`, { hint: 'pass the .onnx file inside it' });
    }
    let model;
    try {
      model = loadModel(where.path);
    } catch (err) {
      if (err instanceof KilnError && err.code === 'FILE_NOT_FOUND') {
        const hint = await zooHint(args.model);
        if (hint) throw new KilnError('FILE_NOT_FOUND', `${args.model}: no such file`, { hint, cause: err });
      }
      throw err;
    }
    const shapes = resolveInputShapes(model.graph!, specs);
    const external = model.graph!.initializer.filter(isExternal).reduce((a, t) => a + tensorByteSize(t), 0);
    const report: InspectCommandReport = {
      file: where.path,
      ...(where.zoo ? { zoo: where.zoo } : {}),
      ...inspectModel(model, { shapes, serializedBytes: statSync(where.path).size + external }),
    };

    if (!options['skip-runtime']) {
      const { createOrtNodeSession } = await import('../../runtime/ort-node.js');
      const { packageVersion } = await import('../versions.js');
      const session = await createOrtNodeSession(where.path, { source: args.model, optimization: 'basic' });
      try {
        const version = packageVersion('onnxruntime-node');
        report.runtime = {
          loaded: true,
          runtime: `onnxruntime-node ${version}`,
          mismatches: compareWithSession(report, session),
        };
      } finally {
        await session.release();
      }
    }

    if (json) printJson(report);
    else print(renderInspect(report));
    for (const m of report.runtime?.mismatches ?? []) warn(m);
  },
});
