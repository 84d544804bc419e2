import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain } from '../../src/cli/main.js';
import { captureIo } from '../../src/cli/io.js';
import { compareWithSession, type InspectCommandReport } from '../../src/cli/commands/inspect.js';
import { buildCnn, buildMlp, GraphBuilder } from '../../src/onnx/builder.js';
import { attr } from '../../src/onnx/nodes.js';
import { saveModel } from '../../src/onnx/model.js';
import { tempDir } from '../onnx/helpers.js';

let dir: string;
let cleanup: () => void;

beforeAll(() => {
  ({ dir, cleanup } = tempDir('kiln-cli-'));
  const b = new GraphBuilder('conv');
  const x = b.input('x', 'float32', [1, 3, 32, 32]);
  const y = b.node('Conv', [x, b.randomInitializer('w', [8, 3, 3, 3]), b.randomInitializer('b', [8])], [attr.ints('pads', [1, 1, 1, 1])], { output: 'y' });
  b.output(y, 'float32', [1, 8, 32, 32]);
  saveModel(b.build(), join(dir, 'conv.onnx'));
  saveModel(buildMlp(), join(dir, 'mlp.onnx'));
  saveModel(buildCnn(), join(dir, 'cnn.onnx'));
  // Valid ONNX that onnxruntime refuses: an operator that does not exist.
  const r = new GraphBuilder('refused');
  const rx = r.input('x', 'float32', [1, 4]);
  r.output(r.node('NoSuchOperator', [rx]), 'float32', [1, 4]);
  saveModel(r.build(), join(dir, 'refused.onnx'));
  writeFileSync(join(dir, 'text.onnx'), 'this is not a model\n');
  const bytes = readFileSync(join(dir, 'cnn.onnx'));
  writeFileSync(join(dir, 'truncated.onnx'), bytes.subarray(0, Math.floor(bytes.length / 2)));
  writeFileSync(join(dir, 'empty.onnx'), '');
  mkdirSync(join(dir, 'folder.onnx'));
});
afterAll(() => cleanup());

async function kiln(...argv: string[]) {
  const io = captureIo({ cwd: dir });
  const code = await runMain(argv, io);
  return { code, out: io.out, err: io.err };
}

const expectOneLine = (err: string): void => {
  expect(err.trimEnd().split('\n')).toHaveLength(1);
  expect(err).not.toMatch(/\n\s+at /);
  expect(err.startsWith('kiln: ')).toBe(true);
};

