/** The agent's sync with the cloud over MQTT (outbox drain, desired-state reconciliation). */
export { SyncClient, type SyncAgent, type SyncOptions, type SyncStats } from './client.js';
export { Reconciler, type ReconcileAgent, type ReconcileOptions } from './reconcile.js';
export { downloadArtifact, DownloadError, type DownloadOptions } from './download.js';
