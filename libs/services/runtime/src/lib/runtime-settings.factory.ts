import type { PortfolioConfig } from '@portfolio/config';

import { RuntimeSettings } from './runtime.settings';
import { WorkerScript } from './worker/worker-pool';

export function runtimeSettings(
  config: PortfolioConfig,
  workerScript: WorkerScript,
): RuntimeSettings {
  return {
    nodeId: config.runtime.nodeId,
    capacityBytes: config.runtime.maxMemoryBytes,
    softLimitBytes: config.runtime.softLimitBytes,
    workers: config.runtime.workers,
    intraOpThreads: config.runtime.intraOpThreads,
    heartbeatIntervalMs: config.runtime.heartbeatIntervalMs,
    workerScript,
    requestLogPath: config.runtime.requestLogPath,
    loadTimeoutMs: config.runtime.loadTimeoutMs,
    inlineMaxBytes: config.runtime.inlineMaxBytes,
    maxBatchSize: config.runtime.maxBatchSize,
    maxQueueDelayMs: config.runtime.maxQueueDelayMs,
    // Used only with a remote store (see ModelHostService): the local driver's files
    // are loaded where they are.
    artifactCache: config.runtime.artifactCache,
  };
}
