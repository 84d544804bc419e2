/*
 * A long-lived model server in a child process (src/runtime/model-server.ts drives it): models are
 * loaded once, then samples stream in over stdin and outputs stream back over stdout. Plain CommonJS
 * on purpose: it runs under qemu on Debian's arm64 Node 18, where tsx (esbuild is an x86 binary
 * there) and ESM's bare-name lookup through NODE_PATH are not available.
 *
 * Frames, both ways: u32 LE header length, u32 LE payload length, the header (JSON), the payload.
 *   → {op:'load', id, options}            payload: the model bytes          ← {ok:true, inputs, outputs}
 *   → {op:'run', id, inputs:[{name,type,dims,byteLength}]}  payload: the tensors back to back
 *                                                             ← {ok:true, outputs:[…]} payload: the outputs
 *   → {op:'release', id}                                                    ← {ok:true}
 * First of all the server sends {ok:true, ready:true, arch, node, version}. A failed request answers
 * {ok:false, error}. stdin closing (the parent gone) ends the process.
 */
'use strict';

// stdout carries frames only: anything printed goes to stderr.
console.log = console.info = console.warn = console.error;

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

function send(header, payloads) {
  const json = Buffer.from(JSON.stringify(header));
  const length = (payloads || []).reduce((n, p) => n + p.byteLength, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32LE(json.byteLength, 0);
  head.writeUInt32LE(length, 4);
  process.stdout.write(Buffer.concat([head, json, ...(payloads || [])]));
}

let ort;
try {
  ort = require('onnxruntime-node');
} catch (err) {
  send({ ok: false, fatal: true, error: `cannot load onnxruntime-node: ${String((err && err.message) || err).split('\n')[0]}` });
  process.exitCode = 1;
  return;
}
const sessions = new Map();

/** A request this process cannot serve: answered like a failed run (the parent turns it into a KilnError). */
const refuse = (error) => [{ ok: false, error }];

async function handle(header, payload) {
  if (header.op === 'load') {
    const o = header.options || {};
    const session = await ort.InferenceSession.create(payload, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: o.optimization || 'all',
      logSeverityLevel: 3,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
      ...(o.threads ? { intraOpNumThreads: o.threads, interOpNumThreads: 1 } : {}),
    });
    sessions.set(header.id, session);
    return [{ ok: true, inputs: session.inputNames, outputs: session.outputNames }];
  }
  if (header.op === 'run') {
    const session = sessions.get(header.id);
    if (!session) return refuse(`no model ${header.id} loaded`);
    const feeds = {};
    let offset = 0;
    for (const t of header.inputs) {
      const Ctor = ARRAYS[t.type];
      if (!Ctor) return refuse(`input ${t.name}: unsupported type ${t.type}`);
      // A copy: aligned, and owned by the tensor.
      const bytes = new Uint8Array(t.byteLength);
      bytes.set(payload.subarray(offset, offset + t.byteLength));
      offset += t.byteLength;
      feeds[t.name] = new ort.Tensor(t.type, new Ctor(bytes.buffer, 0, t.byteLength / Ctor.BYTES_PER_ELEMENT), t.dims);
    }
    const out = await session.run(feeds);
    const outputs = [];
    const payloads = [];
    for (const [name, tensor] of Object.entries(out)) {
      const d = tensor.data;
      if (!ArrayBuffer.isView(d)) return refuse(`output ${name}: type ${tensor.type} cannot be sent`);
      const bytes = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
      outputs.push({ name, type: tensor.type, dims: Array.from(tensor.dims), byteLength: bytes.byteLength });
      payloads.push(bytes);
    }
    return [{ ok: true, outputs }, payloads];
  }
  if (header.op === 'release') {
    const session = sessions.get(header.id);
    sessions.delete(header.id);
    if (session) await session.release();
    return [{ ok: true }];
  }
  return refuse(`unknown op ${header.op}`);
}

let buffered = Buffer.alloc(0);
let chain = Promise.resolve();
process.stdin.on('data', (chunk) => {
  buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
  for (;;) {
    if (buffered.length < 8) return;
    const headerLength = buffered.readUInt32LE(0);
    const payloadLength = buffered.readUInt32LE(4);
    if (buffered.length < 8 + headerLength + payloadLength) return;
    const header = JSON.parse(buffered.subarray(8, 8 + headerLength).toString('utf8'));
    const payload = buffered.subarray(8 + headerLength, 8 + headerLength + payloadLength);
    buffered = buffered.subarray(8 + headerLength + payloadLength);
    chain = chain.then(() =>
      handle(header, payload).then(
        ([reply, payloads]) => send(reply, payloads),
        (err) => send({ ok: false, error: String((err && err.message) || err).split('\n')[0] }),
      ),
    );
  }
});
process.stdin.on('end', () => process.exit(0));

send({
  ok: true,
  ready: true,
  arch: process.arch,
  node: process.version,
  version: (ort.env.versions && (ort.env.versions.node || ort.env.versions.common)) || 'unknown',
});
