/**
 * BAD CALLs of the TF.js importer: each gives a KilnError with code CONVERT (or FILE_NOT_FOUND for a
 * missing model.json) whose message names the layer (name and class) or the file, and what is supported.
 */
import { readFileSync, rmSync, truncateSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { KilnError } from '../../src/errors.js';
import { convertLayersModel, convertTfjsModel, tfjsDirectory } from '../../src/importers/tfjs.js';
import { initTf, tempDir } from './tfjs-helpers.js';

beforeAll(initTf);

let cleanups: (() => void)[] = [];
afterEach(() => {
  cleanups.forEach((c) => c());
  cleanups = [];
});

/** Save a model into a fresh temp folder; returns the model.json path. */
async function saved(model: tf.LayersModel, shardBytes?: number): Promise<string> {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  await model.save(tfjsDirectory(dir, { shardBytes }));
  return join(dir, 'model.json');
}

const small = (): tf.Sequential =>
  tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, name: 'features' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 3, activation: 'relu', name: 'logits' }),
    ],
  });

async function convertError(run: Promise<unknown>): Promise<KilnError> {
  try {
    await run;
  } catch (err) {
    expect(err).toBeInstanceOf(KilnError);
    return err as KilnError;
  }
  throw new Error('expected the conversion to fail');
}

const editJson = (path: string, edit: (json: Record<string, any>) => void): void => {
  const json = JSON.parse(readFileSync(path, 'utf8'));
  edit(json);
  writeFileSync(path, JSON.stringify(json));
};

describe('unsupported models', () => {
  it('BAD CALL - an unsupported layer (LSTM) names the layer, its class and the supported layers', async () => {
    const model = tf.sequential({ layers: [tf.layers.lstm({ inputShape: [4, 3], units: 2, name: 'memory' })] });
    const err = await convertError(convertTfjsModel(await saved(model)));
    expect(err.code).toBe('CONVERT');
    expect(err.message).toMatch(/layer 'memory' \(LSTM\): this layer type is not supported/);
    expect(err.message).toMatch(/supported layers: .*Dense.*Conv2D.*BatchNormalization/);
  });

  it('BAD CALL - an unknown activation names the layer and the supported activations', async () => {
    const path = await saved(small());
    editJson(path, (j) => {
      j.modelTopology.config.layers[2].config.activation = 'hard_swishy';
    });
    const err = await convertError(convertTfjsModel(path));
    expect(err.code).toBe('CONVERT');
    expect(err.message).toMatch(/layer 'logits' \(Dense\): activation 'hard_swishy' is not supported/);
    expect(err.message).toMatch(/supported activations: .*relu.*softmax/);
  });

  it('BAD CALL - channels_first convolutions are refused, naming the data format', async () => {
    const model = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [1, 6, 6], filters: 2, kernelSize: 3, dataFormat: 'channelsFirst', name: 'cf' })] });
    const err = await convertError(convertLayersModel(model));
    expect(err.code).toBe('CONVERT');
    expect(err.message).toMatch(/layer 'cf' \(Conv2D\): data_format 'channels_first' is not supported/);
    expect(err.message).toMatch(/channels_last/);
  });

  it('BAD CALL - BatchNormalization over a non-last axis is refused (TF.js itself computes it wrongly)', async () => {
    const model = tf.sequential({ layers: [tf.layers.batchNormalization({ inputShape: [2, 3, 4], axis: 1, name: 'bn1' })] });
    const err = await convertError(convertLayersModel(model));
    expect(err.code).toBe('CONVERT');
    expect(err.message).toMatch(/layer 'bn1' \(BatchNormalization\): normalizing over axis 1/);
  });

  it('BAD CALL - a model nested as a layer is refused, naming it', async () => {
    const inner = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })], name: 'inner' });
    const x = tf.input({ shape: [3] });
    const outer = tf.model({ inputs: x, outputs: inner.apply(x) as tf.SymbolicTensor });
    const err = await convertError(convertLayersModel(outer));
    expect(err.code).toBe('CONVERT');
    expect(err.message).toMatch(/layer 'inner' \(Sequential\): nested models are not supported/);
  });
});

