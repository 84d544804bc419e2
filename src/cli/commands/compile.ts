/**
 * `kiln compile`: compile an ONNX model for a hardware target (src/compiler/compile.ts).
 */
import type { CompileResult, CompileOptions } from '../../compiler/compile.js';
import type { DataSource } from '../../compiler/io-spec.js';
import type { TargetProfile } from '../../targets/profiles.js';
import { KilnError } from '../../errors.js';
import { defineCommand } from '../framework.js';
import { humanBytes, table } from '../../format.js';
import { createProgress } from '../progress.js';

const ZOO_PREFIX = 'zoo:';

/** Texts for the zoo's OCR sample images, so calibration sees more than one line. */
const ZOO_TEXTS = ['kiln 2026', 'Edge inference', 'HELLO WORLD', 'model v2.1', 'quick brown fox', 'Raspberry Pi 5', 'ONNX runtime', 'canary 5%'];

async function zooSource(name: string, count: number): Promise<DataSource> {
  const { sampleInputs, getEntry } = await import('../../zoo/index.js');
  const entry = getEntry(name);
  const samples = [];
  for (let i = 0; i < count; i++) {
    const feeds = await sampleInputs(
      name,
      entry.task.includes('ocr') || /ocr/.test(name) ? { text: ZOO_TEXTS[i % ZOO_TEXTS.length], seed: i + 1 } : { seed: i + 1 },
    );
    samples.push(feeds as unknown as Record<string, { type: string; dims: number[]; data: Float32Array }>);
  }
  const { memorySource } = await import('../../compiler/io-spec.js');
  return memorySource(`zoo samples (${count})`, samples);
}

function parseNumberList(flag: string, text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isFinite(v))) throw new KilnError('USAGE', `--${flag} ${text}: expected comma-separated numbers, e.g. 0.485,0.456,0.406`);
  return values;
}

