/**
 * The agent's telemetry: Prometheus metrics, per-minute aggregates written to the outbox (what the
 * sync client publishes), and the install results the cloud is told about. Nothing here runs a model.
 */
import type { Logger } from '../logger.js';
import type { RuntimeChoice } from './runtime.js';
import { agentMetrics, type AgentMetrics } from './metrics.js';
import { MinuteAggregator, Outbox, OUTBOX_KINDS, type RequestSample } from './outbox.js';
import type { StateDb } from './store/state-db.js';
import type { ShadowComparison } from './variants.js';

/** An install's outcome as reported (metrics + the outbox's `install` rows). */
export interface InstallReport {
  source: string;
  model?: string;
  version?: string;
  result: string;
  error?: string;
  replaced?: string;
  /** How the installed version runs (a CPU fallback says so in `fallback`). */
  runtime?: RuntimeChoice;
}

export type RequestRecord = RequestSample & { status?: number; requestSeconds?: number };

/** How often closed minutes are written to the outbox. */
const FLUSH_EVERY_MS = 10_000;

export class Telemetry {
  readonly metrics: AgentMetrics = agentMetrics();
  readonly outbox: Outbox;
  private readonly aggregator: MinuteAggregator;
  private flushTimer?: NodeJS.Timeout;

  /** `outboxMaxRows`: most outbox rows kept (the oldest are dropped and counted). @default 10000 */
  constructor(
    db: StateDb,
    private readonly log: Logger,
    outboxMaxRows?: number,
  ) {
    this.outbox = new Outbox(db, { maxRows: outboxMaxRows, onDrop: (kind, n) => this.metrics.outboxDropped.inc({ kind }, n) });
    this.aggregator = new MinuteAggregator(this.outbox);
  }

  /** Count a request in the metrics and the per-minute aggregates. */
  recordRequest(model: string, version: string, sample: RequestRecord): void {
    const labels = { model, version };
    if (sample.ok) {
      this.metrics.invocations.inc(labels);
      this.metrics.modelLatency.observe(labels, sample.modelSeconds);
      this.metrics.overheadLatency.observe(labels, sample.overheadSeconds);
      if (sample.requestSeconds !== undefined) this.metrics.requestLatency.observe(labels, sample.requestSeconds);
    } else {
      this.metrics.errors.inc({ ...labels, status: String(sample.status ?? 500) });
    }
    if (version) this.aggregator.record(model, version, sample);
  }

  /** A shadow run that answered and was compared with the served answer. */
  recordShadow(model: string, version: string, shadow: string, c: ShadowComparison, shadowSeconds: number, servingSeconds: number): void {
    const labels = { model, version, shadow };
    this.metrics.shadowRuns.inc(labels);
    this.metrics.shadowRows.inc(labels, c.rows);
    this.metrics.shadowTop1Agree.inc(labels, c.top1Agree);
    this.metrics.shadowMaxAbsDiff.observe(labels, c.maxAbsDiff);
    this.metrics.shadowLatency.observe(labels, shadowSeconds);
    this.aggregator.recordShadow(model, version, shadow, { ...c, shadowSeconds, servingSeconds });
  }

  /** A shadow run that threw or answered none of the served outputs. */
  recordShadowFailure(model: string, version: string, shadow: string): void {
    this.metrics.shadowFailed.inc({ model, version, shadow });
    this.aggregator.recordShadowFailure(model, version, shadow);
  }

  /** An install's outcome, in the metrics and (for the cloud) the outbox. */
  reportInstall(r: InstallReport): void {
    this.metrics.installs.inc({ model: r.model ?? '', result: r.result });
    try {
      this.outbox.add(OUTBOX_KINDS.install, { ...r, at: new Date().toISOString() });
    } catch (err) {
      this.log.error('could not write the install result to the outbox', { error: (err as Error).message });
    }
  }

  /** Write closed minutes' aggregates to the outbox (all of them with `all`). */
  flush(all = false): void {
    try {
      this.aggregator.flush(all);
    } catch (err) {
      this.log.error('could not write metrics to the outbox', { error: (err as Error).message });
    }
  }

  /** Flush closed minutes every 10 s until `stop`. */
  start(): void {
    this.flushTimer ??= setInterval(() => this.flush(), FLUSH_EVERY_MS);
    this.flushTimer.unref();
  }

  /** Stop the periodic flush (`flush(true)` writes what is left). */
  stop(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
  }

  /** Refresh the gauges; returns the Prometheus text. */
  render(loadedBytes: number): string {
    this.metrics.loadedBytes.set({}, loadedBytes);
    this.metrics.outboxRows.reset();
    for (const kind of Object.values(OUTBOX_KINDS)) this.metrics.outboxRows.set({ kind }, this.outbox.count(kind));
    return this.metrics.registry.render();
  }
}
