/**
 * BAD CALL: pipelines `kiln compile` refuses, each with every problem listed and the file named,
 * before any long work (no optimize step runs); and the check against the compiled model.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileModel, type CompileEvent, type CompileOptions } from '../../src/compiler/compile.js';
import { checkPipelineSource, readPipelineSource } from '../../src/compiler/pipeline.js';
import { buildCnn } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/model.js';
import { KilnError, type ErrorCode } from '../../src/errors.js';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { kilnHome, tempDir } from '../edge-agent/helpers.js';

const LABELS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

let root: string;
let model: string;

beforeAll(() => {
  root = tempDir('kiln-pipeline-errors-');
  model = join(root, 'cnn.onnx');
  saveModel(buildCnn({ inputShape: [1, 3, 32, 32] }), model);
  writeFileSync(join(root, 'labels.txt'), `${LABELS.join('\n')}\n`);
  writeFileSync(join(root, 'nine.txt'), `${LABELS.slice(0, 9).join('\n')}\n`);
});

/** Write `content` as a pipeline file, compile with it, and return the error and the steps that ran. */
async function refused(
  name: string,
  content: string | object,
  extra: Partial<CompileOptions> = {},
): Promise<{ err: KilnError; path: string; steps: string[] }> {
  const path = join(root, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  const steps: string[] = [];
  const err = await compileModel(model, {
    target: 'x86_64',
    quantize: 'none',
    outDir: join(root, 'out'),
    cache: false,
    pipeline: path,
    onEvent: (e: CompileEvent) => void (e.kind === 'step' && steps.push(e.step)),
    ...extra,
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(KilnError);
  return { err: err as KilnError, path, steps };
}

const expectRefused = async (name: string, content: string | object, code: ErrorCode, ...patterns: RegExp[]) => {
  const { err, path, steps } = await refused(name, content);
  expect(err.code).toBe(code);
  expect(err.message).toContain(path);
  for (const p of patterns) expect(err.message).toMatch(p);
  expect(steps).not.toContain('optimize');
  return err;
};

describe('BAD CALL: pipelines kiln compile refuses, naming the file', () => {
  it('an unknown output', async () => {
    await expectRefused(
      'unknown-output.json',
      { postprocess: [{ op: 'softmax' }], output: 'logits' },
      'BAD_PIPELINE',
      /output 'logits' is not an output of the model \(output\)/,
    );
  });

  it('a wrong input', async () => {
    await expectRefused(
      'wrong-input.json',
      { preprocess: { type: 'image', input: 'pixels' } },
      'BAD_PIPELINE',
      /preprocess\.input 'pixels' is not an input of the model \(input\)/,
    );
  });

  it('a bad step, a bad option, an image size the model does not take', async () => {
    await expectRefused(
      'bad-step.json',
      { postprocess: [{ op: 'sigmoid' }, { op: 'topk', k: 0 }] },
      'BAD_PIPELINE',
      /unknown op 'sigmoid'/,
      /postprocess\[1\] \(topk\) needs "k"/,
      /2 problems/,
    );
    await expectRefused('bad-pre.json', { preprocess: { type: 'image', size: [64, 64], colour: 'rgb' } }, 'BAD_PIPELINE', /preprocess: unknown key 'colour'/);
    await expectRefused(
      'bad-size.json',
      { preprocess: { type: 'image', size: [64, 64] } },
      'BAD_PIPELINE',
      /preprocess: size \[64, 64\] does not match input 'input' \[1, 3, 32, 32\], whose height is fixed at 32 \(drop the size or use \[32, 32\]\)/,
    );
  });

  it('every problem at once', async () => {
    const err = await expectRefused(
      'many.json',
      { preprocess: { type: 'video' }, postprocess: [{ op: 'softmax', axis: 1 }], output: 'nope', extra: true },
      'BAD_PIPELINE',
      /4 problems/,
    );
    expect(err.message.split('\n  • ')).toHaveLength(5);
  });

  it('labels that do not match the classes', async () => {
    await expectRefused(
      'nine.json',
      { postprocess: [{ op: 'argmax' }], labelsFile: 'nine.txt' },
      'BAD_PIPELINE',
      new RegExp(`labelsFile '${join(root, 'nine.txt').replace(/[.\\]/g, '\\$&')}' has 9 labels, but output 'output' \\[1, 10\\] has 10 classes`),
    );
    await expectRefused(
      'inline.json',
      { postprocess: [{ op: 'argmax' }], labels: ['a', 'b'] },
      'BAD_PIPELINE',
      /labels has 2 labels, but output 'output' \[1, 10\] has 10 classes/,
    );
  });

  it('a missing labels file', async () => {
    const { err } = await refused('missing-labels.json', { postprocess: [{ op: 'argmax' }], labelsFile: 'missing.txt' });
    expect(err.code).toBe('FILE_NOT_FOUND');
    expect(err.message).toContain(join(root, 'missing.txt'));
    expect(err.message).toContain(join(root, 'missing-labels.json'));
    expect(err.message).toMatch(/labelsFile is relative to the pipeline file/);
    const { err: viaOption } = await refused('ok.json', { postprocess: [{ op: 'argmax' }] }, { labels: join(root, 'absent.txt') });
    expect(viaOption.code).toBe('FILE_NOT_FOUND');
    expect(viaOption.message).toContain(join(root, 'absent.txt'));
  });

  it('not JSON, not an object, no such file', async () => {
    await expectRefused('broken.json', '{"postprocess": [', 'BAD_PIPELINE', /the pipeline is not JSON/);
    await expectRefused('list.json', '[1]', 'BAD_PIPELINE', /must be a JSON object, not a list/);
    const err = await compileModel(model, { target: 'x86_64', pipeline: join(root, 'nowhere.json') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('FILE_NOT_FOUND');
    expect((err as Error).message).toContain(`${join(root, 'nowhere.json')}: no such pipeline file`);
  });

  it('labels without a pipeline; inline labels and a labels file both', async () => {
    const err = await compileModel(model, { target: 'x86_64', labels: join(root, 'labels.txt') }).catch((e: unknown) => e);
    expect((err as KilnError).code).toBe('BAD_PIPELINE');
    expect((err as Error).message).toMatch(/labels .*labels\.txt: a labels file is part of a pipeline, and no pipeline was given/);
    const both = await refused('both.json', { postprocess: [{ op: 'argmax' }], labels: LABELS }, { labels: join(root, 'labels.txt') });
    expect(both.err.message).toMatch(/lists its labels inline, and a labels file .* was also given/);
  });

  it('kiln compile --pipeline bad.json: exit 2, the file and the problem on stderr; --labels alone', async () => {
    writeFileSync(join(root, 'cli-bad.json'), JSON.stringify({ postprocess: [{ op: 'topk', k: 3 }], output: 'scores' }));
    const io = captureIo({ cwd: root, env: { KILN_HOME: kilnHome } });
    expect(await runMain(['compile', 'cnn.onnx', '--target', 'x86_64', '--pipeline', 'cli-bad.json', '--no-cache'], io)).toBe(2);
    expect(io.err).toContain(join(root, 'cli-bad.json'));
    expect(io.err).toMatch(/output 'scores' is not an output of the model/);
    // Checked once, before calibration data is read: a missing calibration folder is never reached.
    const all = captureIo({ cwd: root, env: { KILN_HOME: kilnHome } });
    expect(await runMain(['compile', 'cnn.onnx', '--target', 'all', '--pipeline', 'cli-bad.json', '--calibration', 'no-such-folder'], all)).toBe(2);
    expect(all.err).toMatch(/cli-bad\.json: the pipeline does not fit the model/);
    const labelsOnly = captureIo({ cwd: root, env: { KILN_HOME: kilnHome } });
    expect(await runMain(['compile', 'cnn.onnx', '--target', 'x86_64', '--labels', 'labels.txt'], labelsOnly)).toBe(2);
    expect(labelsOnly.err).toMatch(/--labels labels\.txt: labels belong to a pipeline, and no --pipeline was given/);
  });
});

describe('checking against the compiled model', () => {
  it("names the stage, lists the model's inputs and outputs", () => {
    const source = readPipelineSource({ postprocess: [{ op: 'argmax' }], output: 'logits' });
    expect(source.origin).toBe('the pipeline option');
    const err = (() => {
      try {
        checkPipelineSource(
          source,
          { inputs: [{ name: 'input', dtype: 'float16', shape: [1, 3, 32, 32] }], outputs: [{ name: 'probs', dtype: 'float16', shape: [1, 10] }] },
          'the compiled model',
        );
      } catch (e) {
        return e as KilnError;
      }
    })();
    expect(err).toBeInstanceOf(KilnError);
    expect(err!.message).toMatch(
      /^the pipeline option: the pipeline does not fit the compiled model \(inputs input float16 \[1, 3, 32, 32\]; outputs probs \[1, 10\]\); 1 problem:\n {2}• output 'logits' is not an output of the model \(probs\)/,
    );
    expect(err!.hint).toMatch(/kiln compile --help/);
  });
});
