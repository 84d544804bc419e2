/**
 * `hostReport()`: this host's facts, which runtimes load here (each backend and provider asked), and
 * which target profile fits best — the JSON `kiln doctor --json` prints and the edge agent reports to
 * the cloud. Plain data, no class instances, stable key order.
 */
import { readFileSync } from 'node:fs';
import { loadAllTargets, type TargetProfile } from '../targets/profiles.js';
import type { Availability, ModelKind } from './backend.js';
import { readHostFacts, rankTargets, recommendTarget, systemHostReader, type HostFacts, type HostReader, type TargetFit } from './host.js';
import { defaultBackendRegistry, optionsForTarget, type BackendRegistry } from './registry.js';

export interface ProviderStatus {
  name: string;
  ok: boolean;
  reason?: string;
}

export interface RuntimeStatus {
  backend: string;
  description: string;
  modelKind: ModelKind;
  priority: number;
  /** The backend with its default options. */
  ok: boolean;
  reason?: string;
  /** Each provider it knows, asked alone. */
  providers: ProviderStatus[];
}

export interface HostReport {
  /** Version of this report's shape. */
  schema: 'kiln.host-report/1';
  generatedAt: string;
  kiln: string;
  host: HostFacts;
  runtimes: RuntimeStatus[];
  /** Every target profile, best fit first. */
  targets: TargetFit[];
  /** The best fitting target, or null when none fits. */
  recommended: { target: string; reason: string } | null;
}

export interface HostReportOptions {
  /** @default the shared registry (ort-node, ort-web, tfjs) */
  registry?: BackendRegistry;
  /** @default the built-in profiles in targets/ */
  targets?: readonly TargetProfile[];
  /** @default the real machine */
  reader?: HostReader;
  /** @default () => new Date() */
  now?: () => Date;
}

const status = (a: Availability): { ok: boolean; reason?: string } => (a.ok ? { ok: true } : { ok: false, reason: a.reason });

/** Describe this host and what kiln can run on it. Loads each runtime once (ort-web's WASM is not initialized). */
export async function hostReport(options: HostReportOptions = {}): Promise<HostReport> {
  const registry = options.registry ?? defaultBackendRegistry();
  const targets = options.targets ?? loadAllTargets();
  const host = readHostFacts(options.reader ?? systemHostReader());

  const runtimes: RuntimeStatus[] = [];
  for (const entry of registry.list()) {
    const overall = await registry.check(entry.name);
    const providers: ProviderStatus[] = [];
    for (const provider of entry.backend.providers ?? []) {
      providers.push({ name: provider, ...status(await registry.check(entry.name, { executionProviders: [provider] })) });
    }
    runtimes.push({
      backend: entry.name,
      description: entry.backend.describe(),
      modelKind: entry.modelKind,
      priority: entry.priority,
      ...status(overall),
      providers,
    });
  }

  const targetRuntime = new Map<string, Availability>();
  for (const profile of targets) {
    if (!registry.has(profile.runtime.backend)) {
      targetRuntime.set(profile.name, { ok: false, reason: `backend '${profile.runtime.backend}' is not registered` });
      continue;
    }
    targetRuntime.set(profile.name, await registry.check(profile.runtime.backend, optionsForTarget(profile)));
  }
  const ranked = rankTargets(targets, { arch: host.arch, features: host.cpu.features, wasm: host.wasm, gpus: host.gpus }, (p) => targetRuntime.get(p.name));

  return {
    schema: 'kiln.host-report/1',
    generatedAt: (options.now ?? (() => new Date()))().toISOString(),
    kiln: (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version,
    host,
    runtimes,
    targets: ranked,
    recommended: recommendTarget(ranked) ?? null,
  };
}