export const compile = defineCommand({
  name: 'compile',
  summary: 'compile an ONNX model for a hardware target: optimize, quantize, verify, sign',
  description:
    "Turns a trained ONNX model into an artifact for one target (see `kiln targets list`): kiln's graph passes and " +
    "onnxruntime's portable optimizations, then int8 / fp16 quantization chosen from the target profile, then " +
    "verification against the original on held-out data, on the target's own runtime where this host has it. " +
    "An arm64 target on an x86-64 host is verified on onnxruntime's own arm64 build under qemu emulation when " +
    'scripts/setup-arm64-emulation.sh has been run (its NEON and int8 dot-product kernels compute the outputs; at most ' +
    '--emulated-samples samples, as a sample can take seconds there; the manifest says so), else on the x86-64 ' +
    'kernels as a labelled stand-in; --verify-on host asks for the stand-in. ' +
    'The artifact is a folder (model.onnx, manifest.json, signature.json) plus a .tgz of it. When the quantized ' +
    'model misses the accuracy budget, the nodes that add the most error are kept in float until it fits; the best ' +
    'model found is always saved, with honest figures in its manifest. Identical compiles are cached.\n' +
    '\n' +
    'With --pipeline, the artifact also carries an inference pipeline (pipeline.json, and a labels file), signed with the ' +
    "model: the edge agent's /v2/models/NAME/predict and `kiln agent infer --input photo.jpg` run it around the model. " +
    'It is checked against the model (input and output names, shapes, the image plan, labels against the classes) ' +
    'before the compile and again before the artifact is written. The format, every key optional:\n' +
    '{"preprocess": {"type": "image", "input": "input", "size": [224, 224],\n' +
    '"resize": "cover", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},\n' +
    ' "postprocess": [{"op": "softmax"}, {"op": "topk", "k": 5}],\n' +
    ' "output": "logits", "labelsFile": "labels.txt"}\n' +
    'preprocess also takes scale, layout (NCHW, NHWC), channels (rgb, bgr, gray); resize is fill, cover or contain. ' +
    'postprocess steps: softmax, argmax, topk {k}, threshold {min}. preprocess.input and output default to the ' +
    'model\'s first; "labels": [...] lists labels inline; labelsFile (one label per line) is relative to the ' +
    'pipeline file, and --labels FILE gives or replaces it.',
  positionals: [{ name: 'model', description: 'an .onnx file, or zoo:NAME for a zoo model' }],
  options: {
    target: { type: 'string', short: 't', valueName: 'NAME|FILE|all', required: true, description: 'target profile: a built-in name, a JSON file, or all' },
    output: { type: 'string', short: 'o', valueName: 'DIR', description: 'artifact folder (default out/<model>-<target>)' },
    quantize: { type: 'string', choices: ['auto', 'int8', 'int8-dynamic', 'fp16', 'none'], description: "quantization (default: the target's choice, auto)" },
    calibration: {
      type: 'string',
      valueName: 'PATH',
      description: 'calibration data: a folder of images or .npy files, subfolders per input, or a .json file',
    },
    'calibration-method': {
      type: 'string',
      choices: ['minmax', 'percentile', 'entropy'],
      description: "how activation ranges are chosen (default: the target's)",
    },
    samples: { type: 'string', valueName: 'N', default: '64', description: 'most calibration samples to use' },
    shape: { type: 'string', multiple: true, valueName: 'NAME=DIMS', description: 'size for dynamic input dims, e.g. input=1x3x224x224' },
    mean: { type: 'string', valueName: 'R,G,B', description: 'image preprocessing: mean subtracted after scaling to 0..1' },
    std: { type: 'string', valueName: 'R,G,B', description: 'image preprocessing: std divided by' },
    layout: { type: 'string', choices: ['NCHW', 'NHWC'], description: 'image preprocessing: tensor layout' },
    'min-cosine': { type: 'string', valueName: 'X', description: "accuracy budget: lowest cosine per output (default: the target's, 0.98 on CPUs)" },
    'max-accuracy-drop': { type: 'string', valueName: 'POINTS', description: 'accuracy budget for classifiers: top-1 points that may flip (default 0.5)' },
    'include-op': { type: 'string', multiple: true, valueName: 'OP', description: 'quantize only these op types' },
    'exclude-op': { type: 'string', multiple: true, valueName: 'OP', description: 'keep these op types in float' },
    'include-node': { type: 'string', multiple: true, valueName: 'NODE', description: 'quantize only these nodes' },
    'exclude-node': { type: 'string', multiple: true, valueName: 'NODE', description: 'keep these nodes in float' },
    name: { type: 'string', valueName: 'NAME', description: 'model name in the manifest (default: the file name)' },
    'model-version': { type: 'string', valueName: 'V', description: 'model version in the manifest (default: source hash prefix)' },
    'sign-key': { type: 'string', valueName: 'PEM', description: "ed25519 private key (default: kiln's own, made on first use)" },
    pipeline: {
      type: 'string',
      valueName: 'FILE',
      description:
        'pipeline.json to put in the artifact: image preprocessing and postprocessing (softmax, topk, argmax, threshold) the agent runs around the model; format above',
    },
    labels: { type: 'string', valueName: 'FILE', description: "labels for the pipeline's output, one per line (instead of its labelsFile)" },
    'verify-on': {
      type: 'string',
      choices: ['target', 'host'],
      default: 'target',
      valueName: 'target|host',
      description:
        "target: the target's own runtime, under qemu emulation for arm64 on x86-64 when set up; host: this host's onnxruntime stands in (faster, the target's kernels do not run)",
    },
    'emulated-samples': { type: 'string', valueName: 'N', default: '16', description: 'most evaluation samples verified under emulation' },
    'no-cache': { type: 'boolean', description: 'compile again even if an identical compile is cached' },
  },
  examples: [
    { command: 'compile model.onnx --target x86_64', description: 'compile for x86-64 CPUs into out/model-x86_64/' },
    {
      command: 'compile model.onnx -t arm64 --calibration calib/ --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225',
      description: 'int8 for a Raspberry Pi with ImageNet-style calibration images',
    },
    { command: 'compile zoo:ppocr-det --target all --shape x=1x3x320x320', description: 'every target, one summary table' },
    { command: 'compile model.onnx -t arm64 --verify-on host', description: "arm64 artifact verified on this x86-64 host's kernels, not under qemu (faster)" },
    { command: 'compile bert.onnx -t x86_64 --quantize int8-dynamic', description: 'weights int8, activations quantized at run time' },
    {
      command: 'compile model.onnx --target x86_64 --pipeline pipeline.json --labels labels.txt',
      description: 'an image classifier whose artifact takes images and answers labelled top-k (format above)',
    },
  ],
  async run({ args, options, json, print, io, warn }) {
    const { resolve } = await import('node:path');
    const { compileModel } = await import('../../compiler/compile.js');
    const { loadAllTargets, loadTarget } = await import('../../targets/profiles.js');
    const { loadModel } = await import('../../onnx/model.js');
    const { inputSpecs, outputSpecs } = await import('../../compiler/io-spec.js');

    let modelPath: string;
    let zooName: string | undefined;
    if (args.model.startsWith(ZOO_PREFIX)) {
      const { resolveModel } = await import('../../zoo/index.js');
      zooName = args.model.slice(ZOO_PREFIX.length);
      modelPath = resolveModel(zooName).path;
    } else modelPath = resolve(io.cwd, args.model);

    const samples = Number(options.samples);
    if (!Number.isInteger(samples) || samples < 1) throw new KilnError('USAGE', `--samples ${options.samples}: expected a whole number ≥ 1`);
    const emulatedSamples = Number(options['emulated-samples']);
    if (!Number.isInteger(emulatedSamples) || emulatedSamples < 1)
      throw new KilnError('USAGE', `--emulated-samples ${options['emulated-samples']}: expected a whole number ≥ 1`);
    const num = (flag: string, v: string | undefined, lo: number, hi: number): number | undefined => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n) || n < lo || n > hi) throw new KilnError('USAGE', `--${flag} ${v}: expected a number from ${lo} to ${hi}`);
      return n;
    };
    const { parseShapeSpec, resolveInputShapes } = await import('../../onnx/input-shapes.js');
    const shapeSpecs = options.shape.map(parseShapeSpec);
    const source = loadModel(modelPath);
    const shapes = resolveInputShapes(source.graph!, shapeSpecs);
    const specs = inputSpecs(source);
    const pipeline = options.pipeline ? resolve(io.cwd, options.pipeline) : undefined;
    const labels = options.labels ? resolve(io.cwd, options.labels) : undefined;
    if (pipeline) {
      // Once, before calibration data is read and for every target: compileModel checks again.
      const { readPipelineSource, checkPipelineSource } = await import('../../compiler/pipeline.js');
      checkPipelineSource(readPipelineSource(pipeline, { labels }), { inputs: specs, outputs: outputSpecs(source) });
    } else if (labels) {
      throw new KilnError('BAD_PIPELINE', `--labels ${options.labels}: labels belong to a pipeline, and no --pipeline was given`, {
        hint: 'pass --pipeline pipeline.json with it (postprocess with topk or argmax)',
      });
    }

    let calibrationData: DataSource | undefined;
    let evaluationData: DataSource | undefined;
    if (options.calibration) {
      const { openCalibrationData } = await import('../../compiler/calibration-data.js');
      const cal = await openCalibrationData(resolve(io.cwd, options.calibration), specs, {
        shapes,
        preprocess: {
          ...(options.mean ? { mean: parseNumberList('mean', options.mean) } : {}),
          ...(options.std ? { std: parseNumberList('std', options.std) } : {}),
          ...(options.layout ? { layout: options.layout as 'NCHW' | 'NHWC' } : {}),
        },
        onWarning: warn,
      });
      calibrationData = {
        label: cal.origin,
        count: cal.count,
        stream: () => cal as unknown as AsyncIterable<Record<string, { type: string; dims: number[]; data: Float32Array }>>,
      };
    } else if (zooName) {
      calibrationData = await zooSource(zooName, Math.min(samples, 16));
      evaluationData = calibrationData;
    }

    const targets: TargetProfile[] =
      options.target === 'all'
        ? loadAllTargets()
        : [loadTarget(options.target.includes('/') || options.target.endsWith('.json') ? resolve(io.cwd, options.target) : options.target)];
    const progress = createProgress(io.stderr, { quiet: json });
    const results: { target: TargetProfile; result?: CompileResult; error?: string }[] = [];
    for (const target of targets) {
      const base: CompileOptions = {
        target,
        outDir: options.output ? resolve(io.cwd, targets.length > 1 ? `${options.output}/${target.name}` : options.output) : undefined,
        quantize: options.quantize as CompileOptions['quantize'],
        calibration: options['calibration-method'] as CompileOptions['calibration'],
        calibrationData,
        evaluationData,
        shapes,
        maxCalibrationSamples: samples,
        minCosine: num('min-cosine', options['min-cosine'], 0, 1),
        maxTop1Drop: options['max-accuracy-drop'] === undefined ? undefined : num('max-accuracy-drop', options['max-accuracy-drop'], 0, 100)! / 100,
        includeOps: options['include-op'].length ? options['include-op'] : undefined,
        excludeOps: options['exclude-op'],
        includeNodes: options['include-node'].length ? options['include-node'] : undefined,
        excludeNodes: options['exclude-node'],
        modelName: options.name ?? zooName,
        modelVersion: options['model-version'],
        signKey: options['sign-key'] ? resolve(io.cwd, options['sign-key']) : undefined,
        pipeline,
        labels,
        cache: !options['no-cache'],
        verifyOn: options['verify-on'] as CompileOptions['verifyOn'],
        maxEmulatedSamples: emulatedSamples,
        env: io.env,
        onEvent: (e) => {
          if (e.kind === 'step') progress.step(e.step, e.detail);
          else if (e.kind === 'progress') progress.update(e.step, e.done, e.total);
          else progress.warn(e.message);
        },
      };
      if (targets.length > 1) progress.step('target', target.name);
      try {
        results.push({ target, result: await compileModel(modelPath, base) });
      } catch (err) {
        // With --target all, one target failing does not stop the others.
        if (targets.length === 1 || !(err instanceof KilnError)) throw err;
        results.push({ target, error: err.message });
        progress.warn(`${target.name}: ${err.message}`);
      } finally {
        progress.done();
      }
    }

    if (json) {
      const out = results.map((r) => ({
        target: r.target.name,
        ...(r.result
          ? {
              state: r.result.state,
              dir: r.result.artifact.dir,
              archive: r.result.artifact.archive,
              withinBudget: r.result.withinBudget,
              manifest: r.result.manifest,
            }
          : { error: r.error }),
      }));
      print(JSON.stringify(targets.length === 1 ? out[0] : out, null, 2));
      return results.some((r) => r.error) ? 1 : 0;
    }
    const rows = results.map(({ target, result, error }) => {
      if (!result) return [target.name, 'failed', '', '', '', '', error ?? ''];
      const m = result.manifest;
      const worst = m.verification.outputs.reduce((a, o) => Math.min(a, o.cosine), 1);
      const top1 = m.verification.outputs.find((o) => o.top1Agreement !== undefined)?.top1Agreement;
      return [
        target.name,
        m.quantization.mode +
          (m.quantization.excludedNodes.length ? ` (${m.quantization.quantizedNodes} q / ${m.quantization.excludedNodes.length} float)` : ''),
        `${humanBytes(m.sizes.artifactBytes)} (${((100 * m.sizes.artifactBytes) / m.sizes.sourceBytes).toFixed(0)}%)`,
        worst.toFixed(4),
        top1 === undefined ? '-' : `${(100 * top1).toFixed(1)}%`,
        m.verification.passed ? 'yes' : 'NO',
        `${result.state === 'cached' ? 'cached → ' : ''}${result.artifact.dir}`,
      ];
    });
    print(table(rows, { header: ['target', 'quantization', 'size (of source)', 'cosine', 'top-1 agree', 'in budget', 'artifact'] }));
    const missed = results.filter((r) => r.result && !r.result.withinBudget);
    for (const r of missed)
      warn(`${r.target.name}: outside the accuracy budget; see ${r.result!.artifact.dir}/manifest.json (verification, quantization.excludedNodes)`);
    return results.some((r) => r.error) ? 1 : 0;
  },
});
