/**
 * `kiln models list` and `kiln models path`: the model zoo (src/zoo), loaded only when these run.
 */
import { defineCommand } from '../framework.js';
import { humanBytes, table } from '../../format.js';

export const modelsList = defineCommand({
  name: 'models list',
  summary: "list the models in kiln's zoo",
  description:
    'Lists the pretrained models kiln knows (models/catalog.json): real models that npm packages ship and models built here. ' +
    'Use a name with `kiln models path NAME`, or as `zoo:NAME` wherever a command takes a model file.',
  options: {
    task: { type: 'string', valueName: 'TASK', description: 'only models of this task (e.g. text-detection)' },
  },
  examples: [{ command: 'models list' }, { command: 'models list --task text-detection --json', description: 'machine-readable, one task' }],
  async run({ options, json, print, printJson }) {
    const zoo = await import('../../zoo/index.js');
    if (options.task !== undefined && !(zoo.TASKS as readonly string[]).includes(options.task)) {
      const { KilnError } = await import('../../errors.js');
      throw new KilnError('USAGE', `kiln models list: unknown task '${options.task}'`, { hint: `use one of ${zoo.TASKS.join(', ')}` });
    }
    const entries = zoo.listModels(options.task ? { task: options.task as (typeof zoo.TASKS)[number] } : undefined);
    if (json) {
      printJson({ models: entries });
      return;
    }
    if (entries.length === 0) {
      print(options.task ? `no models for task ${options.task}` : 'the zoo is empty');
      return;
    }
    const rows = entries.map((e) => [e.name, e.task, humanBytes(e.size), e.inputs.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ')]);
    print(table(rows, { header: ['name', 'task', 'size', 'inputs'], align: ['left', 'left', 'right', 'left'] }));
  },
});

export const modelsPath = defineCommand({
  name: 'models path',
  summary: 'print the file of a zoo model, checked against its sha256',
  description:
    'Finds the model file (in its npm package or in this repository), verifies its sha256 against the catalog and prints its absolute path. ' +
    'Fails with exit 2 when the name is unknown, the package is not installed or the file does not match.',
  positionals: [{ name: 'name', description: 'a model name from `kiln models list`' }],
  examples: [{ command: 'models path ppocr-det' }, { command: 'inspect $(kiln models path ppocr-det)', description: 'same as kiln inspect zoo:ppocr-det' }],
  async run({ args, json, print, printJson }) {
    const { resolveModel } = await import('../../zoo/index.js');
    const resolved = resolveModel(args.name.replace(/^zoo:/, ''));
    if (json) printJson({ name: resolved.entry.name, path: resolved.path, sha256: resolved.sha256, size: resolved.size, package: resolved.package });
    else print(resolved.path);
  },
});
