/**
 * Regenerate the generated fields of models/catalog.json: each model's sha256 and size, each labels
 * file's sha256 and size, and each npm source's version (set to the installed one). Run it after
 * bumping a zoo package (and pinning the new version in package.json), then review the diff.
 *
 *   npx tsx models/scripts/refresh-catalog.ts            rewrite the catalog
 *   npx tsx models/scripts/refresh-catalog.ts --check    exit 1 if anything would change
 *   ... [--catalog PATH] [--root DIR]                    another catalog / repository root
 *
 * It also loads every model in onnxruntime and reports where the catalog's inputs/outputs disagree
 * with the file (it never rewrites those: they are written by hand).
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCatalog } from '../../src/zoo/catalog.js';
import { sha256File } from '../../src/zoo/hash.js';
import { findPackage } from '../../src/zoo/locate.js';
import { compareSignature } from '../../src/zoo/signature.js';
import { DEFAULT_CATALOG_PATH, KILN_ROOT } from '../../src/zoo/zoo.js';
import { createOrtNodeSession } from '../../src/runtime/ort-node.js';
import { isKilnError } from '../../src/errors.js';

interface RawFile { path: string; sha256: string; size: number }
interface RawEntry {
  name: string;
  source: { kind: 'npm'; package: string; version: string; path: string } | { kind: 'file'; path: string };
  sha256: string;
  size: number;
  feed?: { labels?: { file?: RawFile } };
  [key: string]: unknown;
}

/** JSON with 2-space indentation, short arrays of numbers/strings kept on one line. */
export function formatCatalog(value: unknown): string {
  const out = (v: unknown, indent: string): string => {
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      const inline = `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
      if (v.every((x) => x === null || typeof x !== 'object') && inline.length + indent.length <= 100) return inline;
      const inner = indent + '  ';
      return `[\n${v.map((x) => inner + out(x, inner)).join(',\n')}\n${indent}]`;
    }
    if (v && typeof v === 'object') {
      const entries = Object.entries(v).filter(([, x]) => x !== undefined);
      if (entries.length === 0) return '{}';
      const inner = indent + '  ';
      return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${out(x, inner)}`).join(',\n')}\n${indent}}`;
    }
    return JSON.stringify(v);
  };
  return out(value, '') + '\n';
}

function parseArgs(argv: string[]): { check: boolean; catalogPath: string; root: string } {
  let check = false;
  let catalogPath = DEFAULT_CATALOG_PATH;
  let root = KILN_ROOT;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') check = true;
    else if (a === '--catalog') catalogPath = resolve(argv[++i] ?? '');
    else if (a === '--root') root = resolve(argv[++i] ?? '');
    else throw new Error(`unknown argument '${a}' (use --check, --catalog PATH, --root DIR)`);
  }
  return { check, catalogPath, root };
}

async function main(): Promise<number> {
  const { check, catalogPath, root } = parseArgs(process.argv.slice(2));
  const before = readFileSync(catalogPath, 'utf8');
  const json = JSON.parse(before) as { models: RawEntry[] };
  const problems: string[] = [];
  const changes: string[] = [];

  for (const entry of json.models) {
    let dir: string;
    if (entry.source.kind === 'npm') {
      const pkg = findPackage(entry.source.package, root);
      if (!pkg) {
        problems.push(`${entry.name}: npm package ${entry.source.package} is not installed (npm install --save-exact ${entry.source.package}@${entry.source.version})`);
        continue;
      }
      if (pkg.version && pkg.version !== entry.source.version) {
        changes.push(`${entry.name}: ${entry.source.package} version ${entry.source.version} → ${pkg.version}`);
        entry.source.version = pkg.version;
      }
      dir = pkg.dir;
    } else {
      dir = root;
    }
    /** Recompute `target`'s sha256 and size from the file at relPath; the file's path, or undefined when missing. */
    const refresh = (relPath: string, target: { sha256: string; size: number }, what: string): string | undefined => {
      const path = join(dir, ...relPath.split('/'));
      if (!existsSync(path)) {
        problems.push(`${entry.name}: ${what} ${relPath} not found in ${dir}`);
        return undefined;
      }
      const sha256 = sha256File(path);
      const size = statSync(path).size;
      if (sha256 !== target.sha256 || size !== target.size) {
        changes.push(`${entry.name}: ${what} ${relPath} sha256 ${target.sha256.slice(0, 12)}… → ${sha256.slice(0, 12)}…, size ${target.size} → ${size}`);
        target.sha256 = sha256;
        target.size = size;
      }
      return path;
    };
    const modelPath = refresh(entry.source.path, entry, 'model');
    const labelsFile = entry.feed?.labels?.file;
    if (labelsFile) refresh(labelsFile.path, labelsFile, 'labels file');

    if (modelPath) {
      try {
        const session = await createOrtNodeSession(modelPath, { optimization: 'disabled', source: entry.name });
        const meta = session as unknown as { inputMetadata?: unknown; outputMetadata?: unknown };
        const asInfo = (names: readonly string[], metadata: unknown) =>
          names.map((name, i) => {
            const m = Array.isArray(metadata) ? (metadata[i] as { type?: string; shape?: (number | string)[] } | undefined) : undefined;
            return { name, type: m?.type, shape: m?.shape };
          });
        const specs = entry as unknown as { inputs: Parameters<typeof compareSignature>[1]; outputs: Parameters<typeof compareSignature>[1] };
        for (const p of [
          ...compareSignature('input', specs.inputs ?? [], asInfo(session.inputNames, meta.inputMetadata)),
          ...compareSignature('output', specs.outputs ?? [], asInfo(session.outputNames, meta.outputMetadata)),
        ]) problems.push(`${entry.name}: ${p}`);
        await session.release();
      } catch (err) {
        problems.push(`${entry.name}: ${isKilnError(err) ? err.message : String(err)}`);
      }
    }
  }

  // The result must still be a valid catalog.
  try {
    parseCatalog(json, catalogPath);
  } catch (err) {
    problems.push(isKilnError(err) ? err.message : String(err));
  }

  const after = formatCatalog(json);
  for (const c of changes) console.log(`changed: ${c}`);
  for (const p of problems) console.error(`problem: ${p}`);
  if (check) {
    if (after !== before) {
      console.error(`${catalogPath} is out of date${changes.length ? '' : ' (formatting only)'}: run npx tsx models/scripts/refresh-catalog.ts`);
      return 1;
    }
    console.log(`${catalogPath}: up to date (${json.models.length} models)`);
    return problems.length ? 1 : 0;
  }
  if (after !== before) writeFileSync(catalogPath, after);
  console.log(`${catalogPath}: ${json.models.length} models, ${changes.length} change${changes.length === 1 ? '' : 's'}${after !== before ? ', written' : ''}`);
  return problems.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  },
);
