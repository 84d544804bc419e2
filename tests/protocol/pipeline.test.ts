/**
 * The pipeline.json contract (src/protocol/pipeline.ts): pure checks the compiler and the agent both
 * run, and the layering that lets them share it (the protocol imports neither).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPipeline, parseLabels } from '../../src/protocol/pipeline.js';

const model = {
  inputs: [{ name: 'x', dtype: 'float32', shape: [1, 3, 8, 8] }],
  outputs: [
    { name: 'y', dtype: 'float32', shape: ['N', 3] },
    { name: 'z', dtype: 'float32', shape: [1, 4] },
  ],
};

describe('checkPipeline', () => {
  it('settles defaults: the first input and output; labels from the labels file', () => {
    const c = checkPipeline({ preprocess: { type: 'image' }, postprocess: [{ op: 'argmax' }], labelsFile: 'labels.txt' }, model, { labels: 'a\nb\r\nc\n' });
    expect(c).toEqual({ ok: true, spec: { preprocess: { type: 'image', input: 'x' }, postprocess: [{ op: 'argmax' }], output: 'y', labels: ['a', 'b', 'c'] } });
  });

  it('passes the image step to planImage, and its error becomes a problem with its hint', () => {
    const seen: unknown[] = [];
    const planImage = (step: unknown, input: unknown) => {
      seen.push([step, input]);
      throw Object.assign(new Error('image preprocessing: size is wrong — use [8, 8]'), { hint: 'use [8, 8]' });
    };
    const c = checkPipeline({ preprocess: { type: 'image', size: [4, 4] } }, model, { planImage });
    expect(seen).toEqual([[{ type: 'image', size: [4, 4], input: 'x' }, model.inputs[0]]]);
    expect(!c.ok && c.problems).toEqual(['preprocess: size is wrong (use [8, 8])']);
  });

  it('BAD CALL: labels against the classes, labels and labelsFile both, a labels file not in the artifact, unknown preprocess keys', () => {
    const problems = (raw: unknown, labels?: string) => {
      const c = checkPipeline(raw, model, { labels });
      return c.ok ? [] : c.problems;
    };
    expect(problems({ labels: ['a', 'b'] })).toEqual(["labels has 2 labels, but output 'y' [N, 3] has 3 classes (its last dim)"]);
    expect(problems({ output: 'z', labelsFile: 'l.txt' }, 'a\n')).toEqual([
      "labelsFile 'l.txt' has 1 label, but output 'z' [1, 4] has 4 classes (its last dim)",
    ]);
    expect(problems({ labels: ['a', 'b', 'c'], labelsFile: 'l.txt' }, 'a\nb\nc\n')).toEqual(['give labels or labelsFile, not both']);
    expect(problems({ labelsFile: 'l.txt' })).toEqual(["labelsFile 'l.txt' is not a file of the artifact"]);
    expect(problems({ labelsFile: 3 })).toEqual(['labelsFile must be a file name (a string)']);
    expect(problems({ preprocess: { type: 'image', colour: 'rgb' } })).toEqual([
      "preprocess: unknown key 'colour' (valid: type, input, layout, size, resize, mean, std, scale, channels)",
    ]);
    expect(problems({ postprocess: [{ op: 'topk', k: 2, min: 1 }] })).toEqual(['postprocess[0] (topk) takes only "k" (got min)']);
    expect(problems([])).toEqual(['pipeline.json must hold an object']);
  });

  it('parseLabels: one label per line, a final newline adds none, blank lines inside count', () => {
    expect(parseLabels('a\nb\n')).toEqual(['a', 'b']);
    expect(parseLabels('a\n\nc')).toEqual(['a', '', 'c']);
  });
});

describe('layering', () => {
  it('src/protocol imports nothing from the compiler, the agent, the cloud or the CLI', () => {
    const dir = join(import.meta.dirname, '../../src/protocol');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const imports = [...readFileSync(join(dir, file), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]);
      expect(
        imports.filter((i) => i.startsWith('..') && !/^\.\.\/(errors|version)\.js$/.test(i)),
        file,
      ).toEqual([]);
    }
  });
});
