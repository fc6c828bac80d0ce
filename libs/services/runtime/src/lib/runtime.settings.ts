import type { WorkerScript } from './worker/worker-pool';

export const RUNTIME_SETTINGS = Symbol('RUNTIME_SETTINGS');
export const RUNTIME_STORAGE = Symbol('RUNTIME_STORAGE');

export interface RuntimeSettings {
  readonly nodeId: string;
  /** Hard limit: the runtime refuses any load that would take it past this. */
  readonly capacityBytes: number;
  readonly softLimitBytes: number;
  readonly workers: number;
  readonly intraOpThreads: number;
  readonly heartbeatIntervalMs: number;
  readonly workerScript: WorkerScript;
  /** Where to append the request trace (JSON lines); absent or null: no trace. */
  readonly requestLogPath?: string | null;
}
