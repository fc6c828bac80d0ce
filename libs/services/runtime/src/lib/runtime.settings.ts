import type { CopyPolicyOptions } from './copy-policy';
import type { WorkerScript } from './worker/worker-pool';

export const RUNTIME_SETTINGS = Symbol('RUNTIME_SETTINGS');
export const RUNTIME_STORAGE = Symbol('RUNTIME_STORAGE');

/** runtime.load_timeout's default (libs/config). */
export const DEFAULT_LOAD_TIMEOUT_MS = 120_000;
/**
 * The batch of a model's warm-up run when its load request names no `max_batch` (until
 * batching is configured, nothing bounds a request's batch, so there is no largest one
 * to measure at): batch 1, and a larger batch is measured when it first runs, and
 * reported. The warm-up runs on every cold start. Measured on MatMul models: at batch 8
 * it took 9-12 ms against 6-7 ms at 1 for 100 MB (which loads in about 100 ms: 1.10-1.15x
 * raw ONNX Runtime's cold start instead of about 1.06x, against a 1.15x target), 42 ms
 * against 28 ms for 500 MB; the arenas at 8 were under 1 MiB larger.
 */
export const DEFAULT_WARMUP_BATCH = 1;
export const DEFAULT_RSS_GUARD_INTERVAL_MS = 250;
/**
 * Models expected to take at most this share worker threads with other small models
 * (a thread costs about 17 MiB; such a model loads in tens of ms at most, and holds up
 * the other models of its thread that long). Larger models get a thread each.
 */
export const DEFAULT_SHARED_MODEL_BYTES = 32 * 1024 * 1024;
/** What the small models sharing one thread may take together. */
export const DEFAULT_SHARED_THREAD_BYTES = 128 * 1024 * 1024;
/**
 * Models expected to take at most this (runtime.inline_max_size) may also run on the
 * main thread (see WorkerPool's inline twins), when a run at their warm-up's batch takes
 * at most INLINE_MAX_RUN_MS there once warm.
 */
export const DEFAULT_INLINE_MAX_BYTES = 4 * 1024 * 1024;
/**
 * The longest run of a model that runs on the main thread: what one of its runs may
 * hold up the event loop for. The hop to a worker and back costs about 0.1 ms
 * of latency and tens of us of the main thread's CPU; a model that runs in a fifth of a
 * millisecond or less is served faster without it.
 */
export const INLINE_MAX_RUN_MS = 0.2;
/**
 * The most rows one merged run of a model takes (runtime.max_batch_size; see
 * WorkerPool's dynamic batching): runs of a model whose inputs and outputs all have a
 * variable leading dimension, waiting for it at once, go to the engine as one batch.
 */
export const DEFAULT_MAX_BATCH_SIZE = 32;

export interface RuntimeSettings {
  readonly nodeId: string;
  /** Hard limit for models: the runtime keeps its RSS under this plus its base. */
  readonly capacityBytes: number;
  readonly softLimitBytes: number;
  /**
   * Runs at once (compute slots), each on the worker thread of a copy of its model; the
   * most copies one model gets. Keep workers x intraOpThreads <= cores.
   */
  readonly workers: number;
  readonly intraOpThreads: number;
  readonly heartbeatIntervalMs: number;
  readonly workerScript: WorkerScript;
  /** Where to append the request trace (JSON lines); absent or null: no trace. */
  readonly requestLogPath?: string | null;
  /**
   * How long a load may take once it has started (time queued behind other loads does
   * not count). Default DEFAULT_LOAD_TIMEOUT_MS.
   */
  readonly loadTimeoutMs?: number;
  /** Default DEFAULT_WARMUP_BATCH. */
  readonly warmupBatch?: number;
  /**
   * How often the RSS guard samples the process's RSS; 0 turns it off (tests where
   * several hosts share one process). Default DEFAULT_RSS_GUARD_INTERVAL_MS.
   */
  readonly rssGuardIntervalMs?: number;
  /** Copies of busy models (see copy-policy.ts); each field defaults. */
  readonly copyPolicy?: Partial<CopyPolicyOptions>;
  /** Default DEFAULT_SHARED_MODEL_BYTES; 0: every model gets a thread of its own. */
  readonly sharedThreadModelBytes?: number;
  /** Default DEFAULT_SHARED_THREAD_BYTES. */
  readonly sharedThreadBytes?: number;
  /** Default DEFAULT_INLINE_MAX_BYTES; 0: every run goes to a worker thread. */
  readonly inlineMaxBytes?: number;
  /** Default DEFAULT_MAX_BATCH_SIZE; 1: runs are never merged. */
  readonly maxBatchSize?: number;
  /**
   * How long a run may wait for others to merge with (see BatchPolicy). Default 0:
   * only runs already waiting are merged.
   */
  readonly maxQueueDelayMs?: number;
  /**
   * The node-local artifact cache (runtime.artifact_cache) that artifacts of a remote
   * store (s3, gcs, azure) are loaded from; required with such a store. The local
   * driver's files are loaded where they are.
   */
  readonly artifactCache?: ArtifactCacheSettings | null;
}

export interface ArtifactCacheSettings {
  /** Owned by the cache: see ArtifactCache. */
  readonly dir: string;
  /** What its entries may take together, unless loaded models use more. */
  readonly maxBytes: number;
}
