/**
 * `kiln doctor`: this host (CPU, features, memory, GPU), which runtimes load here, and which target
 * profile fits it best, with what the others lack. `--json` prints `hostReport()` as is.
 */
import { defineCommand } from '../framework.js';
import { humanBytes, table } from '../../format.js';
import type { HostReport } from '../../runtime/host-report.js';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KilnError } from '../../errors.js';
import { int8TuningMismatch } from '../../runtime/host.js';
import { MANIFEST_FILE } from '../../protocol/artifact.js';
import type { ArtifactManifest } from '../../protocol/manifest.js';

/** The int8 tuning an artifact's manifest records, and how this host differs from it. */
async function artifactTuning(
  dir: string,
  hostFeatures: readonly string[],
): Promise<{ tuning?: ArtifactManifest['quantization']['tuning']; mismatch?: string }> {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(file))
    throw new KilnError('FILE_NOT_FOUND', `${dir}: no ${MANIFEST_FILE} there`, {
      hint: 'pass an artifact folder, as kiln compile writes it (out/<model>-<target>)',
    });
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as ArtifactManifest;
  const tuning = manifest.quantization.tuning;
  return { tuning, mismatch: tuning ? int8TuningMismatch(tuning, hostFeatures) : undefined };
}

/** The text `kiln doctor` prints for a report. Pure. */
export function formatHostReport(report: HostReport): string {
  const { host } = report;
  const out: string[] = [];
  const cpu = host.cpu;
  const cores = [`${cpu.logicalCores} logical`, cpu.physicalCores !== undefined ? `${cpu.physicalCores} physical` : '', `${host.usableCores} usable by kiln`]
    .filter(Boolean)
    .join(', ');
  const gpus = host.gpus.length
    ? host.gpus.map((g) => `${g.index}: ${g.name}`).join('; ') + ` (from ${host.gpuSource}${host.nvidiaDriver ? `, driver ${host.nvidiaDriver}` : ''})`
    : 'none (no nvidia-smi, no /proc/driver/nvidia)';
  out.push('Host');
  out.push(
    table(
      [
        ['cpu', `${cpu.model}${cpu.vendor && !cpu.model.includes(cpu.vendor) ? ` (${cpu.vendor})` : ''}`],
        ['cores', cores],
        ['arch', `${host.arch} (node ${host.nodeArch}), ${host.os.platform} ${host.os.release}`],
        ['memory', `${humanBytes(host.memory.totalBytes)} total, ${humanBytes(host.memory.freeBytes)} free`],
        ['features', `${cpu.mlFeatures.join(' ') || '(none of interest)'}  (${cpu.features.length} in ${cpu.source})`],
        ['wasm', host.wasm.join(' ') || '(no SIMD)'],
        ['gpu', gpus],
        ['node', host.node],
      ],
      { indent: 2 },
    ),
  );

  out.push('', 'Runtimes');
  const rows: string[][] = [];
  for (const r of report.runtimes) {
    rows.push([r.backend, r.ok ? 'ok' : 'no', r.ok ? r.description : `${r.description}: ${r.reason ?? ''}`]);
    for (const p of r.providers) rows.push(['', '', `${p.name.padEnd(10)} ${p.ok ? 'ok' : (p.reason ?? 'no')}`]);
  }
  out.push(table(rows, { indent: 2 }));

  out.push('', 'Targets (best fit first)');
  out.push(
    table(
      report.targets.map((t) => [t.fits ? '✓' : '✗', t.target, t.why]),
      { indent: 2 },
    ),
  );

  out.push('');
  if (report.recommended) {
    out.push(`Recommended target: ${report.recommended.target}`, `  ${report.recommended.reason}`);
  } else {
    out.push(
      'Recommended target: none fits this host',
      '  write a profile for it (kiln targets show x86_64 for the format) or install what the runtimes above lack',
    );
  }
  return out.join('\n');
}

export const doctor = defineCommand({
  name: 'doctor',
  summary: 'check this host: CPU, GPU, runtimes, and the target profile that fits it',
  description:
    'Reads /proc/cpuinfo, memory, nvidia-smi, asks each runtime backend (ort-node, ort-web, tfjs) and each of its providers whether it loads here, and ranks the target profiles: the recommended one is the most specific profile whose arch, CPU features, GPU and runtime this host has. Exits 1 when no ONNX runtime loads.',
  positionals: [
    { name: 'artifact', description: 'an artifact folder: also say whether this host differs from the CPU its int8 was tuned for', optional: true },
  ],
  examples: [
    { command: 'doctor' },
    { command: 'doctor --json', description: 'the host report the edge agent sends to the cloud' },
    { command: 'doctor out/resnet18-x86_64', description: 'and whether this host is the kind of CPU the artifact was tuned on' },
  ],
  async run({ args, json, print, printJson, io }) {
    const { hostReport } = await import('../../runtime/host-report.js');
    const report = await hostReport();
    const artifact = args.artifact === undefined ? undefined : await artifactTuning(resolve(io.cwd, args.artifact), report.host.cpu.features);
    if (json) printJson(artifact ? { ...report, artifact } : report);
    else
      print(
        formatHostReport(report) +
          (artifact
            ? `\n\nArtifact ${args.artifact}\n  ${artifact.mismatch ?? (artifact.tuning ? `tuned on ${artifact.tuning.cpu} (${artifact.tuning.int8Kernel}): this host is the same kind` : 'not tuned to a CPU (no int8 tuning in its manifest)')}`
            : ''),
      );
    return report.runtimes.some((r) => r.modelKind === 'onnx' && r.ok) ? 0 : 1;
  },
});
