/**
 * Real signed artifacts for the agent's tests: small CNNs from the graph builder, compiled by
 * kiln's compiler with KILN_HOME (and so the signing key) in a temp dir.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCnn, type CnnOptions } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/model.js';
import { compileModel } from '../../src/compiler/compile.js';
import { mulberry32 } from '../../src/onnx/random.js';

export const tempDir = (prefix = 'kiln-agent-test-'): string => mkdtempSync(join(tmpdir(), prefix));

/** One KILN_HOME per test process: compileModel signs with the key in it, the agent trusts it. */
export const kilnHome = (() => {
  const dir = process.env.KILN_TEST_AGENT_HOME ?? tempDir('kiln-agent-home-');
  process.env.KILN_HOME = dir;
  return dir;
})();

export interface TestArtifact {
  dir: string;
  tgz: string;
  name: string;
  version: string;
}

/** Compile a CNN into a signed artifact named `name` version `version` (seed changes the weights). */
export async function makeArtifact(root: string, name: string, version: string, options: CnnOptions & { target?: string } = {}): Promise<TestArtifact> {
  const src = join(root, `${name}-${version}-src.onnx`);
  const inputShape = options.inputShape ?? [1, 3, 32, 32];
  saveModel(buildCnn({ ...options, inputShape }), src);
  const res = await compileModel(src, {
    target: options.target ?? 'x86_64',
    quantize: 'none',
    outDir: join(root, `${name}-${version}`),
    cacheDir: join(root, 'cache'),
    modelName: name,
    modelVersion: version,
    // A free batch dimension is verified at batch 2.
    ...(typeof inputShape[0] === 'string' ? { shapes: { input: [2, ...inputShape.slice(1)] as number[] } } : {}),
  });
  rmSync(src);
  return { dir: res.artifact.dir, tgz: res.artifact.archive, name, version };
}

export function randomInput(n: number, seed = 1): Float32Array {
  const rand = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1;
  return a;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json(): any;
}

/** One HTTP request on 127.0.0.1 (a real socket). */
export function http(
  url: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: Uint8Array | string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? (options.body !== undefined ? 'POST' : 'GET'), headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}
