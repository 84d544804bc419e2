/**
 * Pipelines declared in the artifact (a signed pipeline.json): an image upload to /predict is
 * decoded, resized and normalized, run, then softmax → top-k with labels — equal to doing the same
 * steps by hand with the compiler's image code and onnxruntime. Bad pipelines fail probation.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { postprocess } from '../../src/edge-agent/pipeline/post.js';
import { checkPipeline } from '../../src/protocol/pipeline.js';
import { compileModel } from '../../src/compiler/compile.js';
import { buildCnn } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/model.js';
import { decodeImage } from '../../src/numerics/image-decode.js';
import { planImageInput, writeImage } from '../../src/numerics/image-preprocess.js';
import { writeArtifact, MANIFEST_FILE } from '../../src/protocol/artifact.js';
import { kilnConfigDir } from '../../src/config-dir.js';
import { defaultSigningKey } from '../../src/protocol/signing.js';
import type { ArtifactManifest } from '../../src/protocol/manifest.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';
import { KilnError } from '../../src/errors.js';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { http, kilnHome, makeArtifact, randomInput, tempDir } from './helpers.js';

const LABELS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const PIPELINE = {
  preprocess: { type: 'image', resize: 'cover', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  postprocess: [{ op: 'softmax' }, { op: 'topk', k: 3 }],
  labelsFile: 'labels.txt',
};

let root: string;
let agent: Agent;
let server: AgentServer;
let modelBytes: Uint8Array;

/** Re-sign a compiled artifact with extra files: pipelines `kiln compile --pipeline` would refuse. */
function withFiles(src: string, out: string, extra: Record<string, string>, version?: string) {
  const manifest = JSON.parse(readFileSync(join(src, MANIFEST_FILE), 'utf8')) as ArtifactManifest;
  const { files: _files, ...rest } = manifest;
  const files: Record<string, Uint8Array> = { 'model.onnx': readFileSync(join(src, 'model.onnx')) };
  for (const [k, v] of Object.entries(extra)) files[k] = Buffer.from(v);
  return writeArtifact(out, version ? { ...rest, model: { ...rest.model, version } } : rest, files, defaultSigningKey(kilnConfigDir()));
}

beforeAll(async () => {
  root = tempDir();
  // What `kiln compile --pipeline pipeline.json` writes (labels.txt beside it).
  const src = join(root, 'cnn-src.onnx');
  saveModel(buildCnn({ inputShape: [1, 3, 32, 32] }), src);
  writeFileSync(join(root, 'pipeline.json'), JSON.stringify(PIPELINE));
  writeFileSync(join(root, 'labels.txt'), `${LABELS.join('\n')}\n`);
  const { artifact: art } = await compileModel(src, {
    target: 'x86_64',
    quantize: 'none',
    outDir: join(root, 'cnn-pipeline'),
    cacheDir: join(root, 'cache'),
    modelName: 'cnn',
    modelVersion: '1',
    pipeline: join(root, 'pipeline.json'),
  });
  modelBytes = readFileSync(join(art.dir, 'model.onnx'));
  const plain = await makeArtifact(root, 'plain', '1');
  agent = new Agent({ dataDir: join(root, 'data'), models: [art.dir, plain.dir], kilnHome });
  await agent.start();
  server = await serveAgent(agent, { port: 0 });
});

afterAll(async () => {
  await server?.close();
  await agent?.close();
});

