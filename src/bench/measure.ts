/**
 * Measuring one planned group of variants on its runtime: in this process (onnxruntime-node on CPU
 * or CUDA, onnxruntime-web), in headless Chromium, or in an emulated arm64 process. Each returns a
 * GroupResult with the variants' figures; the variants that fail are listed with their reasons.
 */
import { KilnError } from '../errors.js';
import type { BackendLoadOptions, NamedTensors } from '../runtime/backend.js';
import { benchBackend, runtimeVersions } from './backends.js';
import { runBrowserBench } from './browser.js';
import { runChild, type ChildLauncher } from './child.js';
import { findChromium } from './chromium.js';
import { compareOutputs, variantFigures, type RawVariant } from './compare.js';
import { DEFAULT_QEMU_CPU } from '../runtime/emulation.js';
import { runInterleaved } from './runner.js';
import type { BenchEvent, ColdStart, GroupResult, MemoryFigures, RuntimeKind, VariantResult, VariantSpec } from './types.js';

/** Most timed rounds under emulation, by default (an emulated run is 10–100× slower). */
export const DEFAULT_EMULATED_ITERATIONS = 5;

/** Variants to measure side by side on one runtime. */
export interface PlannedGroup {
  id: string;
  runtime: RuntimeKind;
  executionProviders: string[];
  /** How to start the emulated process (arm64). */
  launcher?: ChildLauncher;
  variants: VariantSpec[];
  /** Variants that could not be built (compile failed), reported as failed. */
  failed: { variant: VariantSpec; reason: string }[];
  notes: string[];
}

export interface MeasureOptions {
  threads?: number;
  /** 'process': cold start and memory in a fresh process per variant. */
  coldStart?: 'process' | 'shared';
  emulatedIterations?: number;
}

const threadLabel = (n: number | undefined): string => (n === undefined ? 'default threads' : `${n} thread${n === 1 ? '' : 's'}`);

export interface MeasureContext {
  batch: number;
  dims: Record<string, number[]>;
  feedsOf: (v: VariantSpec) => NamedTensors;
  iterations: number;
  warmup: number;
  options: MeasureOptions;
  env: Readonly<Record<string, string | undefined>>;
  emit: (e: BenchEvent) => void;
}

