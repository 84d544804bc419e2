// The bench's HTTP client in its own process (as a real client is): it sends the request it is
// given and returns the latencies. Driven over IPC by bench/agent.ts:
//   {url, bodyFile, headerLength, floorUrl, floorBodyFile} once, then {runs: N, target} → {ms: [...]}
// target 'agent' (default): the binary OIP request; each answer's JSON header is decoded and the
// output bytes copied out. target 'floor': the raw input bytes to the bare node:http server; the
// answer (raw output bytes) is joined into one buffer.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

let setup;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const floorAgent = new Agent({ keepAlive: true, maxSockets: 1 });
const once = () =>
  new Promise((resolve, reject) => {
    const t = performance.now();
    const req = request(
      setup.url,
      {
        method: 'POST',
        agent,
        headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': setup.headerLength, 'Content-Length': setup.body.length },
      },
      (res) => {
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
      },
    );
    req.on('error', reject);
    req.end(setup.body);
  });
const floorOnce = () =>
  new Promise((resolve, reject) => {
    const t = performance.now();
    const req = request(setup.floorUrl, { method: 'POST', agent: floorAgent, headers: { 'Content-Length': setup.floorBody.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (Buffer.concat(chunks).length === 0) return reject(new Error('empty output'));
        resolve(performance.now() - t);
      });
    });
    req.on('error', reject);
    req.end(setup.floorBody);
  });

process.on('message', async (msg) => {
  try {
    if (msg.url) {
      setup = {
        url: msg.url,
        headerLength: msg.headerLength,
        body: readFileSync(msg.bodyFile),
        floorUrl: msg.floorUrl,
        floorBody: msg.floorBodyFile ? readFileSync(msg.floorBodyFile) : undefined,
      };
      process.send({ ready: true });
    } else if (msg.runs) {
      const ms = [];
      for (let i = 0; i < msg.runs; i++) ms.push(await (msg.target === 'floor' ? floorOnce() : once()));
      process.send({ ms });
    } else if (msg.exit) {
      agent.destroy();
      floorAgent.destroy();
      process.exit(0);
    }
  } catch (err) {
    process.send({ error: String(err) });
  }
});
