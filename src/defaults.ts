/**
 * kiln's defaults that more than one module states, in one place (the agent's config and CLI help,
 * the classes that take the same option, the cloud and its CLI). Frozen; nothing writes them into
 * a caller's options.
 */
export const DEFAULTS = Object.freeze({
  /** The agent's HTTP address. */
  agentHost: '127.0.0.1',
  /** The agent's HTTP port. */
  agentPort: 8080,
  /** Previous good versions the agent's model store keeps per model, besides the current one. */
  keepVersions: 3,
  /** Largest inference request body the agent reads, in bytes (6 MiB). */
  maxRequestBytes: 6 * 2 ** 20,
  /** Largest batch-job payload the agent stores, in bytes (1 GiB). */
  maxJobBytes: 2 ** 30,
  /** Rows the agent's outbox keeps while offline before the oldest go. */
  outboxMaxRows: 10_000,
  /** The embedded MQTT broker's port (the MQTT standard port). */
  mqttPort: 1883,
});
