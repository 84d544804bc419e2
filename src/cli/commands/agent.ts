/**
 * `kiln agent start|infer|status`: the edge agent (src/edge-agent), loaded only when these run.
 */
import { defineCommand } from '../framework.js';
import { DEFAULTS } from '../../defaults.js';

/** `--model`, for the commands that run a model of a data dir without a server (agent infer, batch). */
const localModelArg = {
  type: 'string',
  required: true,
  valueName: 'NAME|ARTIFACT',
  description: 'model name in the data dir, or an artifact to install',
} as const;

/** Their other shared options (agent status takes the data dir and config too). */
const localOptions = {
  version: { type: 'string', valueName: 'V', description: 'a kept version instead of the current one' },
  'data-dir': { type: 'string', valueName: 'DIR', description: 'the agent data dir (default: ./.kiln-agent)' },
  trust: { type: 'string', multiple: true, valueName: 'KEY|FILE', description: 'trusted public key when installing an artifact' },
  config: { type: 'string', valueName: 'FILE', description: 'YAML config file' },
} as const;

const configOptions = {
  model: { type: 'string', multiple: true, valueName: 'ARTIFACT', description: 'artifact folder or .tgz to install and serve (under its manifest name)' },
  port: { type: 'string', valueName: 'PORT', description: `TCP port (0 picks a free one) (default: ${DEFAULTS.agentPort})` },
  host: { type: 'string', valueName: 'HOST', description: `address to bind; a non-loopback one needs --token (default: ${DEFAULTS.agentHost})` },
  'data-dir': { type: 'string', valueName: 'DIR', description: 'installed versions, state DB and outbox (default: ./.kiln-agent)' },
  token: { type: 'string', valueName: 'TOKEN', description: 'bearer token required on every request but health checks' },
  config: { type: 'string', valueName: 'FILE', description: 'YAML config file (flags > KILN_AGENT_* env > file > defaults)' },
  trust: { type: 'string', multiple: true, valueName: 'KEY|FILE', description: "trusted public key (base64) or a file holding one, besides kiln's own" },
  'keep-versions': { type: 'string', valueName: 'N', description: `previous good versions kept per model (default: ${DEFAULTS.keepVersions})` },
  'max-request-bytes': { type: 'string', valueName: 'SIZE', description: 'largest request body, e.g. 6MiB (default: 6MiB)' },
  'memory-budget': { type: 'string', valueName: 'SIZE', description: "loaded models' memory before LRU unloading (default: from the models' sizes)" },
  threads: {
    type: 'string',
    valueName: 'N',
    description: "onnxruntime intra-op threads per model; on a shared small box start with 1 (default: onnxruntime's choice, one per core)",
  },
  'inter-op-threads': {
    type: 'string',
    valueName: 'N',
    description: "onnxruntime inter-op threads per model (default: 1 with --threads, else onnxruntime's choice)",
  },
  'allow-cpu-fallback': {
    type: 'boolean',
    description:
      "serve an artifact whose target's runtime is missing here (gpu-cuda without CUDA) on the CPU, saying so in the log, metadata and telemetry (default: refuse it)",
  },
  'max-batch-size': {
    type: 'string',
    valueName: 'N',
    description: 'dynamic batching: most rows per model run, for models with a free batch dimension (default: 1, off)',
  },
  'max-queue-delay': { type: 'string', valueName: 'MS', description: 'dynamic batching: longest wait for a batch to fill (default: 2)' },
  'log-format': { type: 'string', choices: ['json', 'pretty'], description: 'log lines on stderr (default: json)' },
  cloud: { type: 'string', valueName: 'URL', description: "the cloud's MQTT broker (mqtt://host:port): telemetry and desired state (default: none, offline)" },
  'device-id': { type: 'string', valueName: 'ID', description: "this device's id, from kiln cloud devices add (with --cloud)" },
  'device-secret': { type: 'string', valueName: 'SECRET', description: "this device's secret (with --cloud; or KILN_AGENT_DEVICE_SECRET)" },
} as const;

