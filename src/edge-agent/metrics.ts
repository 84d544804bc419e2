/**
 * A small Prometheus metrics registry (counters, gauges, histograms with labels) and its text
 * exposition format 0.0.4. Pure: the HTTP layer serves `render()`.
 */

export type Labels = Readonly<Record<string, string>>;

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i])}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

const formatValue = (v: number): string => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));

abstract class Metric {
  protected readonly series = new Map<string, { values: string[] }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new RangeError(`metric name '${name}' is not a valid Prometheus name`);
  }

  protected key(labels: Labels): { key: string; values: string[] } {
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (v === undefined) throw new RangeError(`metric ${this.name}: label '${n}' is missing`);
      return v;
    });
    return { key: values.join('\u0000'), values };
  }

  abstract render(): string[];
}

export class Counter extends Metric {
  private readonly counts = new Map<string, { values: string[]; value: number }>();

  inc(labels: Labels = {}, by = 1): void {
    const { key, values } = this.key(labels);
    const s = this.counts.get(key);
    if (s) s.value += by;
    else this.counts.set(key, { values, value: by });
  }

  get(labels: Labels = {}): number {
    return this.counts.get(this.key(labels).key)?.value ?? 0;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} counter`];
    for (const s of this.counts.values()) out.push(`${this.name}${labelText(this.labelNames, s.values)} ${formatValue(s.value)}`);
    return out;
  }
}

export class Gauge extends Metric {
  private readonly gauges = new Map<string, { values: string[]; value: number }>();

  set(labels: Labels, value: number): void {
    const { key, values } = this.key(labels);
    this.gauges.set(key, { values, value });
  }

  /** Forget every series (before setting the current ones again). */
  reset(): void {
    this.gauges.clear();
  }

  get(labels: Labels = {}): number | undefined {
    return this.gauges.get(this.key(labels).key)?.value;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} gauge`];
    for (const s of this.gauges.values()) out.push(`${this.name}${labelText(this.labelNames, s.values)} ${formatValue(s.value)}`);
    return out;
  }
}

export class Histogram extends Metric {
  private readonly hist = new Map<string, { values: string[]; buckets: number[]; sum: number; count: number }>();

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1])) throw new RangeError(`histogram ${name}: buckets must increase`);
  }

  observe(labels: Labels, value: number): void {
    const { key, values } = this.key(labels);
    let s = this.hist.get(key);
    if (!s) {
      s = { values, buckets: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.hist.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.buckets[i]++;
    s.sum += value;
    s.count++;
  }

  count(labels: Labels = {}): number {
    return this.hist.get(this.key(labels).key)?.count ?? 0;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} histogram`];
    for (const s of this.hist.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText(this.labelNames, s.values, ['le', formatValue(b)])} ${s.buckets[i]}`));
      out.push(`${this.name}_bucket${labelText(this.labelNames, s.values, ['le', '+Inf'])} ${s.count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, s.values)} ${formatValue(s.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, s.values)} ${s.count}`);
    }
    return out;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  private add<M extends Metric>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new RangeError(`metric '${m.name}' is registered twice`);
    this.metrics.push(m);
    return m;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /** The Prometheus text exposition (Content-Type `text/plain; version=0.0.4`). */
  render(): string {
    return this.metrics.flatMap((m) => m.render()).join('\n') + '\n';
  }
}

/** Latency buckets in seconds: 0.1 ms … 10 s. */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);
export const BATCH_BUCKETS: readonly number[] = Object.freeze([1, 2, 4, 8, 16, 32, 64, 128]);

/** The agent's metrics, by name. */
export function agentMetrics() {
  const registry = new Registry();
  const mv = ['model', 'version'] as const;
  return {
    registry,
    invocations: registry.counter('kiln_agent_inference_requests_total', 'Inference requests answered successfully.', mv),
    errors: registry.counter('kiln_agent_inference_errors_total', 'Inference requests that failed, by HTTP status.', [...mv, 'status']),
    modelLatency: registry.histogram('kiln_agent_model_latency_seconds', 'Time spent in the model run (session.run).', mv, LATENCY_BUCKETS),
    overheadLatency: registry.histogram(
      'kiln_agent_overhead_latency_seconds',
      'Request time minus model time: parsing, checks, encoding, queueing.',
      mv,
      LATENCY_BUCKETS,
    ),
    requestLatency: registry.histogram(
      'kiln_agent_request_latency_seconds',
      'Whole inference request time, first byte in to last byte out.',
      mv,
      LATENCY_BUCKETS,
    ),
    batchSize: registry.histogram('kiln_agent_batch_size', 'Size of the leading (batch) dimension of each model run.', mv, BATCH_BUCKETS),
    installs: registry.counter('kiln_agent_installs_total', 'Artifact installs, by result (promoted, unchanged, refused, failed).', ['model', 'result']),
    swaps: registry.counter('kiln_agent_model_swaps_total', 'Times a model switched its serving version.', ['model']),
    loads: registry.counter('kiln_agent_model_loads_total', 'Model versions loaded into the runtime.', mv),
    unloads: registry.counter('kiln_agent_model_unloads_total', 'Model versions released, by reason (evicted, retired, closed).', [...mv, 'reason']),
    loadedBytes: registry.gauge('kiln_agent_loaded_model_bytes', 'Estimated bytes of the model versions loaded now.'),
    budgetBytes: registry.gauge('kiln_agent_memory_budget_bytes', 'Memory budget for loaded models.'),
    runtime: registry.gauge(
      'kiln_agent_model_runtime',
      "1 per loaded version: the runtime running it; fallback='cpu' when its target's runtime is missing and it runs on the CPU instead.",
      ['model', 'version', 'target', 'backend', 'provider', 'fallback'],
    ),
    shadowRuns: registry.counter('kiln_agent_shadow_runs_total', 'Requests copied to a shadow variant and compared, by serving and shadow version.', [
      ...mv,
      'shadow',
    ]),
    shadowRows: registry.counter('kiln_agent_shadow_rows_total', 'Output rows compared between serving and shadow variant.', [...mv, 'shadow']),
    shadowTop1Agree: registry.counter('kiln_agent_shadow_top1_agree_total', 'Compared output rows whose argmax agreed (top-1 agreement = this / rows).', [
      ...mv,
      'shadow',
    ]),
    shadowMaxAbsDiff: registry.histogram(
      'kiln_agent_shadow_max_abs_diff',
      'Largest absolute difference between serving and shadow outputs, per request.',
      [...mv, 'shadow'],
      [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10],
    ),
    shadowLatency: registry.histogram('kiln_agent_shadow_model_latency_seconds', 'Model time of the shadow variant.', [...mv, 'shadow'], LATENCY_BUCKETS),
    shadowFailed: registry.counter(
      'kiln_agent_shadow_failures_total',
      'Requests copied to a shadow variant whose run failed (load or model error, none of the served outputs), by serving and shadow version.',
      [...mv, 'shadow'],
    ),
    shadowSkipped: registry.counter(
      'kiln_agent_shadow_skipped_total',
      'Requests not copied to the shadow, by reason (busy: one already running; version-missing). Not failures.',
      ['model', 'reason'],
    ),
    outboxRows: registry.gauge('kiln_agent_outbox_rows', 'Rows waiting in the outbox, by kind.', ['kind']),
    outboxDropped: registry.counter('kiln_agent_outbox_dropped_total', 'Outbox rows dropped by the retention policy, by kind.', ['kind']),
  };
}

export type AgentMetrics = ReturnType<typeof agentMetrics>;