describe('broken files', () => {
  it('BAD CALL - a missing weight file names the file and the layers it holds', async () => {
    const path = await saved(small());
    rmSync(join(path, '..', 'group1-shard1of1.bin'));
    const err = await convertError(convertTfjsModel(path));
    expect(err.code).toBe('CONVERT');
    expect(err.message).toMatch(/weight file 'group1-shard1of1\.bin' is missing/);
    expect(err.message).toMatch(/'features'.*'logits'/);
  });

  it('BAD CALL - a truncated weight file names the first weight that does not fit, its layer and the file', async () => {
    const path = await saved(small(), 64);
    const shards = JSON.parse(readFileSync(path, 'utf8')).weightsManifest[0].paths as string[];
    expect(shards.length).toBeGreaterThan(2);
    const last = join(path, '..', shards[shards.length - 1]);
    truncateSync(last, statSync(last).size - 4);
    const err = await convertError(convertTfjsModel(path));
    expect(err.code).toBe('CONVERT');
    expect(err.message).toMatch(/weight 'logits\/bias' \(layer 'logits'\) needs bytes \d+\.\.\d+/);
    expect(err.message).toContain(`weight file '${shards[shards.length - 1]}'`);
  });

  it('BAD CALL - a weight the manifest lacks, or with the wrong shape, names the layer', async () => {
    const path = await saved(small());
    const original = readFileSync(path, 'utf8');
    editJson(path, (j) => {
      j.weightsManifest[0].weights[0].name = 'something/else';
    });
    let err = await convertError(convertTfjsModel(path));
    expect(err.message).toMatch(/layer 'features' \(Conv2D\): weight 'features\/kernel' is not in the weights manifest/);
    writeFileSync(path, original);
    editJson(path, (j) => {
      j.weightsManifest[0].weights[0].shape = [3, 1, 3, 2];
    });
    err = await convertError(convertTfjsModel(path));
    expect(err.message).toMatch(/layer 'features' \(Conv2D\): weight 'features\/kernel' has shape \[3, 1, 3, 2\], expected \[3, 3, 1, 2\]/);
  });

  it('BAD CALL - not a model.json: garbage, another JSON file, a graph model', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const garbage = join(dir, 'garbage.json');
    writeFileSync(garbage, '\u0000\u0001 not json');
    let err = await convertError(convertTfjsModel(garbage));
    expect(err.code).toBe('CONVERT');
    expect(err.message).toMatch(/garbage\.json: not a TensorFlow\.js model\.json \(it is not JSON/);

    const pkg = join(dir, 'package.json');
    writeFileSync(pkg, JSON.stringify({ name: 'x', version: '1.0.0' }));
    err = await convertError(convertTfjsModel(pkg));
    expect(err.message).toMatch(/package\.json: not a TensorFlow\.js model\.json \(no "modelTopology" object\)/);

    const graph = join(dir, 'graph.json');
    writeFileSync(graph, JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }));
    err = await convertError(convertTfjsModel(graph));
    expect(err.message).toMatch(/graph\.json: is a TF\.js graph model/);
  });

  it('BAD CALL - a missing model.json is FILE_NOT_FOUND; a folder without one is CONVERT', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const err = await convertError(convertTfjsModel(join(dir, 'nope', 'model.json')));
    expect(err.code).toBe('FILE_NOT_FOUND');
    expect(err.message).toContain('nope');
    mkdirSync(join(dir, 'empty'));
    const err2 = await convertError(convertTfjsModel(join(dir, 'empty')));
    expect(err2.code).toBe('CONVERT');
    expect(err2.message).toMatch(/folder without a model\.json/);
  });

  it('BAD CALL - weight paths outside the model folder are refused', async () => {
    const path = await saved(small());
    editJson(path, (j) => {
      j.weightsManifest[0].paths = ['../../etc/passwd'];
    });
    const err = await convertError(convertTfjsModel(path));
    expect(err.code).toBe('CONVERT');
    expect(err.message).toMatch(/weight file '\.\.\/\.\.\/etc\/passwd' is not inside the model's folder/);
  });
});
