// The in-browser half of `kiln bench --browser` (served by src/bench/server.ts). Plain browser
// JavaScript: loads onnxruntime-web's WASM build from /ort/, fetches the models and inputs, and
// either measures one variant's cold start (?mode=cold&variant=i, in a fresh browser context) or
// runs every variant interleaved (warm-up, then rounds rotating the order), then posts the figures
// to /result. Nothing here reaches beyond the page's own origin.
const params = new URLSearchParams(location.search);
const mode = params.get('mode') || 'interleaved';
const log = (text) => {
  document.getElementById('log').textContent += `\n${text}`;
};
const post = (path, body) => fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

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

/** Lowest cosine and largest abs difference over the outputs both have, as numbers. */
function agreement(a, b) {
  let cosine = 1;
  let maxAbs = 0;
  for (const name of Object.keys(a)) {
    const x = a[name]?.data;
    const y = b[name]?.data;
    if (!x || !y || x.length !== y.length || typeof x[0] === 'bigint') continue;
    let dot = 0,
      nx = 0,
      ny = 0;
    for (let i = 0; i < x.length; i++) {
      const u = Number(x[i]),
        v = Number(y[i]);
      dot += u * v;
      nx += u * u;
      ny += v * v;
      const d = Math.abs(u - v);
      if (d > maxAbs) maxAbs = d;
    }
    const c = nx === 0 && ny === 0 ? 1 : dot / (Math.sqrt(nx) * Math.sqrt(ny) || 1);
    if (c < cosine) cosine = c;
  }
  return { cosine, maxAbsError: maxAbs };
}

async function main() {
  const cfg = await (await fetch('/config.json')).json();
  const t0 = performance.now();
  const ort = await import(`/ort/${cfg.ortModule}`);
  const importMs = performance.now() - t0;
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = cfg.threads;
  ort.env.logLevel = 'error';

  const inputs = [];
  for (let i = 0; i < cfg.inputs.length; i++) {
    const spec = cfg.inputs[i];
    const bytes = await (await fetch(`/inputs/${i}`)).arrayBuffer();
    inputs.push({ ...spec, data: new ARRAYS[spec.type](bytes) });
  }
  const feeds = () => Object.fromEntries(inputs.map((i) => [i.name, new ort.Tensor(i.type, i.data, i.dims)]));
  const chosen = mode === 'cold' ? [Number(params.get('variant'))] : cfg.variants.map((_, i) => i);

  const models = [];
  const live = [];
  for (const index of chosen) {
    const v = cfg.variants[index];
    const entry = { id: v.id };
    models.push(entry);
    try {
      const f0 = performance.now();
      const bytes = new Uint8Array(await (await fetch(`/models/${index}`)).arrayBuffer());
      const a = performance.now();
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: cfg.optimization || 'all' });
      const b = performance.now();
      const out = await session.run(feeds());
      const c = performance.now();
      Object.assign(entry, { fetchMs: a - f0, loadMs: b - a, firstRunMs: c - b, samplesMs: [] });
      live.push({ session, entry, out });
      log(`${v.id}: loaded in ${(b - a).toFixed(1)} ms, first run ${(c - b).toFixed(1)} ms`);
    } catch (err) {
      entry.error = String((err && err.message) || err).split('\n')[0];
      log(`${v.id}: ${entry.error}`);
    }
  }
  if (mode !== 'cold') {
    const original = live.find((l) => l.entry.id === 'original');
    if (original) for (const l of live) if (l !== original) l.entry.agreement = agreement(original.out, l.out);
    const f = feeds();
    for (let w = 0; w < cfg.warmup; w++) for (const l of live) await l.session.run(f);
    const n = live.length;
    for (let round = 0; round < cfg.iterations; round++) {
      for (let j = 0; j < n; j++) {
        const l = live[(round + j) % n];
        const t = performance.now();
        await l.session.run(f);
        l.entry.samplesMs.push(performance.now() - t);
      }
      if (round % 5 === 4 || round === cfg.iterations - 1) post('/progress', { done: round + 1, total: cfg.iterations });
    }
  }
  for (const l of live) await l.session.release();
  await post('/result', {
    mode,
    importMs,
    crossOriginIsolated: self.crossOriginIsolated === true,
    threads: ort.env.wasm.numThreads,
    userAgent: navigator.userAgent,
    ortVersion: (ort.env.versions && ort.env.versions.web) || 'unknown',
    models,
  });
  log('done');
}

main().catch((err) => post('/result', { fatal: String((err && err.stack) || err) }));
