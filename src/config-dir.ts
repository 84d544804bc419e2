/** kiln's config directory, where the default signing key and the compile cache live. */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** kiln's config directory: $KILN_HOME, else $XDG_CONFIG_HOME/kiln, else ~/.config/kiln. */
export function kilnConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KILN_HOME) return env.KILN_HOME;
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'kiln');
}
