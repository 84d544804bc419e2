/**
 * `npm run bench`: the suites that back kiln's claims, written to bench/results/.
 *
 *   1. compiler effect per target (bench/compiler.ts): fp32 original vs compiled artifact
 *   2. runtime comparison (bench/runtimes.ts): one network on onnxruntime-node, onnxruntime-web (Node
 *      and Chromium) and TensorFlow.js
 *   3. edge agent (bench/agent.ts, its own process): HTTP overhead vs raw session.run, dynamic
 *      batching at concurrency 16, cold start of `kiln agent start`
 *   4. sync (bench/sync.ts, its own process): desired state written → device serving the new
 *      version, and telemetry throughput per device (aedes; Mosquitto too when KILN_TEST_MQTT_URL is set)
 *   5. fleet rollouts (bench/rollout.ts, its own processes): N simulated devices (the real SyncClient
 *      over a stand-in agent) and the cloud apart; deploy → 100 % on the new version through a canary,
 *      alarm → every device back, cloud memory and MQTT messages (brokers as in 4)
 *
 * `kiln bench` measures one model in depth (HTML report, charts, history).
 * Later suites are added here as they land.
 * Benchmarks report; tests check correctness. Run on a quiet machine: figures are ratios measured
 * side by side, which survive noise better than absolute times, but not a busy neighbour.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilerReport, runCompilerBench } from './compiler.js';
import { runRuntimeBench, runtimeReport } from './runtimes.js';

const RESULTS = 'bench/results';

async function main(): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  process.stderr.write('bench 1/5: compiler effect per target\n');
  const { rows, skipped } = await runCompilerBench();
  writeFileSync(join(RESULTS, 'compiler.json'), `${JSON.stringify({ date: new Date().toISOString(), rows, skipped }, null, 2)}\n`);
  const report = compilerReport(rows, skipped);
  writeFileSync(join(RESULTS, 'compiler.md'), report);
  process.stdout.write(report);

  process.stderr.write('bench 2/5: one model on every runtime\n');
  const runtimes = await runRuntimeBench();
  writeFileSync(join(RESULTS, 'runtimes.json'), `${JSON.stringify({ date: new Date().toISOString(), ...runtimes }, null, 2)}\n`);
  const runtimesMd = runtimeReport(runtimes);
  writeFileSync(join(RESULTS, 'runtimes.md'), runtimesMd);
  process.stdout.write(`\n${runtimesMd}`);

  process.stderr.write('bench 3/5: edge agent\n');
  const agent = spawnSync(process.execPath, ['--import', 'tsx', 'bench/agent.ts'], { stdio: 'inherit' });
  if (agent.status !== 0) throw new Error(`bench/agent.ts exited with ${agent.status}`);

  process.stderr.write('bench 4/5: sync (agent ↔ cloud over MQTT)\n');
  const sync = spawnSync(process.execPath, ['--import', 'tsx', 'bench/sync.ts'], { stdio: 'inherit' });
  if (sync.status !== 0) throw new Error(`bench/sync.ts exited with ${sync.status}`);

  process.stderr.write('bench 5/5: fleet rollouts (simulated devices, stand-in agents)\n');
  const rollout = spawnSync(process.execPath, ['--import', 'tsx', 'bench/rollout.ts'], { stdio: 'inherit' });
  if (rollout.status !== 0) throw new Error(`bench/rollout.ts exited with ${rollout.status}`);
  process.stdout.write(`\nwritten: ${RESULTS}/{compiler,runtimes,agent,sync,rollout}.{md,json}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
