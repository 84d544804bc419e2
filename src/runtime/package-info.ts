/**
 * Where an installed package lives and its version, found from its entry point without importing it
 * (some packages do not export their package.json). Used to describe backends without loading them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The package's root folder, or undefined when it is not installed. */
export function packageDir(name: string): string | undefined {
  let dir: string;
  try {
    dir = dirname(require.resolve(name));
  } catch {
    return undefined;
  }
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name) return dir;
      } catch {
        // a broken package.json on the way up: keep looking
      }
    }
  }
  return undefined;
}

/** The installed version of a package, or undefined when it is not installed. */
export function installedVersion(name: string): string | undefined {
  const dir = packageDir(name);
  if (!dir) return undefined;
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
}

/** The folder of onnxruntime-node's native binding for a platform/arch (the arm64 one is used under emulation). */
export function ortNodeBindingDir(arch: string = process.arch, platform: string = process.platform): string | undefined {
  const dir = packageDir('onnxruntime-node');
  return dir ? join(dir, 'bin', 'napi-v6', platform, arch) : undefined;
}
