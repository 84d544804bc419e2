import { readFileSync } from 'node:fs';

/** kiln's version, from package.json. */
export const KILN_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
