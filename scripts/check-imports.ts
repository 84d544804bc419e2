/**
 * The import-direction check: every import in src/ points down the layers, and no module imports
 * itself back through others (no cycles). Run by .ci/run; `npx tsx scripts/check-imports.ts` prints
 * each problem with the file, the import and what to do, and exits 1 when there is one.
 *
 *   base (errors, defaults, logger, format, …) ← protocol ← targets ← onnx ← numerics ← zoo · importers
 *     ← runtime ← compiler · edge-agent · cloud ← bench ← cli ← index.ts
 *
 * A module may import its own files and any module in a lower layer; modules that share a layer
 * (compiler, edge-agent and cloud; zoo and importers) never import each other. Imports are read
 * with the TypeScript compiler's own pre-processor (static, dynamic and type-only imports, and
 * `export … from`), so a string that looks like an import inside a comment does not count.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The layers, lowest first. Each entry: module name → the paths (below src/) that belong to it. */
export const LAYERS: readonly (readonly { module: string; paths: readonly string[] }[])[] = Object.freeze([
  [
    {
      module: 'base',
      paths: [
        'errors.ts',
        'defaults.ts',
        'logger.ts',
        'format.ts',
        'suggest.ts',
        'version.ts',
        'yaml.ts',
        'durable-fs.ts',
        'sqlite.ts',
        'config-dir.ts',
        'optional-packages.ts',
      ],
    },
  ],
  [{ module: 'protocol', paths: ['protocol/'] }],
  [{ module: 'targets', paths: ['targets/'] }],
  [{ module: 'onnx', paths: ['onnx/'] }],
  [{ module: 'numerics', paths: ['numerics/'] }],
  [
    { module: 'zoo', paths: ['zoo/'] },
    { module: 'importers', paths: ['importers/'] },
  ],
  [{ module: 'runtime', paths: ['runtime/'] }],
  [
    { module: 'compiler', paths: ['compiler/'] },
    { module: 'edge-agent', paths: ['edge-agent/'] },
    { module: 'cloud', paths: ['cloud/'] },
  ],
  [{ module: 'bench', paths: ['bench/'] }],
  [{ module: 'cli', paths: ['cli/'] }],
  [{ module: 'index', paths: ['index.ts'] }],
]);

/**
 * Known cycles, allowed until they are removed. Each entry is the set of files (below src/) of one
 * cycle, sorted; a cycle with exactly these files passes, any other cycle fails.
 */
export const ALLOWED_CYCLES: readonly (readonly string[])[] = Object.freeze([]);

export interface ImportProblem {
  kind: 'direction' | 'cycle' | 'unknown-module' | 'unresolved';
  /** The importing file, relative to src/ (for a cycle: its first file). */
  file: string;
  message: string;
}

const SOURCE = /\.(ts|js|mjs)$/;

function listSources(dir: string, root: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) listSources(path, root, out);
    else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(relative(root, path).split(sep).join('/'));
  }
  return out;
}

/** The relative import specifiers of one file's text (static, dynamic, type-only, re-exports). */
export function importSpecifiers(text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => f.fileName).filter((name) => name.startsWith('./') || name.startsWith('../'));
}

/** The module a file below src/ belongs to, with its layer index; undefined when no layer claims it. */
export function moduleOf(file: string): { module: string; layer: number } | undefined {
  for (let layer = 0; layer < LAYERS.length; layer++) {
    for (const m of LAYERS[layer]) {
      if (m.paths.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p))) return { module: m.module, layer };
    }
  }
  return undefined;
}

/** Resolve `spec` imported by `from` (both relative to src/) to a file in `files`, as NodeNext would (.js → .ts). */
function resolveImport(from: string, spec: string, files: ReadonlySet<string>): string | undefined {
  const joined = join(dirname(from), spec).split(sep).join('/');
  const candidates = [joined, joined.replace(/\.js$/, '.ts'), joined.replace(/\.mjs$/, '.mts'), `${joined}.ts`, `${joined}/index.ts`];
  return candidates.find((c) => files.has(c));
}

/** Strongly connected components with more than one file (Tarjan), each sorted. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** Check every source file below `srcDir`. Returns the problems, none when the layout holds. */
export function checkImports(srcDir: string, allowedCycles: readonly (readonly string[])[] = ALLOWED_CYCLES): ImportProblem[] {
  const root = resolve(srcDir);
  const files = listSources(root, root).sort();
  const fileSet = new Set(files);
  const problems: ImportProblem[] = [];
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const from = moduleOf(file);
    if (!from) {
      problems.push({ kind: 'unknown-module', file, message: `src/${file} belongs to no layer: add it to LAYERS in scripts/check-imports.ts` });
    }
    const edges: string[] = [];
    for (const spec of importSpecifiers(readFileSync(join(root, file), 'utf8'))) {
      const target = resolveImport(file, spec, fileSet);
      if (!target) {
        // Relative paths out of src/ (the repository's targets/ folder, package.json) are data, not modules.
        if (!join(dirname(file), spec).startsWith('..')) {
          problems.push({ kind: 'unresolved', file, message: `src/${file} imports '${spec}', which is no file in src/` });
        }
        continue;
      }
      edges.push(target);
      const to = moduleOf(target);
      if (!from || !to || from.module === to.module) continue;
      if (to.layer > from.layer) {
        problems.push({
          kind: 'direction',
          file,
          message: `src/${file} (${from.module}) imports src/${target} (${to.module}), a higher layer: move what both need down into ${from.module} or a lower layer`,
        });
      } else if (to.layer === from.layer) {
        problems.push({
          kind: 'direction',
          file,
          message: `src/${file} (${from.module}) imports src/${target} (${to.module}), a module beside it: share through a lower layer (protocol for cloud ↔ agent)`,
        });
      }
    }
    graph.set(file, edges);
  }
  const allowed = new Set(allowedCycles.map((c) => [...c].sort().join(' ')));
  for (const cycle of cycles(graph)) {
    if (allowed.has(cycle.join(' '))) continue;
    problems.push({
      kind: 'cycle',
      file: cycle[0],
      message: `import cycle: ${cycle.map((f) => `src/${f}`).join(' ↔ ')}: break it by moving what they share into a file both import`,
    });
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const srcDir = process.argv[2] ?? fileURLToPath(new URL('../src/', import.meta.url));
  const problems = checkImports(srcDir);
  for (const p of problems) console.error(`${p.kind}: ${p.message}`);
  if (problems.length > 0) {
    console.error(`${problems.length} import problem${problems.length === 1 ? '' : 's'} (layers: see docs/architecture.md)`);
    process.exit(1);
  }
  console.log('imports: every import points down the layers, no cycles');
}
