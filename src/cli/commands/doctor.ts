/**
 * `kiln doctor`: this host (CPU, features, memory, GPU), which runtimes load here, and which target
 * profile fits it best, with what the others lack. `--json` prints `hostReport()` as is.
 */
import { defineCommand } from '../framework.js';
import { humanBytes, table } from '../../format.js';
import type { HostReport } from '../../runtime/host-report.js';

/** The text `kiln doctor` prints for a report. Pure. */
export function formatHostReport(report: HostReport): string {
  const { host } = report;
  const out: string[] = [];
  const cpu = host.cpu;
  const cores = [`${cpu.logicalCores} logical`, cpu.physicalCores !== undefined ? `${cpu.physicalCores} physical` : '', `${host.usableCores} usable by kiln`].filter(Boolean).join(', ');
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
    for (const p of r.providers) rows.push(['', '', `${p.name.padEnd(10)} ${p.ok ? 'ok' : p.reason ?? 'no'}`]);
  }
  out.push(table(rows, { indent: 2 }));

  out.push('', 'Targets (best fit first)');
  out.push(table(report.targets.map((t) => [t.fits ? '✓' : '✗', t.target, t.why]), { indent: 2 }));

  out.push('');
  if (report.recommended) {
    out.push(`Recommended target: ${report.recommended.target}`, `  ${report.recommended.reason}`);
  } else {
    out.push('Recommended target: none fits this host', '  write a profile for it (kiln targets show x86_64 for the format) or install what the runtimes above lack');
  }
  return out.join('\n');
}

export const doctor = defineCommand({
  name: 'doctor',
  summary: 'check this host: CPU, GPU, runtimes, and the target profile that fits it',
  description:
    'Reads /proc/cpuinfo, memory, nvidia-smi, asks each runtime backend (ort-node, ort-web, tfjs) and each of its providers whether it loads here, and ranks the target profiles: the recommended one is the most specific profile whose arch, CPU features, GPU and runtime this host has. Exits 1 when no ONNX runtime loads.',
  examples: [{ command: 'doctor' }, { command: 'doctor --json', description: 'the host report the edge agent sends to the cloud' }],
  async run({ json, print, printJson }) {
    const { hostReport } = await import('../../runtime/host-report.js');
    const report = await hostReport();
    if (json) printJson(report);
    else print(formatHostReport(report));
    return report.runtimes.some((r) => r.modelKind === 'onnx' && r.ok) ? 0 : 1;
  },
});
