/**
 * `kiln import tfjs`: convert a TensorFlow.js layers model (model.json + weight shards) to ONNX.
 * The converter is src/importers/tfjs.ts; this command only wires files to it.
 */
import { defineCommand } from '../framework.js';
import { humanBytes, thousands } from '../../format.js';

export const importTfjs = defineCommand({
  name: 'import tfjs',
  summary: 'convert a TensorFlow.js layers model to ONNX',
  description:
    'Reads model.json and the weight shards it names (from the same folder), converts the graph to ONNX and writes it. ' +
    'The result is a plain ONNX file: inspect it with `kiln inspect`, compile it with `kiln compile`.',
  positionals: [{ name: 'model', description: 'the TF.js model.json' }],
  options: {
    output: {
      type: 'string',
      short: 'o',
      valueName: 'FILE',
      description: 'where to write the ONNX model (default: beside model.json, with the .onnx extension)',
    },
    batch: { type: 'string', valueName: 'N', description: "fix the batch dimension to N (default: the model's own, else dynamic)" },
    opset: { type: 'string', valueName: 'VERSION', description: 'ONNX opset of the result, 13 to 17 (default: 13)' },
  },
  examples: [
    { command: 'import tfjs web_model/model.json -o model.onnx' },
    { command: 'import tfjs web_model/model.json -o model.onnx && kiln inspect model.onnx', description: 'convert, then check the result' },
  ],
  async run({ args, options, io, json, print, printJson, usageError }) {
    const { join, resolve } = await import('node:path');
    const { existsSync, statSync } = await import('node:fs');
    const { KilnError } = await import('../../errors.js');
    const integer = (flag: string, value: string | undefined): number | undefined => {
      if (value === undefined) return undefined;
      if (!/^\d+$/.test(value)) throw usageError(`--${flag} must be a positive integer (got '${value}')`);
      return Number(value);
    };
    const batchSize = integer('batch', options.batch);
    const opset = integer('opset', options.opset);
    let input = resolve(io.cwd, args.model);
    if (!existsSync(input)) throw new KilnError('FILE_NOT_FOUND', `${args.model}: no such file`, { hint: 'pass the model.json of a TF.js layers model' });
    if (statSync(input).isDirectory()) {
      const inner = join(input, 'model.json');
      if (!existsSync(inner))
        throw new KilnError('FILE_NOT_FOUND', `${args.model} is a folder without a model.json`, { hint: 'pass the model.json of a TF.js layers model' });
      input = inner;
    }
    const output = resolve(io.cwd, options.output ?? input.replace(/\.json$/i, '') + '.onnx');
    if (output === input) throw usageError(`the output ${options.output} would overwrite the input`);
    const { convertTfjsModel } = await import('../../importers/tfjs.js');
    const { saveModel } = await import('../../onnx/model.js');
    const model = await convertTfjsModel(input, { batchSize, opset, source: args.model });
    saveModel(model, output);
    const bytes = statSync(output).size;
    const nodes = model.graph?.node.length ?? 0;
    if (json) printJson({ input, output, bytes, nodes });
    else print(`wrote ${output} (${thousands(nodes)} nodes, ${humanBytes(bytes)})`);
  },
});
