/** Versions of kiln and of the runtimes it drives, read from package.json files (nothing native is loaded). */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const readVersion = (path: string | URL): string => (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;

/** An installed package's version, found from its entry point (some packages do not export package.json). */
export function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = dirname(require.resolve(name));
  } catch {
    return 'not installed';
  }
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name) return readVersion(manifest);
  }
  return 'unknown';
}

/** kiln's version, and those of the runtimes it drives (read from their package.json; nothing native is loaded). */
export function versions(): Record<string, string> {
  const out: Record<string, string> = { kiln: readVersion(new URL('../../package.json', import.meta.url)) };
  for (const pkg of ['onnxruntime-node', 'onnxruntime-web']) out[pkg] = packageVersion(pkg);
  out.node = process.versions.node;
  return out;
}