describe('kiln inspect', () => {
  it('prints a summary with parameters, size, MACs and the runtime check', async () => {
    const r = await kiln('inspect', 'conv.onnx');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(join(dir, 'conv.onnx'));
    expect(r.out).toMatch(/x\s+float32\s+\[1, 3, 32, 32\]/);
    expect(r.out).toMatch(/y\s+float32\s+\[1, 8, 32, 32\]/);
    expect(r.out).toMatch(/parameters\s+224 in 2 tensors/);
    expect(r.out).toMatch(/MACs\s+221,184 \(221K\) at x=1x3x32x32/);
    expect(r.out).toMatch(/runtime\s+loads in onnxruntime-node \d+\.\d+\.\d+, inputs and outputs agree/);
    expect(r.out).toMatch(/Conv\s+1/);
  });

  it('--json prints the full report', async () => {
    const r = await kiln('inspect', 'conv.onnx', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as InspectCommandReport;
    expect(report.file).toBe(join(dir, 'conv.onnx'));
    expect(report.parameters.count).toBe(224);
    expect(report.macs).toMatchObject({ status: 'ok', total: 221_184 });
    expect(report.runtime).toMatchObject({ loaded: true, mismatches: [] });
    expect(report.size.totalBytes).toBe(readFileSync(join(dir, 'conv.onnx')).length);
  });

  it('asks for --shape when an input is dynamic, naming the input and its dims', async () => {
    const r = await kiln('inspect', 'mlp.onnx');
    expect(r.code).toBe(0);
    expect(r.out).toContain("MACs need concrete input shapes: 'input' is [N, 16]; pass --shape input=?x16");
    const json = JSON.parse((await kiln('inspect', 'mlp.onnx', '--json')).out) as InspectCommandReport;
    expect(json.macs).toMatchObject({ status: 'needs-shape', inputs: [{ name: 'input', shape: ['N', 16] }] });
  });

  it('computes MACs with --shape (named, short flag, or bare for one input)', async () => {
    for (const args of [['--shape', 'input=4x16'], ['-s', 'input=4x16'], ['--shape=4x16']]) {
      const r = await kiln('inspect', 'mlp.onnx', ...args, '--json');
      expect(r.code).toBe(0);
      expect((JSON.parse(r.out) as InspectCommandReport).macs).toMatchObject({ status: 'ok', total: 4 * (16 * 32 + 32 * 10), inputShapes: { input: [4, 16] } });
    }
    const human = await kiln('inspect', 'cnn.onnx', '--shape', 'input=2x3x32x32');
    expect(human.out).toMatch(/output\s+float32\s+\[N, 10\]\s+\[2, 10\]/);
  });

  it('counts external data in the size, and onnxruntime loads it from beside the model', async () => {
    saveModel(buildCnn(), join(dir, 'external.onnx'), { externalData: { threshold: 256 } });
    const r = await kiln('inspect', 'external.onnx', '--json');
    expect(r.err).toBe('');
    const report = JSON.parse(r.out) as InspectCommandReport;
    const onDisk = readFileSync(join(dir, 'external.onnx')).length;
    expect(report.size.weightsBytes).toBe(report.parameters.count * 4);
    expect(report.size.totalBytes).toBeGreaterThan(onDisk);
    expect(report.size.graphBytes).toBeLessThan(onDisk);
    expect(report.runtime?.loaded).toBe(true);
  });

  it('--skip-runtime leaves onnxruntime out', async () => {
    const r = await kiln('inspect', 'refused.onnx', '--skip-runtime', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as InspectCommandReport;
    expect(report.runtime).toBeUndefined();
    expect(report.operators).toEqual([{ op: 'NoSuchOperator', count: 1 }]);
  });

  describe('BAD CALL - bad files: exit 2, one line naming the file, no stack', () => {
    const cases: [string, RegExp][] = [
      ['text.onnx', /text\.onnx: .*ONNX model \(protobuf: /],
      ['truncated.onnx', /truncated\.onnx: a truncated or corrupt ONNX model/],
      ['empty.onnx', /empty\.onnx: the file is empty/],
      ['missing.onnx', /missing\.onnx: no such file/],
      ['folder.onnx', /folder\.onnx is a folder/],
      ['refused.onnx', /refused\.onnx: onnxruntime could not load the model: .*NoSuchOperator/],
    ];
    for (const [file, message] of cases) {
      it(file, async () => {
        const r = await kiln('inspect', file);
        expect(r.code).toBe(2);
        expect(r.out).toBe('');
        expectOneLine(r.err);
        expect(r.err).toMatch(message);
      });
    }
    it('--verbose adds the stack', async () => {
      const r = await kiln('inspect', 'truncated.onnx', '--verbose');
      expect(r.code).toBe(2);
      expect(r.err.split('\n')[0]).toMatch(/^kiln: .*truncated\.onnx/);
      expect(r.err).toMatch(/\n\s+at .*model\.ts/);
    });
    it('a zoo name without zoo: gets a hint', async () => {
      const r = await kiln('inspect', 'ppocr-det');
      expect(r.code).toBe(2);
      expectOneLine(r.err);
      expect(r.err).toContain('write zoo:ppocr-det');
    });
  });

  describe('BAD CALL - bad --shape: exit 2 and a clear message', () => {
    const cases: [string[], string][] = [
      [['--shape', 'input=4xNx16'], "'N' is not a dimension"],
      [['--shape', 'input='], 'no dimensions'],
      [['--shape', 'images=4x16'], "the model has no input 'images' (inputs: input [N, 16])"],
      [['--shape', 'input=4x16x1'], "input 'input' has 2 dimensions [N, 16], but 3 were given"],
      [['--shape', 'input=4x15'], "dimension 1 of input 'input' is fixed at 16"],
      [['--shape'], '--shape needs a value'],
    ];
    for (const [args, message] of cases) {
      it(args.join(' '), async () => {
        const r = await kiln('inspect', 'mlp.onnx', ...args);
        expect(r.code).toBe(2);
        expectOneLine(r.err);
        expect(r.err).toContain(message);
      });
    }
  });
});

describe('compareWithSession', () => {
  const report = {
    inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 3] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: ['N', 2] }],
  };
  it('agrees when names, types and fixed dims match (symbolic names may differ)', () => {
    expect(
      compareWithSession(report, {
        inputNames: ['x'],
        outputNames: ['y'],
        inputMetadata: [{ name: 'x', isTensor: true, type: 'float32', shape: ['batch', 3] }],
        outputMetadata: [{ name: 'y', isTensor: true, type: 'float32', shape: [-1, 2] }],
      }),
    ).toEqual([]);
  });
  it('reports differing names, types and dims', () => {
    expect(compareWithSession(report, { inputNames: ['x', 'z'], outputNames: ['y'] })).toEqual([
      'inputs differ: the graph has [x], onnxruntime reports [x, z]',
    ]);
    expect(
      compareWithSession(report, {
        inputNames: ['x'],
        outputNames: ['y'],
        inputMetadata: [{ name: 'x', isTensor: true, type: 'float16', shape: ['N', 4] }],
      }),
    ).toEqual(["input 'x': the graph says float32, onnxruntime float16", "input 'x': the graph says [N, 3], onnxruntime [N, 4]"]);
  });
});
