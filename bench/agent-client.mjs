// The bench's HTTP client in its own process (as a real client is): it sends the binary OIP
// request it is given, decodes each answer's JSON header and returns the latencies. Driven over IPC
// by bench/agent.ts: {url, bodyFile, headerLength} once, then {runs: N} → {ms: [...]}.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

let setup;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const once = () =>
  new Promise((resolve, reject) => {
    const t = performance.now();
    const req = request(setup.url, { method: 'POST', agent, headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': setup.headerLength, 'Content-Length': setup.body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        const buf = Buffer.concat(chunks);
        const hl = Number(res.headers['inference-header-content-length']);
        const doc = JSON.parse(buf.subarray(0, hl).toString('utf8'));
        const size = doc.outputs[0].parameters.binary_data_size;
        const out = new Float32Array(buf.buffer.slice(buf.byteOffset + hl, buf.byteOffset + hl + size));
        if (out.length === 0) return reject(new Error('empty output'));
        resolve(performance.now() - t);
      });
    });
    req.on('error', reject);
    req.end(setup.body);
  });

process.on('message', async (msg) => {
  try {
    if (msg.url) {
      setup = { url: msg.url, headerLength: msg.headerLength, body: readFileSync(msg.bodyFile) };
      process.send({ ready: true });
    } else if (msg.runs) {
      const ms = [];
      for (let i = 0; i < msg.runs; i++) ms.push(await once());
      process.send({ ms });
    } else if (msg.exit) {
      agent.destroy();
      process.exit(0);
    }
  } catch (err) {
    process.send({ error: String(err) });
  }
});