export async function measureGroup(g: PlannedGroup, ctx: MeasureContext): Promise<GroupResult> {
  const { batch, options, emit } = ctx;
  const failed: VariantResult[] = g.failed.map((f) => ({ state: 'failed', variant: f.variant, reason: f.reason }));
  const notes = [...g.notes];
  const progress = (done: number, total: number) => emit({ kind: 'progress', step: 'rounds', done, total });
  const versions = runtimeVersions();

  if (g.runtime === 'chromium') {
    const chromium = findChromium(ctx.env)!;
    const threads = options.threads ?? 1;
    const r = await runBrowserBench({
      chromiumPath: chromium,
      variants: g.variants.map((v) => ({ id: v.id, modelPath: v.modelPath })),
      feeds: ctx.feedsOf(g.variants[0]),
      threads,
      warmup: ctx.warmup,
      iterations: ctx.iterations,
      coldStart: options.coldStart !== 'shared',
      onProgress: progress,
    });
    const browserVersion = /HeadlessChrome\/([\d.]+)/.exec(r.userAgent)?.[1] ?? 'unknown';
    if (threads > 1 && !r.crossOriginIsolated) notes.push('the page was not cross-origin isolated: WASM ran on 1 thread');
    notes.push(
      `runtime import in the page: ${r.importMs.toFixed(1)} ms; cold start = a fresh browser context (empty cache) per variant: fetch + session + first run`,
    );
    const raw: RawVariant[] = [];
    for (const v of g.variants) {
      const m = r.models.find((x) => x.id === v.id);
      if (!m || m.error || !m.samplesMs?.length) {
        failed.push({ state: 'failed', variant: v, reason: m?.error ?? 'no result from the page' });
        continue;
      }
      const cold: ColdStart =
        m.cold && !m.cold.error
          ? { where: 'fresh page', importMs: m.cold.importMs, loadMs: m.cold.loadMs, firstRunMs: m.cold.firstRunMs, totalMs: m.cold.loadMs + m.cold.firstRunMs }
          : { where: 'shared', loadMs: m.loadMs ?? 0, firstRunMs: m.firstRunMs ?? 0, totalMs: (m.loadMs ?? 0) + (m.firstRunMs ?? 0) };
      if (m.cold?.error) notes.push(`${v.label}: cold start in a fresh page failed (${m.cold.error}); the shared page's figure is shown`);
      raw.push({
        variant: v,
        samplesMs: m.samplesMs,
        cold,
        memory: m.cold?.peakRssBytes ? { peakRssBytes: m.cold.peakRssBytes, modelRssBytes: 0 } : undefined,
        agreement: m.agreement,
      });
    }
    if (raw.some((x) => x.memory)) notes.push("peak RSS: the page's renderer process (VmHWM) in the fresh context");
    return {
      state: 'measured',
      id: g.id,
      runtime: g.runtime,
      label: `onnxruntime-web ${r.ortVersion} (wasm) in Chromium ${browserVersion}, ${threadLabel(r.threads)}`,
      emulated: false,
      batch,
      inputs: ctx.dims,
      variants: [...variantFigures(raw, batch), ...failed],
      notes,
    };
  }

  if (g.runtime === 'arm64-emulated') {
    const its = Math.min(ctx.iterations, options.emulatedIterations ?? DEFAULT_EMULATED_ITERATIONS);
    const threads = options.threads;
    const child = await runChild(
      {
        runtime: 'onnxruntime-node',
        threads,
        models: g.variants.map((v) => ({ id: v.id, path: v.modelPath })),
        warmup: Math.min(ctx.warmup, 1),
        iterations: its,
        keepOutputs: true,
      },
      ctx.feedsOf(g.variants[0]),
      g.launcher!,
    );
    notes.push(
      `EMULATED: onnxruntime-node ${child.runtimeVersion} linux/${child.arch} on Node ${child.node} under qemu-aarch64 (${g.launcher?.env?.QEMU_CPU ?? DEFAULT_QEMU_CPU}); timings are not ARM hardware timings; '/ x86' in the cosine column compares each file's emulated outputs with the same file run on this host's x86 CPU`,
    );
    notes.push(
      `${its} timed rounds (emulation is slow); cold start measured in the one emulated process; its peak RSS ${(child.peakRssBytes / 1e6).toFixed(0)} MB`,
    );
    // The same files on the host's own CPU: the arm64 outputs must match.
    const host = benchBackend('ort-node');
    const raw: RawVariant[] = [];
    const originalOut = child.models.find((m) => m.id === 'original')?.outputs;
    for (const v of g.variants) {
      const m = child.models.find((x) => x.id === v.id);
      if (!m || m.error || !m.samplesMs?.length) {
        failed.push({ state: 'failed', variant: v, reason: m?.error ?? 'no result from the emulated process' });
        continue;
      }
      let hostCheck;
      const handle = await host.load(v.modelPath, { threads });
      try {
        hostCheck = m.outputs ? compareOutputs(await handle.run(ctx.feedsOf(v)), m.outputs) : undefined;
      } finally {
        await handle.release();
      }
      raw.push({
        variant: v,
        samplesMs: m.samplesMs,
        cold: { where: 'shared', loadMs: m.loadMs ?? 0, firstRunMs: m.firstRunMs ?? 0, totalMs: (m.loadMs ?? 0) + (m.firstRunMs ?? 0) },
        agreement: v.role !== 'original' && originalOut && m.outputs ? compareOutputs(originalOut, m.outputs) : undefined,
        hostCheck,
      });
    }
    return {
      state: 'measured',
      id: g.id,
      runtime: g.runtime,
      label: `onnxruntime-node ${child.runtimeVersion} linux/arm64 under qemu (${g.launcher?.env?.QEMU_CPU ?? DEFAULT_QEMU_CPU}), ${threadLabel(threads)}`,
      emulated: true,
      batch,
      inputs: ctx.dims,
      variants: [...variantFigures(raw, batch), ...failed],
      notes,
    };
  }

  // In this process: onnxruntime-node (cpu / cuda) or onnxruntime-web.
  const backendName = g.runtime === 'ort-web' ? 'ort-web' : 'ort-node';
  const backend = benchBackend(backendName);
  const eps = g.executionProviders.filter((e) => e !== 'wasm');
  // Sessions side by side must not spin idle threads, or they steal the cores from each other.
  const loadOptions: BackendLoadOptions = {
    threads: options.threads ?? (backendName === 'ort-web' ? 1 : undefined),
    allowSpinning: false,
    ...(eps.length ? { executionProviders: eps } : {}),
  };
  const available = await backend.available(loadOptions);
  if (!available.ok) throw new KilnError('BACKEND_UNAVAILABLE', `${g.id}: not available on this host: ${available.reason}`);
  const outcomes = await runInterleaved(
    g.variants.map((v) => ({ id: v.id, model: v.modelPath, feeds: ctx.feedsOf(v) })),
    { backend, load: loadOptions, warmup: ctx.warmup, iterations: ctx.iterations, onProgress: progress },
  );
  const originalOutcome = outcomes.find((o) => o.id === 'original' && o.state === 'measured');
  const raw: RawVariant[] = [];
  for (const [i, o] of outcomes.entries()) {
    const v = g.variants[i];
    if (o.state === 'failed') {
      failed.push({ state: 'failed', variant: v, reason: o.reason });
      continue;
    }
    let cold: ColdStart = { where: 'shared', loadMs: o.loadMs, firstRunMs: o.firstRunMs, totalMs: o.loadMs + o.firstRunMs };
    let memory: MemoryFigures | undefined;
    if (options.coldStart !== 'shared') {
      emit({ kind: 'step', step: 'cold start', detail: `${v.label} in a fresh process` });
      try {
        const c = await runChild(
          {
            runtime: backendName === 'ort-web' ? 'onnxruntime-web' : 'onnxruntime-node',
            threads: loadOptions.threads,
            executionProviders: eps.length ? eps : undefined,
            models: [{ id: v.id, path: v.modelPath }],
          },
          ctx.feedsOf(v),
        );
        const m = c.models[0];
        if (m?.loadMs !== undefined && m.firstRunMs !== undefined) {
          cold = { where: 'fresh process', importMs: c.importMs, loadMs: m.loadMs, firstRunMs: m.firstRunMs, totalMs: m.loadMs + m.firstRunMs };
          memory = { peakRssBytes: c.peakRssBytes, modelRssBytes: Math.max(0, c.peakRssBytes - c.rssBeforeLoad) };
        } else if (m?.error) notes.push(`${v.label}: the fresh process could not load it (${m.error})`);
      } catch (err) {
        notes.push(`${v.label}: cold start in a fresh process failed (${(err as Error).message}); the in-process figure is shown`);
      }
    }
    raw.push({
      variant: v,
      samplesMs: o.samplesMs,
      cold,
      memory,
      agreement:
        originalOutcome && o !== originalOutcome && originalOutcome.state === 'measured' ? compareOutputs(originalOutcome.outputs, o.outputs) : undefined,
    });
  }
  if (options.coldStart !== 'shared')
    notes.push('cold start: a fresh process per variant, session creation + first run (runtime import shown apart); peak RSS: that process');
  const threads = loadOptions.threads;
  const label =
    backendName === 'ort-web'
      ? `onnxruntime-web ${versions['onnxruntime-web']} (wasm, in Node), ${threadLabel(threads)}`
      : `onnxruntime-node ${versions['onnxruntime-node']} (${g.executionProviders.join(', ')}), ${threadLabel(threads)}`;
  return {
    state: 'measured',
    id: g.id,
    runtime: g.runtime,
    label,
    emulated: false,
    batch,
    inputs: ctx.dims,
    variants: [...variantFigures(raw, batch), ...failed],
    notes,
  };
}