async function configFrom(options: Record<string, unknown>, io: { cwd: string; env: Readonly<Record<string, string | undefined>> }) {
  const { resolveAgentConfig } = await import('../../edge-agent/config.js');
  const list = (v: unknown) => (Array.isArray(v) && v.length ? v : undefined);
  return resolveAgentConfig({
    cwd: io.cwd,
    env: io.env,
    configFile: options.config as string | undefined,
    flags: {
      models: list(options.model),
      port: options.port,
      host: options.host,
      dataDir: options['data-dir'],
      token: options.token,
      trustedKeys: list(options.trust),
      keepVersions: options['keep-versions'],
      maxRequestBytes: options['max-request-bytes'],
      memoryBudgetBytes: options['memory-budget'],
      threads: options.threads,
      interOpThreads: options['inter-op-threads'],
      allowCpuFallback: options['allow-cpu-fallback'] ? true : undefined,
      maxBatchSize: options['max-batch-size'],
      maxQueueDelayMs: options['max-queue-delay'],
      logFormat: options['log-format'],
      cloud: options.cloud,
      deviceId: options['device-id'],
      deviceSecret: options['device-secret'],
    },
  });
}

export const agentStart = defineCommand({
  name: 'agent start',
  summary: 'serve models over HTTP (Open Inference Protocol), offline-first',
  description:
    'Installs each --model artifact into the data dir (checking its sha256 and ed25519 signature), loads it, answers a warm-up ' +
    'inference, and serves it under its manifest name on the KServe v2 / Open Inference Protocol REST API: /v2/health/ready, ' +
    '/v2/models/NAME, /v2/models/NAME/infer (JSON or binary tensors); plus /v2/models/NAME/predict (an image through the ' +
    "artifact's declared pipeline), /v2/models/NAME/jobs (async jobs) and Prometheus /metrics. A model already installed keeps " +
    'serving when a new artifact for it is refused. Runs until SIGINT or SIGTERM. Logs are JSON lines on stderr.',
  options: configOptions,
  examples: [
    { command: 'agent start --model out/mobilenet-x86_64', description: 'serve one model on 127.0.0.1:8080' },
    { command: 'agent start --model a.tgz --model b.tgz --port 9000 --data-dir /var/lib/kiln-agent' },
    { command: 'agent start --config agent.yaml --host 0.0.0.0 --token "$TOKEN"', description: 'exposed on the network: a token is required' },
    {
      command: 'agent start --cloud mqtt://cloud.example:1883 --device-id dev-1 --device-secret "$SECRET"',
      description: 'sync with the cloud: telemetry out, desired models in',
    },
  ],
  async run({ options, io, json, print }) {
    const config = await configFrom(options, io);
    const { createLogger } = await import('../../logger.js');
    const { startAgent } = await import('../../edge-agent/run.js');
    const logger = createLogger((line) => io.stderr.write(line), { level: config.logLevel, pretty: config.logFormat === 'pretty' });
    const running = await startAgent(config, { logger, kilnHome: io.env.KILN_HOME });
    const { agent } = running;
    const models = agent.modelNames().map((m) => {
      const current = agent.versions(m)[0];
      const rt = current && agent.runtimeOf(current);
      return {
        name: m,
        version: current?.version,
        ...(rt ? { runtime: `${rt.backend} ${rt.provider}`, ...(rt.fallback ? { fallback: rt.fallback } : {}) } : {}),
      };
    });
    const threads = { threads: config.threads ?? null, interOpThreads: config.interOpThreads ?? null };
    const threadText = `${config.threads ?? 'default'} thread${config.threads === 1 ? '' : 's'}, inter-op ${config.interOpThreads ?? (config.threads ? 1 : 'default')}`;
    // processMs: since this process started (node, tsx, imports included), as a cold start is measured.
    if (json) print(JSON.stringify({ url: running.url, models, ...threads, readyMs: Math.round(running.readyMs), processMs: Math.round(performance.now()) }));
    else {
      const served = models
        .map((m) => `${m.name} (${m.version}${m.runtime ? ` on ${m.runtime}` : ''}${m.fallback ? `, ${m.fallback.split(' (')[0]}` : ''})`)
        .join(', ');
      print(`kiln agent: serving ${served} on ${running.url} — ${threadText} — ready in ${Math.round(running.readyMs)} ms`);
    }
    // The one long-running command: it waits for a signal to stop.
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await running.close();
  },
});

