/**
 * Install size of kiln as a device gets it, and what each optional part adds
 * (`npx tsx bench/install.ts`), written to bench/results/install.{json,md}.
 *
 *   1. device install: `npm pack`, then in an empty folder
 *      `ONNXRUNTIME_NODE_INSTALL=skip npm install --omit=dev --omit=optional ./kiln-*.tgz`
 *      (the README's device command); node_modules measured on disk, its largest packages listed.
 *      Done-when: ≤ 400 MB.
 *   2. per optional part: the bytes its package and the dependencies only it brings (those not in
 *      the device install) take in this checkout's full install — what `npm install PART` adds.
 *
 * Options: --reuse DIR (measure an existing device install folder instead of installing again).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OPTIONAL_PACKAGES } from '../src/optional-packages.js';

const RESULTS = 'bench/results';
const argv = process.argv.slice(2);
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
const MB = 1e6;

/** Bytes under a path, not following links; `skipNested`: leave out its own node_modules (counted apart). */
function bytes(path: string, skipNested = false): number {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const name of readdirSync(path)) {
    if (skipNested && name === 'node_modules') continue;
    n += bytes(join(path, name));
  }
  return n;
}

function deviceInstall(): string {
  const reuse = argv.includes('--reuse') ? resolve(argv[argv.indexOf('--reuse') + 1]) : undefined;
  if (reuse) return reuse;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-device-'));
  const tgz = execFileSync('npm', ['pack', '--pack-destination', dir, '--silent'], { env, encoding: 'utf8' }).trim().split('\n').pop()!;
  const app = join(dir, 'app');
  mkdirSync(app);
  execFileSync('npm', ['init', '-y'], { cwd: app, env, stdio: 'ignore' });
  process.stderr.write(`install bench: npm install --omit=dev --omit=optional ${tgz} in ${app}\n`);
  execFileSync('npm', ['install', '--omit=dev', '--omit=optional', '--no-audit', '--no-fund', join(dir, tgz)], { cwd: app, env, stdio: 'inherit' });
  return app;
}

/** Top-level packages of a node_modules (scoped ones as @scope/name) with their sizes. */
function packages(nm: string): { name: string; bytes: number }[] {
  const out: { name: string; bytes: number }[] = [];
  for (const name of readdirSync(nm)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) for (const sub of readdirSync(join(nm, name))) out.push({ name: `${name}/${sub}`, bytes: bytes(join(nm, name, sub)) });
    else out.push({ name, bytes: bytes(join(nm, name)) });
  }
  return out.sort((a, b) => b.bytes - a.bytes);
}

/** What an optional part adds: its package and the packages under it that the device install lacks, in this checkout's node_modules. */
function partBytes(pkg: string, device: Set<string>): { bytes: number; packages: number } {
  const nodes = JSON.parse(
    execFileSync('npm', ['query', `:root > #${pkg}, :root > #${pkg} *`], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
  ) as { name: string; location: string }[];
  let n = 0;
  let count = 0;
  for (const node of new Map(nodes.map((x) => [x.location, x])).values()) {
    if (device.has(node.name) || !existsSync(node.location)) continue;
    n += bytes(node.location, true);
    count++;
  }
  return { bytes: n, packages: count };
}

function main(): void {
  mkdirSync(RESULTS, { recursive: true });
  const app = deviceInstall();
  const nm = join(app, 'node_modules');
  const total = bytes(nm);
  const top = packages(nm);
  const device = new Set(top.map((p) => p.name));
  const parts = Object.entries(OPTIONAL_PACKAGES).map(([pkg, adds]) => ({ package: pkg, adds, ...partBytes(pkg, device) }));
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    deviceInstallBytes: total,
    largest: top.slice(0, 8),
    optional: parts,
  };
  writeFileSync(join(RESULTS, 'install.json'), `${JSON.stringify(result, null, 2)}\n`);
  const f = (b: number) => `${(b / MB).toFixed(1)} MB`;
  const md = [
    '# Install size',
    '',
    `Device install (\`npm pack\`, then \`ONNXRUNTIME_NODE_INSTALL=skip npm install --omit=dev --omit=optional ./kiln-*.tgz\` in an empty folder), ${process.platform}/${process.arch}, Node ${process.version}:`,
    `**node_modules ${f(total)}** (done-when ≤ 400 MB). Largest packages: ${top
      .slice(0, 6)
      .map((p) => `${p.name} ${f(p.bytes)}`)
      .join(', ')}.`,
    '',
    'What each optional part adds (`npm install PART` in that folder; shared dependencies counted in each part):',
    '',
    '| package | adds | size | packages |',
    '|---|---|---:|---:|',
    ...parts.map((p) => `| ${p.package} | ${p.adds} | ${f(p.bytes)} | ${p.packages} |`),
    '',
  ].join('\n');
  writeFileSync(join(RESULTS, 'install.md'), md);
  process.stdout.write(md);
}

main();
