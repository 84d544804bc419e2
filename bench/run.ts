/**
 * `npm run bench`: the suites that back kiln's claims, written to bench/results/.
 *
 *   1. compiler effect per target (bench/compiler.ts): fp32 original vs compiled artifact
 *
 * Later suites (runtime comparison, agent overhead, rollout) are added here as they land.
 * Benchmarks report; tests check correctness. Run on a quiet machine: figures are ratios measured
 * side by side, which survive noise better than absolute times, but not a busy neighbour.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilerReport, runCompilerBench } from './compiler.js';

const RESULTS = 'bench/results';

async function main(): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  process.stderr.write('bench 1/1: compiler effect per target\n');
  const { rows, skipped } = await runCompilerBench();
  writeFileSync(join(RESULTS, 'compiler.json'), `${JSON.stringify({ date: new Date().toISOString(), rows, skipped }, null, 2)}\n`);
  const report = compilerReport(rows, skipped);
  writeFileSync(join(RESULTS, 'compiler.md'), report);
  process.stdout.write(report);
  process.stdout.write(`\nwritten: ${RESULTS}/compiler.md, ${RESULTS}/compiler.json\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
