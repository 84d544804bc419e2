/**
 * `kiln bench`: measure a model and its compiled variants side by side (src/bench), print the
 * table, write the reports.
 */
import { KilnError } from '../../errors.js';
import { defineCommand } from '../framework.js';
import { createProgress } from '../progress.js';

const wholeNumber = (flag: string, text: string | undefined, min: number): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new KilnError('USAGE', `--${flag} ${text}: expected a whole number ≥ ${min}`);
  return n;
};

const MODES = ['none', 'int8', 'int8-dynamic', 'fp16'] as const;
type Mode = (typeof MODES)[number];

function parseModes(text: string | undefined): Mode[] | undefined {
  if (text === undefined) return undefined;
  const modes = text
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  const bad = modes.filter((m) => !(MODES as readonly string[]).includes(m));
  if (bad.length || modes.length === 0) {
    throw new KilnError('USAGE', `--modes ${text}: ${bad.length ? `unknown mode${bad.length > 1 ? 's' : ''} ${bad.join(', ')}` : 'no mode given'}`, {
      hint: `use a comma-separated list of ${MODES.join(', ')}`,
    });
  }
  return modes as Mode[];
}

export const bench = defineCommand({
  name: 'bench',
  summary: 'measure a model and its compiled variants side by side: latency, throughput, cold start, memory, size',
  description:
    'Runs the original model and each compiled variant in the same process, interleaved round by round, and reports ' +
    'p50/p90/p99/mean latency, throughput, cold start (a fresh process per variant: load + first inference), peak RSS ' +
    'and size, with speed-up and size ratios against the original (absolute times on a shared machine are noisy; the ' +
    'ratios hold). Given a plain model and --target, it compiles the variants first (fp32-optimized, and int8 / fp16 where ' +
    'the target computes them fast; compiles are cached). WASM targets run on onnxruntime-web in Node, and with --browser ' +
    'also in headless Chromium; arm64 artifacts run under qemu emulation when scripts/setup-arm64-emulation.sh has been ' +
    'run (timings labelled emulated); CUDA where onnxruntime-node has its CUDA provider. Writes result.json, report.md, ' +
    'report.html (SVG charts) and PNG charts to <out>/<run>/, and appends to <out>/history.jsonl, printing the change ' +
    'since the previous run of the same model.',
  positionals: [{ name: 'model', description: 'an .onnx file, zoo:NAME, or an artifact folder made by kiln compile' }],
  options: {
    target: { type: 'string', short: 't', valueName: 'T[,T…]|all', description: 'compile for these targets and compare each variant with the original' },
    modes: {
      type: 'string',
      valueName: 'M[,M…]',
      description: 'variants per target: none (fp32-optimized), int8, int8-dynamic, fp16 (default: what each target runs fast)',
    },
    backend: { type: 'string', choices: ['ort-node', 'ort-web'], description: "run on this runtime instead of each target's own" },
    threads: { type: 'string', valueName: 'N', description: 'intra-op threads (default: onnxruntime-node one per core, WASM 1)' },
    batch: { type: 'string', valueName: 'B[,B…]', description: "batch sizes, each measured separately, e.g. 1,8 (default: 1 / the model's own)" },
    iterations: { type: 'string', short: 'n', valueName: 'N', default: '50', description: 'timed rounds (one run of every variant per round)' },
    warmup: { type: 'string', valueName: 'N', default: '5', description: 'untimed runs of each variant before timing' },
    shape: { type: 'string', multiple: true, valueName: 'NAME=DIMS', description: 'size for dynamic input dims, e.g. x=1x3x320x320' },
    browser: { type: 'boolean', description: 'also run onnxruntime-web (WASM) in headless Chromium' },
    original: { type: 'string', valueName: 'FILE', description: 'the source model of an artifact folder (zoo models are found by hash)' },
    out: { type: 'string', short: 'o', valueName: 'DIR', default: 'bench/results', description: 'where reports and history.jsonl go' },
    'cold-start': {
      type: 'string',
      choices: ['process', 'shared'],
      default: 'process',
      description: 'cold start in a fresh process per variant, or in the benchmark process (faster)',
    },
    'no-png': { type: 'boolean', description: 'skip the PNG renders of the charts' },
    'no-cache': { type: 'boolean', description: 'compile again even if an identical compile is cached' },
  },
  examples: [
    { command: 'bench zoo:ppocr-det --target x86_64 --shape x=1x3x320x320', description: 'original vs fp32-optimized vs int8 on this CPU' },
    { command: 'bench zoo:ppocr-det --target wasm --browser --shape x=1x3x320x320', description: 'WASM in Node and in headless Chromium' },
    {
      command: 'bench zoo:ppocr-det --target x86_64,wasm --modes none,int8,fp16 --shape x=1x3x320x320',
      description: 'original vs int8 vs fp16 on CPU and WASM, one table',
    },
    { command: 'bench model.onnx --target all --batch 1,8 --json', description: 'every target this host can run, two batch sizes, JSON out' },
    { command: 'bench out/model-arm64', description: 'an arm64 artifact under qemu emulation, against its original' },
  ],
  async run({ args, options, json, print, printJson, io, warn }) {
    const { resolve, join } = await import('node:path');
    const { existsSync, statSync } = await import('node:fs');
    const { runBench, writeBenchOutputs, renderTerminal } = await import('../../bench/index.js');
    const { parseShapeSpec, resolveInputShapes } = await import('../../onnx/input-shapes.js');
    const { loadModel } = await import('../../onnx/model.js');

    // Shapes are checked against the model's inputs (unnamed dims allowed for single-input models).
    let shapes: Record<string, number[]> = {};
    if (options.shape.length) {
      let modelFile: string;
      if (args.model.startsWith('zoo:')) modelFile = (await import('../../zoo/index.js')).resolveModel(args.model.slice(4)).path;
      else {
        const p = resolve(io.cwd, args.model);
        modelFile = existsSync(p) && statSync(p).isDirectory() ? join(p, 'model.onnx') : p;
      }
      shapes = resolveInputShapes(loadModel(modelFile).graph!, options.shape.map(parseShapeSpec));
    }
    const batches = options.batch?.split(',').map((b) => wholeNumber('batch', b.trim(), 1)!);
    const targets =
      options.target === undefined
        ? undefined
        : options.target === 'all'
          ? ('all' as const)
          : options.target
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean)
              .map((t) => (t.includes('/') || t.endsWith('.json') ? resolve(io.cwd, t) : t));

    const progress = createProgress(io.stderr, { quiet: json });
    const report = await runBench({
      subject: args.model,
      cwd: io.cwd,
      targets,
      backend: options.backend as 'ort-node' | 'ort-web' | undefined,
      threads: wholeNumber('threads', options.threads, 1),
      batches,
      iterations: wholeNumber('iterations', options.iterations, 1),
      warmup: wholeNumber('warmup', options.warmup, 0),
      shapes,
      browser: options.browser,
      original: options.original,
      coldStart: options['cold-start'] as 'process' | 'shared',
      artifactsDir: resolve(io.cwd, options.out, 'artifacts'),
      compileCache: !options['no-cache'],
      modes: parseModes(options.modes),
      env: io.env,
      onEvent: (e) => {
        if (e.kind === 'step') progress.step(e.step, e.detail);
        else if (e.kind === 'progress') progress.update(e.step, e.done, e.total);
        else progress.warn(e.message);
      },
    });
    progress.done();
    const written = await writeBenchOutputs(report, resolve(io.cwd, options.out), { png: !options['no-png'], env: io.env });
    const measured = report.groups.some((g) => g.state === 'measured' && g.variants.some((v) => v.state === 'measured'));
    if (json) {
      printJson({
        ...report,
        runId: written.runId,
        ...(written.delta ? { delta: written.delta } : {}),
        files: written.files,
        ...(written.pngNote ? { pngNote: written.pngNote } : {}),
      });
      return measured ? 0 : 1;
    }
    print(renderTerminal(report, written.delta));
    print('');
    print(`reports: ${written.files.html}`);
    print(`         ${written.files.markdown}`);
    print(`         ${written.files.json}`);
    if (written.files.pngs.length)
      print(
        `charts:  ${written.files.pngs.length} PNG in ${join(written.dir, 'charts')}${written.files.pagePng ? ` (whole page: ${written.files.pagePng})` : ''}`,
      );
    if (written.pngNote) warn(written.pngNote);
    if (written.files.history) print(`history: ${written.files.history}`);
    if (!measured) warn('nothing could be measured on this host (see the reasons above)');
    return measured ? 0 : 1;
  },
});