export const agentInfer = defineCommand({
  name: 'agent infer',
  summary: 'run one inference locally, without a server',
  description:
    'Runs a model of the data dir once and prints its outputs as an Open Inference Protocol response. --model is a model name ' +
    'installed in the data dir, or an artifact folder/.tgz (installed first). --input is an image (for models whose artifact ' +
    'declares image preprocessing in pipeline.json), a .npy array (single-input models) or JSON: an OIP request body ' +
    '{"inputs": [...]}, an object of input name → nested array, or a nested array. A declared postprocessing adds "predictions".',
  options: {
    model: localModelArg,
    input: { type: 'string', required: true, valueName: 'FILE', description: 'image, .json or .npy input' },
    ...localOptions,
  },
  examples: [
    { command: 'agent infer --model mobilenet --input cat.jpg', description: "an image, through the artifact's pipeline" },
    { command: 'agent infer --model mobilenet --input image.npy' },
    { command: 'agent infer --model out/mnist-x86_64 --input digit.json --data-dir /tmp/agent' },
  ],
  async run({ options, io, print }) {
    const { existsSync } = await import('node:fs');
    const { resolve } = await import('node:path');
    const config = await configFrom({ 'data-dir': options['data-dir'], trust: options.trust, config: options.config }, io);
    const { Agent } = await import('../../edge-agent/agent.js');
    const { readInput } = await import('../../edge-agent/inputs.js');
    const { postprocess } = await import('../../edge-agent/pipeline/post.js');
    const { encodeInferResponse } = await import('../../edge-agent/http/oip.js');
    const artifact = resolve(io.cwd, options.model);
    const isPath = existsSync(artifact);
    const agent = new Agent({
      dataDir: config.dataDir,
      trustedKeys: config.trustedKeys,
      trustKilnKey: config.trustKilnKey,
      kilnHome: io.env.KILN_HOME,
      preload: false,
      exclusive: isPath,
    });
    try {
      let name = options.model;
      if (isPath) name = (await agent.install(artifact)).model;
      await agent.start();
      const served = agent.lookup(name, options.version);
      const inputs = await readInput(resolve(io.cwd, options.input), served.signature, served.pipeline);
      const res = await agent.infer(name, inputs, options.version);
      const encoded = encodeInferResponse(
        name,
        res.version,
        undefined,
        served.signature.outputs.map((o) => ({ name: o.name, binary: false })),
        res.outputs,
      );
      const doc = JSON.parse(Buffer.from(encoded.chunks[0]).toString('utf8')) as Record<string, unknown>;
      // A declared postprocessing adds its predictions (top-k with labels, argmax, ...).
      if (served.pipeline?.postprocess.length) doc.predictions = postprocess(served.pipeline, res.outputs[served.pipeline.output]);
      print(JSON.stringify(doc, null, 2));
    } finally {
      await agent.close();
    }
  },
});

