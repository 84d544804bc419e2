import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkImports, importSpecifiers } from '../../scripts/check-imports.js';

/** A src/ tree in a temp folder: path → text. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kiln-imports-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('the import-direction check (scripts/check-imports.ts)', () => {
  it('passes on kiln’s own src/', () => {
    expect(checkImports(fileURLToPath(new URL('../../src/', import.meta.url)))).toEqual([]);
  });

  it('reads static, dynamic, type-only and re-export imports, and not the ones in comments', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c.js';",
      "const d = await import('./d.js');",
      "// import { e } from './e.js';",
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    expect(importSpecifiers(text)).toEqual(['./a.js', '../b.js', './c.js', './d.js']);
  });

  it('fails on an import up the layers, naming the file, both modules and the fix', () => {
    const root = tree({
      'errors.ts': 'export const x = 1;\n',
      'compiler/targets.ts': "import { x } from '../errors.js';\nexport const t = x;\n",
      'runtime/host.ts': "import type { t } from '../compiler/targets.js';\nexport const h = 1;\n",
    });
    const problems = checkImports(root, []);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ kind: 'direction', file: 'runtime/host.ts' });
    expect(problems[0].message).toContain('(runtime) imports src/compiler/targets.ts (compiler), a higher layer');
  });

  it('fails on an import between modules of one layer (cloud ↔ edge agent)', () => {
    const root = tree({
      'edge-agent/sync.ts': 'export const s = 1;\n',
      'cloud/gateway.ts': "export { s } from '../edge-agent/sync.js';\n",
    });
    const problems = checkImports(root, []);
    expect(problems.map((p) => p.kind)).toEqual(['direction']);
    expect(problems[0].message).toContain('a module beside it');
  });

  it('fails on a cycle, also inside one module, unless it is the allowed one', () => {
    const files = {
      'compiler/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'compiler/b.ts': "import { c } from './c.js';\nexport const b = c;\n",
      'compiler/c.ts': "export const c = 1;\nexport const later = () => import('./a.js');\n",
      'edge-agent/agent.ts': "import { jobs } from './jobs.js';\nexport const agent = jobs;\n",
      'edge-agent/jobs.ts': "import type { agent } from './agent.js';\nexport const jobs = 1;\n",
    };
    const problems = checkImports(tree(files), [['edge-agent/jobs.ts', 'edge-agent/agent.ts']]);
    expect(problems).toHaveLength(1);
    expect(problems[0].kind).toBe('cycle');
    expect(problems[0].message).toBe(
      'import cycle: src/compiler/a.ts ↔ src/compiler/b.ts ↔ src/compiler/c.ts: break it by moving what they share into a file both import',
    );
    expect(checkImports(tree(files), []).filter((p) => p.kind === 'cycle')).toHaveLength(2);
  });

  it('names a file that no layer claims and an import of a file that is not there', () => {
    const problems = checkImports(tree({ 'misc/x.ts': "import { y } from './y.js';\n" }), []);
    expect(problems.map((p) => p.kind)).toEqual(['unknown-module', 'unresolved']);
    expect(problems[0].message).toContain('add it to LAYERS');
  });
});
