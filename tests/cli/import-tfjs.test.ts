import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { runMain } from '../../src/cli/main.js';
import { captureIo } from '../../src/cli/io.js';
import { tfjsDirectory } from '../../src/importers/tfjs.js';
import { loadModel } from '../../src/onnx/model.js';
import { runModel, tempDir } from '../onnx/helpers.js';

let dir: string;
let cleanup: () => void;
let expected: Float32Array;
const input = Float32Array.from({ length: 8 }, (_, i) => (i - 4) / 3);

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('kiln-import-'));
  await tf.setBackend('cpu');
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'relu', name: 'hidden' }), tf.layers.dense({ units: 2, name: 'out' })],
  });
  await model.save(tfjsDirectory(join(dir, 'web_model')));
  expected = (model.predict(tf.tensor2d(input, [2, 4])) as tf.Tensor).dataSync() as Float32Array;
  writeFileSync(join(dir, 'not-json.json'), '{ nope');
});
afterAll(() => cleanup());

async function kiln(...argv: string[]) {
  const io = captureIo({ cwd: dir });
  const code = await runMain(argv, io);
  return { code, out: io.out, err: io.err };
}

describe('kiln import tfjs', () => {
  it('writes an ONNX model that computes what the TF.js model does', async () => {
    const r = await kiln('import', 'tfjs', 'web_model/model.json', '-o', 'model.onnx');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^wrote .*model\.onnx \(\d+ nodes, [\d.]+ (B|KB)\)\n$/);
    const model = loadModel(join(dir, 'model.onnx'));
    const inputName = model.graph!.input[0].name;
    const outputs = await runModel(model, { [inputName]: { data: input, dims: [2, 4] } });
    const got = Object.values(outputs)[0];
    expect(got.dims).toEqual([2, 2]);
    got.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    const inspected = await kiln('inspect', 'model.onnx', '--shape', `${inputName}=2x4`, '--json');
    expect(JSON.parse(inspected.out).parameters.count).toBe(4 * 3 + 3 + 3 * 2 + 2);
  });

  it('defaults the output to beside model.json; accepts the folder; --batch fixes the batch; --json', async () => {
    const r = await kiln('import', 'tfjs', 'web_model', '--batch', '1', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { output: string; nodes: number; bytes: number };
    expect(out.output).toBe(join(dir, 'web_model', 'model.onnx'));
    expect(existsSync(out.output)).toBe(true);
    const dims = loadModel(out.output).graph!.input[0].type!.tensorType!.shape!.dim;
    expect(dims[0].dimValue).toBe(1);
  });

  describe('BAD CALL - exit 2 and one line', () => {
    const cases: [string[], string][] = [
      [['import', 'tfjs', 'missing.json'], 'missing.json: no such file'],
      [['import', 'tfjs', 'not-json.json'], 'not-json.json'],
      [['import', 'tfjs', 'web_model/model.json', '--batch', 'two'], "--batch must be a positive integer (got 'two')"],
      [['import', 'tfjs', 'web_model/model.json', '--opset', '99', '-o', 'x.onnx'], 'opset 99'],
      [['import', 'tfjs'], 'missing <model>'],
    ];
    for (const [argv, message] of cases) {
      it(argv.slice(2).join(' ') || '(no model)', async () => {
        const r = await kiln(...argv);
        expect(r.code).toBe(2);
        expect(r.err.trimEnd().split('\n')).toHaveLength(1);
        expect(r.err).toContain(message);
      });
    }
  });
});
