/** loadModel/parseModel and createOrtNodeSession on files that are not (valid) ONNX models. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KilnError } from '../../src/errors.js';
import { buildCnn, buildMlp, GraphBuilder } from '../../src/onnx/builder.js';
import { loadModel, parseModel, serializeModel } from '../../src/onnx/model.js';
import { makeValueInfo } from '../../src/onnx/nodes.js';
import { createOrtNodeSession } from '../../src/runtime/ort-node.js';
import { expectKilnError, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
beforeAll(() => ({ dir, cleanup } = tempDir()));
afterAll(() => cleanup());

const write = (name: string, bytes: Uint8Array | string): string => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};

/** The first bytes of a real PNG file: signature and a 1×1 IHDR chunk. */
const PNG = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
  0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d,
  0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
]);

describe('files that are not ONNX', () => {
  it('a real model cut in half is NOT_ONNX (truncated), naming the file', async () => {
    const bytes = serializeModel(buildCnn({ seed: 1 }));
    const path = write('half.onnx', bytes.subarray(0, Math.floor(bytes.byteLength / 2)));
    const err = await expectKilnError(() => loadModel(path), 'NOT_ONNX', path, 'truncated or corrupt');
    expect(err.exitCode).toBe(2);
  });

  it.each([
    ['a PNG image', 'image.png', PNG],
    ['a text file', 'notes.txt', 'This is a text file, not a neural network.\n'],
    ['JSON', 'model.json', '{"format": "tfjs-graph-model", "weightsManifest": []}'],
  ])('%s is NOT_ONNX, naming the file', async (_what, name, content) => {
    const path = write(name, content);
    await expectKilnError(() => loadModel(path), 'NOT_ONNX', path, 'ONNX model');
  });

  it('an empty file is NOT_ONNX saying it is empty', async () => {
    const path = write('empty.onnx', new Uint8Array(0));
    await expectKilnError(() => loadModel(path), 'NOT_ONNX', path, 'empty');
  });

  it('a path that does not exist is FILE_NOT_FOUND', async () => {
    await expectKilnError(() => loadModel(join(dir, 'nope.onnx')), 'FILE_NOT_FOUND', 'nope.onnx');
  });
});

describe('models kiln does not support', () => {
  it('an initializer with data type code 99 is UNKNOWN_DTYPE naming the tensor', async () => {
    const m = buildMlp({ seed: 1 });
    m.graph!.initializer[1].dataType = 99;
    const name = m.graph!.initializer[1].name;
    const path = write('dtype99.onnx', serializeModel(m));
    await expectKilnError(() => loadModel(path), 'UNKNOWN_DTYPE', `'${name}'`, '99');
  });

  it('a graph input with an unknown element type is UNKNOWN_DTYPE naming the input', async () => {
    const m = buildMlp({ seed: 1 });
    m.graph!.input[0] = makeValueInfo('input', 42, ['N', 16]);
    await expectKilnError(() => parseModel(serializeModel(m), { source: 'mem' }), 'UNKNOWN_DTYPE', "'input'", '42');
  });

  it('an opset newer than supported is OPSET_UNSUPPORTED naming the opset', async () => {
    const path = write('opset99.onnx', serializeModel(buildMlp({ opset: 99 })));
    const err = await expectKilnError(() => loadModel(path), 'OPSET_UNSUPPORTED', 'opset ai.onnx 99', path);
    expect(err.exitCode).toBe(2);
    // The check can be turned off, and the decoder itself has nothing against the file.
    expect(loadModel(path, { checkVersions: false }).opsetImport[0].version).toBe(99);
  });

  it('an IR version newer than supported is OPSET_UNSUPPORTED', async () => {
    const m = buildMlp();
    m.irVersion = 99;
    await expectKilnError(() => parseModel(serializeModel(m)), 'OPSET_UNSUPPORTED', 'IR version 99');
  });
});

describe('a model the decoder accepts but onnxruntime refuses', () => {
  it('an unknown operator is RUNTIME_LOAD from createOrtNodeSession, naming the operator', async () => {
    const b = new GraphBuilder('bad');
    const x = b.input('x', 'float32', [2]);
    b.output(b.node('NoSuchOp', [x], [], { output: 'y' }), 'float32', [2]);
    const bytes = serializeModel(b.build());
    expect(parseModel(bytes).graph!.node[0].opType).toBe('NoSuchOp');
    const err = await expectKilnError(() => createOrtNodeSession(bytes, { source: 'bad.onnx' }), 'RUNTIME_LOAD', 'bad.onnx', 'NoSuchOp');
    expect(err).toBeInstanceOf(KilnError);
    expect(err.exitCode).toBe(2);
  });

  it('a node reading a tensor nothing defines is RUNTIME_LOAD naming the tensor', async () => {
    const b = new GraphBuilder('dangling');
    const x = b.input('x', 'float32', [2]);
    b.output(b.node('Add', [x, 'ghost'], [], { output: 'y' }), 'float32', [2]);
    const path = write('dangling.onnx', serializeModel(b.build()));
    await expectKilnError(() => createOrtNodeSession(path), 'RUNTIME_LOAD', path, 'ghost');
  });
});
