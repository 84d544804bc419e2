/**
 * Desired-state reconciliation: bring the agent to what the cloud wants, model by model —
 * download (resumable, bounded retries with backoff), verify (sha256, then the manifest's signature,
 * signer and name/version), install through the agent's store and probation — and report each
 * status transition. The agent keeps serving its current versions throughout; a failure leaves
 * them serving. A/B weights are applied before an install (a blue/green stage serves none of the new
 * version), and a shadow version the device does not keep is installed beside the serving one from
 * `shadowArtifact` (its status reported apart, under `shadow`). `serving` is where unkeyed requests go.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkArtifact } from '../../protocol/artifact.js';
import type { ArtifactRef, DesiredModel, DesiredState, ReportedModel } from '../../protocol/sync.js';
import type { Logger } from '../../logger.js';
import { heaviestVersion } from '../variants.js';
import type { VariantConfig } from '../variants.js';
import { DownloadError, downloadArtifact } from './download.js';
import { KilnError } from '../../errors.js';

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

/** What reconciliation uses of the agent. `Agent` implements it; bench/rollout.ts drives a stand-in. */
export interface ReconcileAgent {
  readonly dataDir: string;
  /** Versions of a model that can be asked for, the serving one first. */
  versions(model: string): readonly { version: string }[];
  /** Make a kept version current again. */
  rollback(model: string, version?: string): unknown;
  /** Install an artifact (.tgz) and make it current (`serve: false`: keep it beside, serving nothing); rejects when it fails. */
  install(path: string, options?: { serve?: boolean }): Promise<unknown>;
  setVariants(model: string, config: VariantConfig | undefined): void;
  /** A model's variants now (for `serving`: where unkeyed requests go). @default none known */
  variantsOf?(model: string): VariantConfig | undefined; /** Names of the models served (reported on connect, before any desired state). @default none known */
  modelNames?(): string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

export class Reconciler {
  private readonly failed = new Map<string, string>();

  constructor(
    private readonly agent: ReconcileAgent,
    private readonly options: ReconcileOptions,
  ) {}

  /** The version unkeyed requests go to: the heaviest A/B weight when one is set (and kept), else the current one. */
  private serving(model: string): string | undefined {
    const kept = this.agent.versions(model);
    const weights = this.agent.variantsOf?.(model)?.weights;
    const heavy = weights && heaviestVersion(weights);
    if (heavy && kept.some((r) => r.version === heavy)) return heavy;
    return kept[0]?.version;
  }

  /** What the agent serves now, per model, as a report ('current'): sent on connect, before any desired state names the model. */
  servingReport(): Record<string, ReportedModel> {
    const out: Record<string, ReportedModel> = {};
    for (const name of this.agent.modelNames?.() ?? []) {
      const version = this.agent.versions(name)[0]?.version;
      const serving = this.serving(name);
      if (version) out[name] = { status: 'current', version, ...(serving ? { serving } : {}) };
    }
    return out;
  }

  /** Converge every model of the desired state (one at a time, in name order). */
  async run(desired: DesiredState): Promise<void> {
    for (const [name, want] of Object.entries(desired.models).sort(([a], [b]) => a.localeCompare(b))) {
      if (!this.options.alive()) return;
      await this.one(name, want);
    }
  }

  private key = (name: string, version: string, artifact: ArtifactRef) => `${name}\0${version}\0${artifact.sha256}`;