export const agentStatus = defineCommand({
  name: 'agent status',
  summary: 'show the agent data dir: models, versions, failed installs, outbox',
  description: 'Reads the data dir (a running agent may be using it): each model with its current and kept versions, recent failed installs, and the outbox.',
  options: { 'data-dir': localOptions['data-dir'], config: localOptions.config },
  examples: [{ command: 'agent status' }, { command: 'agent status --data-dir /var/lib/kiln-agent --json' }],
  async run({ options, io, json, print, printJson }) {
    const { agentStatus: status } = await import('../../edge-agent/status.js');
    const config = await configFrom({ 'data-dir': options['data-dir'], config: options.config }, io);
    const s = status(config.dataDir);
    if (json) return printJson(s);
    const { table } = await import('../../format.js');
    print(`data dir ${s.dataDir} — ${s.running ? `agent running (pid ${s.pid})` : 'no agent running'}`);
    if (!s.models.length) print('no models installed');
    else
      print(
        table(
          s.models.map((m) => [m.name, m.current, m.kept.join(', ') || '-', m.since]),
          { header: ['model', 'current', 'kept', 'since'] },
        ),
      );
    if (s.failed.length) {
      print('\nrecent failed installs');
      print(
        table(
          s.failed.map((f) => [f.model, f.version, f.at, f.reason]),
          { header: ['model', 'version', 'at', 'reason'] },
        ),
      );
    }
    print(
      `\njobs: ${Object.entries(s.jobs)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
    print(
      `outbox: ${
        Object.entries(s.outbox.rows)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ') || 'empty'
      }${
        Object.keys(s.outbox.dropped).length
          ? `; dropped ${Object.entries(s.outbox.dropped)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ')}`
          : ''
      }`,
    );
  },
});

export const batch = defineCommand({
  name: 'batch',
  summary: 'score a whole folder with a model, resumably',
  description:
    "Runs every input file of a folder (recursively: .json, .npy, or images through the artifact's declared preprocessing) " +
    'through a model and appends one JSON line per file to the results file. The results file is its own bookmark: ' +
    'a rerun scores only files that are new or changed (by size and modification time), so an interrupted batch simply resumes. ' +
    '--model is a model name in the agent data dir, or an artifact folder/.tgz (installed first).',
  options: {
    model: localModelArg,
    input: { type: 'string', required: true, valueName: 'DIR', description: 'folder of input files' },
    output: { type: 'string', required: true, valueName: 'FILE', description: 'results, JSON lines (appended; also the bookmark)' },
    ...localOptions,
  },
  examples: [
    { command: 'batch --model mobilenet --input photos/ --output results.jsonl' },
    {
      command: 'batch --model out/mnist-x86_64 --input digits/ --output digits.jsonl --json',
      description: 'install the artifact, then score; summary as JSON',
    },
  ],
  async run({ options, io, json, print, printJson }) {
    const { existsSync } = await import('node:fs');
    const { resolve } = await import('node:path');
    const config = await configFrom({ 'data-dir': options['data-dir'], trust: options.trust, config: options.config }, io);
    const { Agent } = await import('../../edge-agent/agent.js');
    const { runBatch } = await import('../../edge-agent/batch.js');
    const { createProgress } = await import('../progress.js');
    const artifact = resolve(io.cwd, options.model);
    const isPath = existsSync(artifact);
    const agent = new Agent({
      dataDir: config.dataDir,
      trustedKeys: config.trustedKeys,
      trustKilnKey: config.trustKilnKey,
      kilnHome: io.env.KILN_HOME,
      preload: false,
      exclusive: isPath,
      runJobs: false,
    });
    const progress = createProgress(io.stderr, { quiet: json });
    try {
      let name = options.model;
      if (isPath) name = (await agent.install(artifact)).model;
      await agent.start();
      const summary = await runBatch(agent, {
        model: name,
        version: options.version,
        input: resolve(io.cwd, options.input),
        output: resolve(io.cwd, options.output),
        onProgress: (done, total) => progress.update('scoring', done, total),
      });
      progress.done();
      if (json) printJson(summary);
      else
        print(
          `scored ${summary.scored} file${summary.scored === 1 ? '' : 's'} (${summary.errors} with errors), skipped ${summary.skipped} already in ${options.output}`,
        );
      return summary.errors ? 1 : 0;
    } finally {
      await agent.close();
    }
  },
});
