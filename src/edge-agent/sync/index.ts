/** The agent's sync with the cloud over MQTT (outbox drain, desired-state reconciliation). */
export { SyncClient, type SyncOptions, type SyncStats } from './client.js';
export { Reconciler, type ReconcileOptions } from './reconcile.js';
export { downloadArtifact, DownloadError, type DownloadOptions } from './download.js';
