import { Injectable } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';

import { MetricsRegistry, TRANSFER_SECONDS } from '@portfolio/telemetry';

/** How an upload or a download ended. */
export type TransferResult = 'stored' | 'failed' | 'aborted';

/**
 * The storage service's metrics (docs/metrics.md): artifact bytes and time of uploads
 * (clients sending them through the gateway) and downloads (imports from a URI of
 * `storage.import.sources`), and the trial loads that check each artifact.
 */
@Injectable()
export class StorageMetrics {
  private readonly uploadBytes: Counter;
  private readonly uploadDuration: Histogram<'result'>;
  private readonly downloadBytes: Counter;
  private readonly downloadDuration: Histogram<'result'>;
  private readonly trialLoads: Counter<'format' | 'result'>;
  private readonly trialDuration: Histogram<'format' | 'result'>;

  constructor(registry: MetricsRegistry) {
    const registers = [registry];
    this.uploadBytes = new Counter({
      name: 'portfolio_storage_upload_bytes_total',
      help: 'Artifact bytes received in upload chunks',
      registers,
    });
    this.uploadDuration = new Histogram({
      name: 'portfolio_storage_upload_duration_seconds',
      help: 'Uploads from their start to their commit answered (stored or failed) or their abort (aborted: by the client, a bad chunk or going idle)',
      labelNames: ['result'],
      buckets: TRANSFER_SECONDS,
      registers,
    });
    this.downloadBytes = new Counter({
      name: 'portfolio_storage_download_bytes_total',
      help: 'Artifact bytes fetched from import sources (versions registered by URI)',
      registers,
    });
    this.downloadDuration = new Histogram({
      name: 'portfolio_storage_download_duration_seconds',
      help: 'Fetching the files of a version registered by URI, by result: stored (fetched) or failed',
      labelNames: ['result'],
      buckets: TRANSFER_SECONDS,
      registers,
    });
    this.trialLoads = new Counter({
      name: 'portfolio_storage_trial_loads_total',
      help: 'Artifacts loaded in a throwaway process before their version was registered, by format and result: loaded or failed',
      labelNames: ['format', 'result'],
      registers,
    });
    this.trialDuration = new Histogram({
      name: 'portfolio_storage_trial_load_duration_seconds',
      help: 'How long each trial load took, by format and result',
      labelNames: ['format', 'result'],
      buckets: TRANSFER_SECONDS,
      registers,
    });
  }

  received(bytes: number): void {
    this.uploadBytes.inc(bytes);
  }

  uploadEnded(result: TransferResult, seconds: number): void {
    this.uploadDuration.observe({ result }, seconds);
  }

  downloaded(
    result: 'stored' | 'failed',
    bytes: number,
    seconds: number,
  ): void {
    if (bytes > 0) this.downloadBytes.inc(bytes);
    this.downloadDuration.observe({ result }, seconds);
  }

  tried(format: string, result: 'loaded' | 'failed', seconds: number): void {
    this.trialLoads.inc({ format, result });
    this.trialDuration.observe({ format, result }, seconds);
  }
}
