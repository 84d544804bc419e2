/**
 * Desired-state reconciliation: bring the agent to what the cloud wants, model by model —
 * download (resumable, bounded retries with backoff), verify (sha256, then the manifest's signature,
 * signer and name/version), install through the agent's store and probation — and report each
 * status transition. The agent keeps serving its current versions throughout; a failure leaves
 * them serving.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkArtifact } from '../../protocol/artifact.js';
import type { DesiredModel, DesiredState, ReportedModel } from '../../protocol/sync.js';
import type { Agent } from '../agent.js';
import type { Logger } from '../logger.js';
import { DownloadError, downloadArtifact } from './download.js';

export interface ReconcileOptions {
  /** Download attempts per artifact. @default 3 */
  maxAttempts?: number;
  /** First retry delay, ms (doubles, with jitter). @default 500 */
  retryBaseMs?: number;
  logger: Logger;
  /** Told of every status change (the client publishes reported state). */
  onStatus(model: string, status: ReportedModel): void;
  /** Whether to keep going (false once the client stops). */
  alive(): boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

export class Reconciler {
  private readonly failed = new Map<string, string>();

  constructor(
    private readonly agent: Agent,
    private readonly options: ReconcileOptions,
  ) {}

  private serving(model: string): string | undefined {
    return this.agent.versions(model)[0]?.version;
  }

  /** Converge every model of the desired state (one at a time, in name order). */
  async run(desired: DesiredState): Promise<void> {
    for (const [name, want] of Object.entries(desired.models).sort(([a], [b]) => a.localeCompare(b))) {
      if (!this.options.alive()) return;
      await this.one(name, want);
    }
  }

  private key = (name: string, want: DesiredModel) => `${name}\0${want.version}\0${want.artifact.sha256}`;

  private async one(name: string, want: DesiredModel): Promise<void> {
    const report = (status: ReportedModel['status'], extra: Partial<ReportedModel> = {}) =>
      this.options.onStatus(name, { status, version: want.version, ...(this.serving(name) ? { serving: this.serving(name) } : {}), ...extra });
    const key = this.key(name, want);
    const earlier = this.failed.get(key);
    if (earlier !== undefined) return report('failed', { reason: earlier });
    try {
      if (this.serving(name) !== want.version) {
        if (this.agent.versions(name).some((r) => r.version === want.version)) {
          // Kept already: switch back without downloading.
          this.agent.rollback(name, want.version);
        } else {
          const file = await this.download(name, want, report);
          report('verifying');
          this.verify(file, name, want);
          report('probation');
          try {
            await this.agent.install(file);
          } finally {
            rmSync(file, { force: true });
          }
        }
      }
      this.applyVariants(name, want);
      report('current');
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.failed.set(key, reason);
      this.options.logger.error('desired model not installed', { model: name, version: want.version, error: reason, serving: this.serving(name) ?? null });
      report('failed', { reason });
    }
  }

  private async download(name: string, want: DesiredModel, report: (s: ReportedModel['status'], e?: Partial<ReportedModel>) => void): Promise<string> {
    const attempts = this.options.maxAttempts ?? 3;
    const base = this.options.retryBaseMs ?? 500;
    let lastReported = -1;
    for (let i = 1; ; i++) {
      report('downloading', { bytes: 0 });
      try {
        return await downloadArtifact({
          url: want.artifact.url,
          sha256: want.artifact.sha256,
          sizeBytes: want.artifact.sizeBytes,
          dir: join(this.agent.dataDir, 'sync', 'downloads'),
          onProgress: (bytes) => {
            // Progress at most every 1 MiB.
            if (bytes - lastReported >= 2 ** 20) {
              lastReported = bytes;
              report('downloading', { bytes });
            }
          },
        });
      } catch (err) {
        const retryable = !(err instanceof DownloadError) || err.retryable;
        if (!retryable || i >= attempts || !this.options.alive()) throw new Error(`download failed after ${i} attempt${i > 1 ? 's' : ''}: ${(err as Error).message}`);
        const delay = Math.min(30_000, base * 2 ** (i - 1)) * (0.5 + Math.random() / 2);
        this.options.logger.warn('artifact download failed; retrying', { model: name, attempt: i, delayMs: Math.round(delay), error: (err as Error).message });
        await sleep(delay);
      }
    }
  }

  /** The artifact must be intact, signed by the key the desired state names, and be the model and version it names. */
  private verify(file: string, name: string, want: DesiredModel): void {
    let check;
    try {
      check = checkArtifact(file);
    } catch (err) {
      rmSync(file, { force: true });
      throw new Error(`the artifact is not readable: ${(err as Error).message}`);
    }
    const problems = [...check.problems];
    if (check.ok && check.signer !== want.artifact.signature.keyId) problems.push(`signed by key ${check.signer}, the desired state names ${want.artifact.signature.keyId}`);
    if (check.manifest && check.manifest.model.name !== name) problems.push(`the artifact is model '${check.manifest.model.name}', not '${name}'`);
    if (check.manifest && check.manifest.model.version !== want.version) problems.push(`the artifact is version '${check.manifest.model.version}', not '${want.version}'`);
    if (problems.length) {
      rmSync(file, { force: true });
      throw new Error(`verification failed: ${problems.join('; ')}`);
    }
  }

  private applyVariants(name: string, want: DesiredModel): void {
    if (want.weights === undefined && want.shadowVersion === undefined) this.agent.setVariants(name, undefined);
    else this.agent.setVariants(name, { ...(want.weights ? { weights: want.weights } : {}), ...(want.shadowVersion ? { shadow: want.shadowVersion } : {}) });
  }
}
