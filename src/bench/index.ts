/**
 * `kiln bench` as a library: measure a model and its compiled variants side by side per runtime,
 * and write the reports. The public surface; everything else in src/bench is internal.
 *
 * ```ts
 * const report = await runBench({ subject: 'zoo:ppocr-det', targets: ['x86_64'], shapes: { x: [1, 3, 320, 320] } });
 * const written = await writeBenchOutputs(report, 'bench/results');
 * console.log(renderTerminal(report, written.delta));
 * ```
 */
export { runBench, DEFAULT_ITERATIONS, DEFAULT_EMULATED_ITERATIONS, type BenchOptions } from './bench.js';
export { writeBenchOutputs, DEFAULT_OUT_DIR, type WriteOptions, type WrittenBench } from './outputs.js';
export { runInterleaved, DEFAULT_WARMUP, type RunnerVariant, type InterleavedOptions, type InterleavedOutcome } from './runner.js';
export { runBrowserBench, type BrowserBenchOptions, type BrowserBenchResult } from './browser.js';
export { findArm64Emulation, DEFAULT_ARM64_SYSROOT, DEFAULT_QEMU_CPU, SETUP_SCRIPT, type Arm64Emulation } from '../runtime/emulation.js';
export { findChromium, CHROMIUM_MISSING, DEFAULT_CHROMIUM } from './chromium.js';
export { targetSupport, hostInfo, type TargetSupport } from './host.js';
export { concreteInputs, randomFeeds, type ConcreteInput } from './inputs.js';
export { percentile, summarize, pairedSpeedup, throughput, mean, stdev, type LatencySummary, type PairedRatio } from './stats.js';
export { appendHistory, readHistory, previousRun, historyDelta, historyEntry, HISTORY_FILE, type HistoryEntry } from './history.js';
export { renderTerminal } from './report/terminal.js';
export { renderMarkdown } from './report/markdown.js';
export { renderHtml } from './report/html.js';
export { reportCharts, latencyChart, speedupChart, sizeChart, type Chart } from './report/charts.js';
export type * from './types.js';
