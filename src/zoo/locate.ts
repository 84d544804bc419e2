/**
 * Finding an installed npm package's folder the way Node's module resolution does: the
 * node_modules folders from a directory up to the file system root, then Node's global folders.
 * Package `exports` maps are bypassed on purpose: model packages rarely export their assets.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export interface InstalledPackage {
  /** The package's folder. */
  dir: string;
  /** Its package.json "version" ('' when it has none). */
  version: string;
}

/** Node's lookup folders for `pkg` from `fromDir`, nearest first. */
export function packageSearchPaths(pkg: string, fromDir: string): string[] {
  const require = createRequire(join(fromDir, '__kiln_zoo__.js'));
  return require.resolve.paths(pkg) ?? [];
}

/** The nearest installed copy of `pkg` seen from `fromDir`, or undefined. */
export function findPackage(pkg: string, fromDir: string): InstalledPackage | undefined {
  for (const base of packageSearchPaths(pkg, fromDir)) {
    const dir = join(base, ...pkg.split('/'));
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    let version = '';
    try {
      const json = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown };
      if (typeof json.version === 'string') version = json.version;
    } catch {
      // A broken package.json still marks the package as present; the hash check decides.
    }
    return { dir, version };
  }
  return undefined;
}
