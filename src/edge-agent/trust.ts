/**
 * The public keys an agent accepts artifact signatures from: the configured ones, plus kiln's own
 * (what `kiln compile` signs with) when its config dir holds it — read, never generated.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnConfigDir } from '../config-dir.js';
import { loadSigningKey } from '../protocol/signing.js';

export function trustedKeys(options: { trustedKeys?: readonly string[]; trustKilnKey?: boolean; kilnHome?: string }): string[] {
  const keys = [...(options.trustedKeys ?? [])];
  if (options.trustKilnKey !== false) {
    const keysDir = join(options.kilnHome ?? kilnConfigDir(), 'keys');
    if (existsSync(join(keysDir, 'signing-key.pem'))) keys.push(loadSigningKey(join(keysDir, 'signing-key.pem')).publicKeyBase64);
    else if (existsSync(join(keysDir, 'signing-key.pub'))) keys.push(readFileSync(join(keysDir, 'signing-key.pub'), 'utf8').trim());
  }
  return keys;
}
