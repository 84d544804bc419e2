/**
 * `kiln verify-artifact`: check an artifact's signature, manifest and file hashes.
 */
import { KilnError } from '../../errors.js';
import { defineCommand } from '../framework.js';
import { humanBytes, table } from '../../format.js';

export const verifyArtifact = defineCommand({
  name: 'verify-artifact',
  summary: "check an artifact's signature, manifest and file hashes",
  description:
    'Reads an artifact folder or its .tgz without trusting it: the manifest must match its schema, signature.json ' +
    'must be a valid ed25519 signature over manifest.json, and every file must match its sha256. With --trust, the ' +
    'signer must be one of the given public keys (base64, as in signing-key.pub). Exit 0 when all holds, 2 otherwise.',
  positionals: [{ name: 'artifact', description: 'artifact folder or .tgz' }],
  options: {
    trust: { type: 'string', multiple: true, valueName: 'KEY|FILE', description: 'trusted public key (base64) or a file holding one; repeatable' },
  },
  examples: [{ command: 'verify-artifact out/mnist-x86_64' }, { command: 'verify-artifact out/mnist-x86_64.tgz --trust ~/.config/kiln/keys/signing-key.pub' }],
  async run({ args, options, json, print, printJson, io }) {
    const { existsSync, readFileSync } = await import('node:fs');
    const { resolve } = await import('node:path');
    const { checkArtifact } = await import('../../protocol/artifact.js');
    const trusted = options.trust.map((k) => {
      const path = resolve(io.cwd, k);
      return existsSync(path) ? readFileSync(path, 'utf8').trim() : k;
    });
    const path = resolve(io.cwd, args.artifact);
    const res = checkArtifact(path, trusted.length ? trusted : undefined);
    if (json) {
      printJson({ ok: res.ok, signer: res.signer, problems: res.problems, manifest: res.manifest });
    } else if (res.manifest) {
      const m = res.manifest;
      print(
        table(
          [
            ['artifact', path],
            ['model', `${m.model.name} ${m.model.version}`],
            ['target', m.target.name],
            ['quantization', m.quantization.mode],
            ['size', `${humanBytes(m.sizes.artifactBytes)} (source ${humanBytes(m.sizes.sourceBytes)})`],
            ['verified on', m.verification.runtime ?? `nothing (${m.verification.skippedReason ?? 'no runtime'})`],
            ...(m.verification.note ? [['verification note', m.verification.note]] : []),
            ['signed by', res.signer ? `key ${res.signer}${trusted.length ? ' (trusted)' : ' (not checked against trusted keys)'}` : '-'],
          ],
          {},
        ),
      );
    }
    if (!res.ok) {
      throw new KilnError(
        'BAD_ARTIFACT',
        `${args.artifact}: ${res.problems.length} problem${res.problems.length > 1 ? 's' : ''}:\n  • ${res.problems.join('\n  • ')}`,
        {
          hint: 'do not deploy it; compile again or fetch the artifact again',
        },
      );
    }
    if (!json) print('ok: signature, manifest and file hashes check out');
  },
});
