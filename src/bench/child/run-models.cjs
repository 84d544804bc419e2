/*
 * A child process of `kiln bench`: loads models in a fresh process and times them, then prints one
 * line `KILN_RESULT {json}`. Plain CommonJS on purpose: it also runs under qemu on Debian's arm64
 * Node 18, where tsx (esbuild is a native x86 binary there) and ESM's bare-name lookup through
 * NODE_PATH are not available. The job comes as a JSON file (argv[2]); see src/bench/child.ts for
 * its type. It is the one other place, beside src/runtime, that loads onnxruntime: a fresh process
 * is the point.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const started = performance.now();
const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

const ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
};

/** A job this process cannot run: reported to the parent as the run's fatal error (it raises a KilnError). */
class JobError extends Error {}

function readInput(input) {
  const Ctor = ARRAYS[input.type];
  if (!Ctor) throw new JobError(`input ${input.name}: unsupported type ${input.type}`);
  const buf = fs.readFileSync(input.file);
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new Ctor(copy.buffer, 0, copy.byteLength / Ctor.BYTES_PER_ELEMENT);
}

async function main() {
  const rssAtStart = process.memoryUsage().rss;
  const t0 = performance.now();
  const ort = require(job.runtime);
  if (job.runtime === 'onnxruntime-web') {
    ort.env.wasm.numThreads = job.threads || 1;
    ort.env.logLevel = 'error';
  }
  const importMs = performance.now() - t0;
  const version = (ort.env.versions && (ort.env.versions.node || ort.env.versions.web || ort.env.versions.common)) || 'unknown';
  const feedsData = job.inputs.map((i) => ({ ...i, data: readInput(i) }));
  const feeds = () => Object.fromEntries(feedsData.map((i) => [i.name, new ort.Tensor(i.type, i.data, i.dims)]));
  const options =
    job.runtime === 'onnxruntime-web'
      ? { executionProviders: ['wasm'], graphOptimizationLevel: job.optimization || 'all' }
      : {
          executionProviders: job.executionProviders || ['cpu'],
          graphOptimizationLevel: job.optimization || 'all',
          logSeverityLevel: 3,
          extra: { session: { intra_op: { allow_spinning: '0' } } },
          ...(job.threads ? { intraOpNumThreads: job.threads, interOpNumThreads: 1 } : {}),
        };
  const rssBeforeLoad = process.memoryUsage().rss;
  const models = [];
  const live = [];
  for (const m of job.models) {
    const entry = { id: m.id };
    models.push(entry);
    try {
      const a = performance.now();
      const session = await ort.InferenceSession.create(job.runtime === 'onnxruntime-web' ? new Uint8Array(fs.readFileSync(m.path)) : m.path, options);
      const b = performance.now();
      const out = await session.run(feeds());
      const c = performance.now();
      entry.loadMs = b - a;
      entry.firstRunMs = c - b;
      entry.samplesMs = [];
      if (job.outputsDir) {
        entry.outputs = Object.entries(out).map(([name, t], k) => {
          const file = path.join(job.outputsDir, `${models.length - 1}-${k}.bin`);
          fs.writeFileSync(file, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
          return { name, type: t.type, dims: Array.from(t.dims), file };
        });
      }
      live.push({ session, entry });
    } catch (err) {
      entry.error = String((err && err.message) || err).split('\n')[0];
    }
  }
  const f = feeds();
  for (let w = 0; w < (job.warmup || 0); w++) for (const l of live) await l.session.run(f);
  const n = live.length;
  for (let round = 0; round < (job.iterations || 0); round++) {
    for (let j = 0; j < n; j++) {
      const l = live[(round + j) % n];
      const t = performance.now();
      await l.session.run(f);
      l.entry.samplesMs.push(performance.now() - t);
    }
  }
  for (const l of live) await l.session.release();
  const result = {
    arch: process.arch,
    node: process.version,
    runtimeVersion: version,
    importMs,
    rssAtStart,
    rssBeforeLoad,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    totalMs: performance.now() - started,
    models,
  };
  process.stdout.write(`KILN_RESULT ${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stdout.write(`KILN_RESULT ${JSON.stringify({ fatal: String((err && err.message) || err) })}\n`);
    process.exit(1);
  },
);
