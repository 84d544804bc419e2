/**
 * `kiln targets list|show`: the hardware target profiles (targets/*.json).
 */
import { defineCommand } from '../framework.js';
import { table } from '../../format.js';

export const targetsList = defineCommand({
  name: 'targets list',
  summary: 'list the built-in hardware target profiles',
  description: 'Each target is a JSON profile in targets/. Write your own (copy one, change it) and pass its path to --target.',
  examples: [{ command: 'targets list' }, { command: 'targets list --json' }],
  async run({ json, print, printJson }) {
    const { loadAllTargets } = await import('../../targets/profiles.js');
    const targets = loadAllTargets();
    if (json) return printJson(targets);
    print(
      table(
        targets.map((t) => [t.name, t.arch, `${t.runtime.backend} (${t.runtime.executionProviders.join(', ')})`, t.numerics.fast.join(', '), t.description]),
        { header: ['target', 'arch', 'runtime', 'fast numerics', 'for'] },
      ),
    );
  },
});

export const targetsShow = defineCommand({
  name: 'targets show',
  summary: 'show one target profile and what kiln compiles for it',
  positionals: [{ name: 'target', description: 'a built-in name or a profile JSON file' }],
  examples: [{ command: 'targets show arm64' }, { command: 'targets show ./my-board.json --json', description: 'validate your own profile' }],
  async run({ args, json, print, printJson, io }) {
    const { resolve } = await import('node:path');
    const { loadTarget } = await import('../../targets/profiles.js');
    const t = loadTarget(args.target.includes('/') || args.target.endsWith('.json') ? resolve(io.cwd, args.target) : args.target);
    if (json) return printJson(t);
    const i8 = t.numerics.int8;
    print(`${t.name} — ${t.description}`);
    print(
      table(
        [
          ['arch', t.arch],
          ['cpu features', t.cpu.features.join(', ') || '(none required)'],
          ['examples', (t.cpu.examples ?? []).join('; ')],
          [
            'runtime',
            `${t.runtime.backend}, providers ${t.runtime.executionProviders.join(' → ')}, optimization '${t.runtime.optimizationLevel}', ${t.runtime.operators} operators`,
          ],
          ['threads', t.threads === 0 ? 'one per core' : String(t.threads)],
          ['memory budget', `${t.memoryBudgetMB} MB`],
          ['fast numerics', t.numerics.fast.join(', ')],
          [
            'int8',
            `${i8.activations} activations × ${i8.weights} weights${i8.reduceRange === 'auto' ? ', weights full range with VNNI, 7-bit without (decided on the compiling CPU)' : i8.reduceRange ? ', 7-bit weights (no VNNI)' : ''}${i8.perChannel ? ', per-channel' : ''}${i8.measurePerNode ? ', speed decided in the whole model' : ''}`,
          ],
          [
            'compile',
            `quantize ${t.compile.quantize}, ${t.compile.calibration} calibration, budget cosine ≥ ${t.compile.minCosine}, top-1 drop ≤ ${(100 * t.compile.maxTop1Drop).toFixed(1)} points`,
          ],
        ],
        { indent: 2 },
      ),
    );
  },
});