const softmax = (x: Float32Array) => {
  const m = Math.max(...x);
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

describe('pipelines', () => {
  it('an image upload → preprocess → model → softmax → top-3 with labels, equal to the steps done by hand', async () => {
    const png = join(root, 'photo.png');
    const raw = Buffer.from(Array.from({ length: 48 * 40 * 3 }, (_, i) => (i * 37) % 256));
    await sharp(raw, { raw: { width: 48, height: 40, channels: 3 } })
      .png()
      .toFile(png);
    const res = await http(`${server.url}/v2/models/cnn/predict`, { body: readFileSync(png), headers: { 'Content-Type': 'image/png' } });
    expect(res.status).toBe(200);
    const doc = res.json();
    expect(doc.model_name).toBe('cnn');
    expect(doc.predictions).toHaveLength(1);
    expect(doc.predictions[0]).toHaveLength(3);

    // By hand: the compiler's image decode and layout, onnxruntime, softmax, sort.
    const plan = planImageInput(
      { name: 'input', dtype: 'float32', shape: [1, 3, 32, 32] },
      { resize: 'cover', mean: PIPELINE.preprocess.mean, std: PIPELINE.preprocess.std },
    );
    const data = new Float32Array(3 * 32 * 32);
    writeImage(await decodeImage(png, { width: 32, height: 32, resize: 'cover', channels: 'rgb' }), plan, data, 0);
    const s = await createOrtNodeSession(modelBytes);
    const logits = (await s.run({ input: new ort.Tensor('float32', data, [1, 3, 32, 32]) })).output.data as Float32Array;
    await s.release();
    const probs = softmax(logits);
    const top = probs
      .map((score, index) => ({ index, score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, 3);
    expect(doc.predictions[0].map((p: { index: number }) => p.index)).toEqual(top.map((t) => t.index));
    expect(doc.predictions[0].map((p: { label: string }) => p.label)).toEqual(top.map((t) => LABELS[t.index]));
    doc.predictions[0].forEach((p: { score: number }, i: number) => expect(p.score).toBeCloseTo(top[i].score, 5));
  });

  it('kiln agent infer --input photo.png (beside the running agent) prints the same predictions', async () => {
    const io = captureIo({ cwd: root, env: { KILN_HOME: kilnHome } });
    expect(await runMain(['agent', 'infer', '--model', 'cnn', '--input', 'photo.png', '--data-dir', join(root, 'data')], io)).toBe(0);
    const viaCli = JSON.parse(io.out).predictions;
    const viaHttp = (
      await http(`${server.url}/v2/models/cnn/predict`, { body: readFileSync(join(root, 'photo.png')), headers: { 'Content-Type': 'image/png' } })
    ).json().predictions;
    expect(viaCli).toEqual(viaHttp);
  });

  it('OIP tensors to /predict get the postprocessing too', async () => {
    const input = randomInput(3072, 9);
    const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(input) }] });
    const inferred = (await http(`${server.url}/v2/models/cnn/infer`, { body })).json();
    const predicted = (await http(`${server.url}/v2/models/cnn/predict`, { body })).json();
    const probs = softmax(Float32Array.from(inferred.outputs[0].data));
    expect(predicted.predictions[0][0].score).toBeCloseTo(Math.max(...probs), 6);
  });

  it('BAD CALL: /predict on a model without a pipeline, an undecodable image → 400', async () => {
    const none = await http(`${server.url}/v2/models/plain/predict`, { body: '{}', headers: { 'Content-Type': 'application/json' } });
    expect(none.status).toBe(400);
    expect(none.json().error).toMatch(/model 'plain' declares no pipeline/);
    const junk = await http(`${server.url}/v2/models/cnn/predict`, { body: Buffer.from('not an image at all'), headers: { 'Content-Type': 'image/jpeg' } });
    expect(junk.status).toBe(400);
    expect(junk.json().error).toMatch(/not an image sharp can decode/);
  });

  it('BAD CALL: an artifact with an invalid pipeline fails probation; the old version keeps serving', async () => {
    const base = await makeArtifact(root, 'cnn', '2', { seed: 2 });
    const bad = withFiles(base.dir, join(root, 'cnn-bad-pipeline'), { 'pipeline.json': JSON.stringify({ postprocess: [{ op: 'sigmoid' }], output: 'nope' }) });
    const err = await agent.install(bad.dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KilnError);
    expect((err as Error).message).toMatch(/unknown op 'sigmoid'.*output 'nope' is not an output/);
    expect(agent.lookup('cnn').record.version).toBe('1');
  });
});

describe('pipeline steps (pure)', () => {
  const manifest = { inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }], outputs: [{ name: 'y', dtype: 'float32', shape: [1, 4] }] };
  it('argmax, topk, threshold, labels', () => {
    const t = { type: 'float32', dims: [2, 4], data: Float32Array.from([0.1, 0.7, 0.2, 0.0, 0.5, 0.1, 0.1, 0.3]) };
    const spec = (raw: unknown) => {
      const c = checkPipeline(raw, manifest, {});
      if (!c.ok) throw new Error(c.problems.join('; '));
      return c.spec;
    };
    expect(postprocess(spec({ postprocess: [{ op: 'argmax' }], labels: ['a', 'b', 'c', 'd'] }), t)).toEqual([
      [{ index: 1, label: 'b', score: Math.fround(0.7) }],
      [{ index: 0, label: 'a', score: 0.5 }],
    ]);
    expect(
      postprocess(
        spec({
          postprocess: [
            { op: 'topk', k: 2 },
            { op: 'threshold', min: 0.25 },
          ],
        }),
        t,
      ).map((r) => r.map((p) => p.index)),
    ).toEqual([[1], [0, 3]]);
    expect(postprocess(spec({ postprocess: [{ op: 'threshold', min: 0.3 }] }), t).map((r) => r.map((p) => p.index))).toEqual([[1], [0, 3]]);
    const soft = postprocess(spec({ postprocess: [{ op: 'softmax' }] }), t);
    expect(soft[0].reduce((a, p) => a + p.score, 0)).toBeCloseTo(1, 10);
  });
  it('BAD CALL: every problem listed', () => {
    const c = checkPipeline({ postprocess: [{ op: 'topk' }, { op: 'argmax', k: 1 }, 'x'], output: 'z', labels: [1], extra: 1 }, manifest, {});
    expect(c.ok).toBe(false);
    expect(!c.ok && c.problems).toEqual([
      "unknown key 'extra' (valid: preprocess, postprocess, output, labels, labelsFile)",
      'postprocess[0] (topk) needs "k", a whole number ≥ 1',
      'postprocess[1] (argmax) takes no options (got k)',
      'postprocess[2] must be an object with an "op"',
      "output 'z' is not an output of the model (y)",
      'labels must be a list of strings',
    ]);
  });
});
