/**
 * `kiln compile --pipeline`: the pipeline.json (and labels file) goes into the artifact, listed in
 * the signed manifest; the agent installs it and its /predict answers labelled top-k for real PNG
 * and JPEG images; a tampered pipeline.json fails the signature check; a changed pipeline or labels
 * file is a new compile, not a cache hit.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileModel, type CompileOptions } from '../../src/compiler/compile.js';
import { decodeImage } from '../../src/numerics/image-decode.js';
import { planImageInput, writeImage } from '../../src/numerics/image-preprocess.js';
import { Agent } from '../../src/edge-agent/agent.js';
import { serveAgent, type AgentServer } from '../../src/edge-agent/http/server.js';
import { buildCnn } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/model.js';
import { checkArtifact } from '../../src/protocol/artifact.js';
import { LABELS_FILE, PIPELINE_FILE } from '../../src/protocol/pipeline.js';
import { createOrtNodeSession, ort } from '../../src/runtime/ort-node.js';
import { KilnError } from '../../src/errors.js';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';
import { http, kilnHome, tempDir } from '../edge-agent/helpers.js';

const LABELS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const PRE = { type: 'image', resize: 'cover', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const PIPELINE = { preprocess: PRE, postprocess: [{ op: 'softmax' }, { op: 'topk', k: 3 }], labelsFile: 'labels.txt' };

let root: string;
let model: string;
let pipelinePath: string;
const compile = (extra: Partial<CompileOptions>) =>
  compileModel(model, {
    target: 'x86_64',
    quantize: 'none',
    cacheDir: join(root, 'cache'),
    modelName: 'cnn',
    modelVersion: '1',
    outDir: join(root, 'out', 'cnn'),
    ...extra,
  });

beforeAll(() => {
  root = tempDir('kiln-compile-pipeline-');
  model = join(root, 'cnn.onnx');
  saveModel(buildCnn({ inputShape: [1, 3, 32, 32], seed: 3 }), model);
  pipelinePath = join(root, 'pipeline.json');
  writeFileSync(pipelinePath, JSON.stringify(PIPELINE, null, 2));
  writeFileSync(join(root, 'labels.txt'), `${LABELS.join('\n')}\n`);
});

const softmax = (x: Float32Array) => {
  const m = Math.max(...x);
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

describe('compile --pipeline → a signed artifact the agent serves', () => {
  let dir: string;
  let agent: Agent | undefined;
  let server: AgentServer | undefined;

  beforeAll(async () => {
    const res = await compile({ pipeline: pipelinePath, cache: false });
    dir = res.artifact.dir;
  });
  afterAll(async () => {
    await server?.close();
    await agent?.close();
  });

  it('writes pipeline.json and labels.txt, lists them in the signed manifest, and verify-artifact passes', () => {
    const check = checkArtifact(dir);
    expect(check.problems).toEqual([]);
    expect(Object.keys(check.manifest!.files).sort()).toEqual([LABELS_FILE, 'model.onnx', PIPELINE_FILE]);
    const written = JSON.parse(readFileSync(join(dir, PIPELINE_FILE), 'utf8'));
    // The input and output it uses are written out; labelsFile names the copied file.
    expect(written).toEqual({ ...PIPELINE, preprocess: { ...PRE, input: 'input' }, output: 'output', labelsFile: LABELS_FILE });
    expect(readFileSync(join(dir, LABELS_FILE), 'utf8')).toBe(`${LABELS.join('\n')}\n`);
    expect(checkArtifact(`${dir}.tgz`).problems).toEqual([]);
  });

  it('kiln verify-artifact passes on the folder and the .tgz', async () => {
    for (const path of [dir, `${dir}.tgz`]) {
      const io = captureIo({ cwd: root, env: { KILN_HOME: kilnHome } });
      expect(await runMain(['verify-artifact', path], io), io.err).toBe(0);
    }
  });

  it('the agent installs it; /predict answers labelled top-3 for a PNG and a JPEG, equal to the steps done by hand', async () => {
    agent = new Agent({ dataDir: join(root, 'data'), models: [`${dir}.tgz`], kilnHome });
    await agent.start();
    server = await serveAgent(agent, { port: 0 });
    const raw = Buffer.from(Array.from({ length: 48 * 40 * 3 }, (_, i) => (i * 37 + (i % 7) * 11) % 256));
    const png = join(root, 'photo.png');
    const jpeg = join(root, 'photo.jpg');
    await sharp(raw, { raw: { width: 48, height: 40, channels: 3 } })
      .png()
      .toFile(png);
    await sharp(raw, { raw: { width: 48, height: 40, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(jpeg);
    const session = await createOrtNodeSession(readFileSync(join(dir, 'model.onnx')));
    try {
      for (const [file, type] of [
        [png, 'image/png'],
        [jpeg, 'image/jpeg'],
      ] as const) {
        const res = await http(`${server.url}/v2/models/cnn/predict`, { body: readFileSync(file), headers: { 'Content-Type': type } });
        expect(res.status, res.body.toString()).toBe(200);
        const predictions = res.json().predictions as { index: number; label: string; score: number }[][];
        expect(predictions).toHaveLength(1);
        expect(predictions[0]).toHaveLength(3);

        const plan = planImageInput({ name: 'input', dtype: 'float32', shape: [1, 3, 32, 32] }, { resize: 'cover', mean: PRE.mean, std: PRE.std });
        const data = new Float32Array(3 * 32 * 32);
        writeImage(await decodeImage(file, { width: 32, height: 32, resize: 'cover', channels: 'rgb' }), plan, data, 0);
        const logits = (await session.run({ input: new ort.Tensor('float32', data, [1, 3, 32, 32]) })).output.data as Float32Array;
        const top = softmax(logits)
          .map((score, index) => ({ index, score }))
          .sort((a, b) => b.score - a.score)
          .slice(0, 3);
        expect(predictions[0].map((p) => p.index)).toEqual(top.map((t) => t.index));
        expect(predictions[0].map((p) => p.label)).toEqual(top.map((t) => LABELS[t.index]));
        predictions[0].forEach((p, i) => expect(p.score).toBeCloseTo(top[i].score, 5));
      }
    } finally {
      await session.release();
    }
  });

  it('BAD CALL: a tampered pipeline.json (or labels file) fails the signature check; the agent refuses it', async () => {
    for (const [file, edit] of [
      [PIPELINE_FILE, (text: string) => text.replace('"k": 3', '"k": 1')],
      [LABELS_FILE, (text: string) => text.replace('zero', 'cat')],
    ] as const) {
      const tampered = join(root, `tampered-${file}`);
      cpSync(dir, tampered, { recursive: true });
      const path = join(tampered, file);
      const before = readFileSync(path, 'utf8');
      writeFileSync(path, edit(before));
      expect(readFileSync(path, 'utf8')).not.toBe(before);
      const check = checkArtifact(tampered);
      expect(check.ok).toBe(false);
      expect(check.problems.join('; ')).toMatch(new RegExp(`${file.replace('.', '\\.')} (does not match its sha256|is \\d+ bytes, the manifest says)`));
      const io = captureIo({ cwd: root, env: { KILN_HOME: kilnHome } });
      expect(await runMain(['verify-artifact', tampered], io)).not.toBe(0);
      // A fresh agent (the running one already holds this version, unchanged, and says so).
      const fresh = new Agent({ dataDir: join(root, `data-${file}`), kilnHome });
      await fresh.start();
      try {
        const err = await fresh.install(tampered).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(KilnError);
        expect((err as Error).message).toContain(file);
      } finally {
        await fresh.close();
      }
    }
  });
});

describe('compile cache and pipelines', () => {
  it('a changed pipeline or labels file is compiled again; an unchanged one comes from the cache', async () => {
    const dir = join(root, 'cache-case');
    cpSync(pipelinePath, join(root, 'p1.json'));
    writeFileSync(join(root, 'p2.json'), JSON.stringify({ ...PIPELINE, postprocess: [{ op: 'softmax' }, { op: 'topk', k: 2 }] }));
    const plain = await compile({ outDir: dir });
    expect(plain.state).toBe('compiled');
    expect(plain.manifest.files[PIPELINE_FILE]).toBeUndefined();

    const first = await compile({ outDir: dir, pipeline: join(root, 'p1.json') });
    expect(first.state).toBe('compiled');
    expect(first.manifest.build.cacheKey).not.toBe(plain.manifest.build.cacheKey);
    const again = await compile({ outDir: dir, pipeline: join(root, 'p1.json') });
    expect(again.state).toBe('cached');
    expect(JSON.parse(readFileSync(join(again.artifact.dir, PIPELINE_FILE), 'utf8')).postprocess[1].k).toBe(3);

    const changed = await compile({ outDir: dir, pipeline: join(root, 'p2.json') });
    expect(changed.state).toBe('compiled');
    expect(JSON.parse(readFileSync(join(changed.artifact.dir, PIPELINE_FILE), 'utf8')).postprocess[1].k).toBe(2);

    // Same pipeline.json, other labels: the labels file's content is in the key.
    writeFileSync(join(root, 'labels-b.txt'), `${LABELS.map((l) => l.toUpperCase()).join('\n')}\n`);
    const relabelled = await compile({ outDir: dir, pipeline: join(root, 'p2.json'), labels: join(root, 'labels-b.txt') });
    expect(relabelled.state).toBe('compiled');
    expect(readFileSync(join(relabelled.artifact.dir, LABELS_FILE), 'utf8')).toContain('SEVEN');
    // The same content from another path is the same compile.
    writeFileSync(join(root, 'labels-c.txt'), readFileSync(join(root, 'labels-b.txt')));
    expect((await compile({ outDir: dir, pipeline: join(root, 'p2.json'), labels: join(root, 'labels-c.txt') })).state).toBe('cached');
  });

  it('kiln compile --pipeline --labels, and a pipeline object with inline labels', async () => {
    const io = captureIo({ cwd: root, env: { KILN_HOME: kilnHome } });
    writeFileSync(join(root, 'no-labels.json'), JSON.stringify({ preprocess: { type: 'image' }, postprocess: [{ op: 'argmax' }] }));
    const code = await runMain(
      [
        'compile',
        'cnn.onnx',
        '--target',
        'x86_64',
        '--quantize',
        'none',
        '--pipeline',
        'no-labels.json',
        '--labels',
        'labels.txt',
        '-o',
        'cli-out',
        '--no-cache',
        '--json',
      ],
      io,
    );
    expect(code, io.err).toBe(0);
    const doc = JSON.parse(io.out);
    expect(Object.keys(doc.manifest.files).sort()).toEqual([LABELS_FILE, 'model.onnx', PIPELINE_FILE]);
    expect(JSON.parse(readFileSync(join(root, 'cli-out', PIPELINE_FILE), 'utf8')).labelsFile).toBe(LABELS_FILE);

    const inline = { postprocess: [{ op: 'argmax' as const }], labels: LABELS };
    const res = await compile({ outDir: join(root, 'inline'), pipeline: inline, cache: false });
    expect(Object.keys(res.manifest.files).sort()).toEqual(['model.onnx', PIPELINE_FILE]);
    expect(JSON.parse(readFileSync(join(res.artifact.dir, PIPELINE_FILE), 'utf8'))).toEqual({ ...inline, output: 'output' });
    expect(inline).toEqual({ postprocess: [{ op: 'argmax' }], labels: LABELS }); // the caller's object is not changed
  });
});
