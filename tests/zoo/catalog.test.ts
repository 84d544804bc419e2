/** The shipped catalog: valid, every entry resolves with a matching hash; bad catalogs are rejected with every problem listed. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../../src/errors.js';
import {
  createZoo,
  DEFAULT_CATALOG_PATH,
  getEntry,
  listModels,
  loadCatalog,
  modelLabels,
  parseCatalog,
  resolveModel,
  sha256File,
} from '../../src/zoo/index.js';

const rawCatalog = (): { version: number; models: Record<string, unknown>[] } => JSON.parse(readFileSync(DEFAULT_CATALOG_PATH, 'utf8'));

function zooError(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('ZOO');
    expect((err as KilnError).exitCode).toBe(2);
    return err as KilnError;
  }
  throw new Error('expected a ZOO error, none was thrown');
}

describe('the shipped catalog', () => {
  it('lists the zoo models, each with a kebab-case unique name', () => {
    const names = listModels().map((m) => m.name);
    for (const expected of [
      'ppocr-det',
      'ppocr-rec',
      'ppocr-cls',
      'silero-vad',
      'silero-vad-v6',
      'silero-vad-legacy',
      'oww-hello-deepa',
      'oww-hello-deepa-old',
      'oww-namaste-deepa',
    ]) {
      expect(names).toContain(expected);
    }
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
  });

  it('filters by task', () => {
    const vads = listModels({ task: 'voice-activity-detection' }).map((m) => m.name);
    expect(vads.sort()).toEqual(['silero-vad', 'silero-vad-legacy', 'silero-vad-v6']);
  });

  it('is deeply frozen', () => {
    const entry = getEntry('ppocr-det');
    expect(Object.isFrozen(entry)).toBe(true);
    expect(Object.isFrozen(entry.inputs[0].shape)).toBe(true);
    expect(() => {
      (entry as { name: string }).name = 'x';
    }).toThrow(TypeError);
  });

  it('every entry resolves to an installed file whose sha256 and size match', () => {
    for (const entry of listModels()) {
      const resolved = resolveModel(entry.name);
      expect(resolved.entry).toBe(entry);
      expect(sha256File(resolved.path)).toBe(entry.sha256);
      expect(readFileSync(resolved.path).byteLength).toBe(entry.size);
      if (entry.source.kind === 'npm') {
        expect(resolved.package?.version).toBe(entry.source.version);
        expect(resolved.path.startsWith(resolved.package!.dir)).toBe(true);
      }
    }
  });

  it('every npm source is pinned to an exact version in package.json, as an optional dependency (a device install leaves the zoo out)', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { optionalDependencies: Record<string, string> };
    for (const entry of listModels()) {
      if (entry.source.kind !== 'npm') continue;
      expect(pkg.optionalDependencies[entry.source.package], `${entry.source.package} in package.json optionalDependencies`).toBe(entry.source.version);
    }
  });

  it('the recognizer vocabulary is blank + 6,623 keys + space = its 6,625 output classes', () => {
    const labels = modelLabels('ppocr-rec');
    expect(labels.length).toBe(6625);
    expect(labels[0]).toBe('<blank>');
    expect(labels[labels.length - 1]).toBe(' ');
    expect(labels.length).toBe(getEntry('ppocr-rec').outputs[0].shape[2]);
    expect(modelLabels('ppocr-cls')).toEqual(['0', '180']);
  });

  it('BAD CALL: labels of a model that has none', () => {
    expect(zooError(() => modelLabels('silero-vad')).message).toMatch(/silero-vad' has no labels/);
  });
});

describe('catalog validation', () => {
  it('accepts the shipped catalog as JSON and from its file', () => {
    expect(parseCatalog(rawCatalog()).models.length).toBe(listModels().length);
    expect(loadCatalog(DEFAULT_CATALOG_PATH).models.length).toBe(listModels().length);
  });

  it('BAD CALL: rejects unknown keys, bad values and duplicates, listing every problem in one error', () => {
    const cat = rawCatalog();
    const [det, rec, cls] = cat.models as Record<string, any>[];
    det.colour = 'blue'; // unknown key on an entry
    det.source.version = '^1.4.2'; // a range, not an exact version
    rec.sha256 = 'ABC'; // not a sha256
    rec.source.path = '../escape.onnx'; // leaves the package
    (cat.models[8] as Record<string, any>).name = 'oww-hello-deepa'; // duplicate of models[6]
    cls.inputs[0].shape = [1, 3, 'not a dim!', 192];
    cls.feed.mean = [0.5, 0.5]; // tuple of 3
    (cat.models[3] as Record<string, any>).feed.state[0].output = 'nope'; // not an output
    (cat as Record<string, unknown>).extra = true; // unknown top-level key
    const err = zooError(() => parseCatalog(cat, 'test-catalog.json'));
    const lines = err.message.split('\n').filter((l) => l.startsWith('  - '));
    expect(err.message).toMatch(/^test-catalog.json: the model catalog is invalid \(\d+ problems\)/);
    expect(err.message).toContain("models[ppocr-det]: unknown key 'colour'");
    expect(err.message).toContain('models[ppocr-det].source.version: must be an exact version');
    expect(err.message).toContain('models[ppocr-rec].sha256: must be 64 lower-case hex digits');
    expect(err.message).toMatch(/models\[ppocr-rec\]\.source\.path: must not contain '\.\.'/);
    expect(err.message).toContain("models[8].name: duplicate name 'oww-hello-deepa' (also models[6])");
    expect(err.message).toContain('models[ppocr-cls].inputs[0].shape[2]: a symbolic dimension is an identifier');
    expect(err.message).toMatch(/models\[ppocr-cls\]\.feed\.mean: .*3/);
    expect(err.message).toContain("models[silero-vad].feed.state[0].output: 'nope' is not an output of the model (outputs: output, stateN)");
    expect(err.message).toContain("(root): unknown key 'extra'");
    expect(lines.length).toBe(9); // one per mistake above
    expect(err.message).toContain('(9 problems)');
  });

  it('BAD CALL: a catalog file that is not JSON, or missing', () => {
    expect(zooError(() => loadCatalog('/nonexistent/catalog.json')).message).toMatch(/cannot be read/);
    expect(zooError(() => createZoo({ catalog: { version: 2, models: [] } })).message).toMatch(/version/);
  });
});