  private async one(name: string, want: DesiredModel): Promise<void> {
    let shadow: ReportedModel['shadow'];
    const report = (status: ReportedModel['status'], extra: Partial<ReportedModel> = {}) =>
      this.options.onStatus(name, {
        status,
        version: want.version,
        ...(this.serving(name) ? { serving: this.serving(name) } : {}),
        ...(shadow ? { shadow } : {}),
        ...extra,
      });
    const key = this.key(name, want.version, want.artifact);
    const earlier = this.failed.get(key);
    if (earlier !== undefined) return report('failed', { reason: earlier });
    try {
      // Weights first: a version installed now serves only its weight (none, for a blue/green stage).
      if (want.weights) this.applyVariants(name, want);
      if (this.agent.versions(name)[0]?.version !== want.version) {
        if (this.agent.versions(name).some((r) => r.version === want.version)) {
          // Kept already: switch back without downloading.
          this.agent.rollback(name, want.version);
        } else await this.fetchAndInstall(name, want.version, want.artifact, report, true);
      }
      if (want.shadowVersion !== undefined) {
        shadow = { version: want.shadowVersion, status: 'downloading' };
        shadow = await this.installShadow(name, want, (s) => {
          shadow = s;
          report('probation');
        });
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

  /** Download, verify and install one version (`serve` false: kept beside, serving nothing). */
  private async fetchAndInstall(
    name: string,
    version: string,
    artifact: ArtifactRef,
    report: (s: ReportedModel['status'], e?: Partial<ReportedModel>) => void,
    serve: boolean,
  ): Promise<void> {
    const file = await this.download(name, artifact, report);
    report('verifying');
    this.verify(file, name, version, artifact);
    report('probation');
    try {
      await this.agent.install(file, { serve });
    } finally {
      rmSync(file, { force: true });
    }
  }

  /**
   * The shadow variant's version: kept already, or installed from `shadowArtifact` beside the serving
   * version (serving nothing). Its failure is reported on its own and never fails the model.
   */
  private async installShadow(
    name: string,
    want: DesiredModel,
    progress: (s: NonNullable<ReportedModel['shadow']>) => void,
  ): Promise<NonNullable<ReportedModel['shadow']>> {
    const version = want.shadowVersion!;
    if (this.agent.versions(name).some((r) => r.version === version)) return { version, status: 'current' };
    if (!want.shadowArtifact)
      return { version, status: 'failed', reason: `shadow version '${version}' is not kept on this device and the desired state gives no shadowArtifact` };
    const key = this.key(name, version, want.shadowArtifact);
    const earlier = this.failed.get(key);
    if (earlier !== undefined) return { version, status: 'failed', reason: earlier };
    try {
      await this.fetchAndInstall(name, version, want.shadowArtifact, (status) => progress({ version, status }), false);
      return { version, status: 'current' };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.failed.set(key, reason);
      this.options.logger.error('shadow version not installed', { model: name, version, error: reason });
      return { version, status: 'failed', reason };
    }
  }

  private async download(name: string, artifact: ArtifactRef, report: (s: ReportedModel['status'], e?: Partial<ReportedModel>) => void): Promise<string> {
    const attempts = this.options.maxAttempts ?? 3;
    const base = this.options.retryBaseMs ?? 500;
    let lastReported = -1;
    for (let i = 1; ; i++) {
      report('downloading', { bytes: 0 });
      try {
        return await downloadArtifact({
          url: artifact.url,
          sha256: artifact.sha256,
          sizeBytes: artifact.sizeBytes,
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
        if (!retryable || i >= attempts || !this.options.alive())
          throw new KilnError('AGENT_INSTALL', `download failed after ${i} attempt${i > 1 ? 's' : ''}: ${(err as Error).message}`);
        const delay = Math.min(30_000, base * 2 ** (i - 1)) * (0.5 + Math.random() / 2);
        this.options.logger.warn('artifact download failed; retrying', { model: name, attempt: i, delayMs: Math.round(delay), error: (err as Error).message });
        await sleep(delay);
      }
    }
  }

  /** The artifact must be intact, signed by the key the desired state names, and be the model and version it names. */
  private verify(file: string, name: string, version: string, artifact: ArtifactRef): void {
    let check;
    try {
      check = checkArtifact(file);
    } catch (err) {
      rmSync(file, { force: true });
      throw new KilnError('BAD_ARTIFACT', `the artifact is not readable: ${(err as Error).message}`);
    }
    const problems = [...check.problems];
    if (check.ok && check.signer !== artifact.signature.keyId)
      problems.push(`signed by key ${check.signer}, the desired state names ${artifact.signature.keyId}`);
    if (check.manifest && check.manifest.model.name !== name) problems.push(`the artifact is model '${check.manifest.model.name}', not '${name}'`);
    if (check.manifest && check.manifest.model.version !== version)
      problems.push(`the artifact is version '${check.manifest.model.version}', not '${version}'`);
    if (problems.length) {
      rmSync(file, { force: true });
      throw new KilnError('BAD_ARTIFACT', `verification failed: ${problems.join('; ')}`);
    }
  }

  private applyVariants(name: string, want: DesiredModel): void {
    if (want.weights === undefined && want.shadowVersion === undefined) this.agent.setVariants(name, undefined);
    else this.agent.setVariants(name, { ...(want.weights ? { weights: want.weights } : {}), ...(want.shadowVersion ? { shadow: want.shadowVersion } : {}) });
  }
}
