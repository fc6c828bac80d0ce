import { z } from 'zod';

import { event, targetedRpc } from '../rpc';
import {
  Bytes,
  Empty,
  EngineSettingsSchema,
  ModelFormatSchema,
  ModelId,
  NodeId,
  PingResponse,
  ProcessingSchema,
  Sha256,
  VersionNumber,
} from './common.schema';

export const MODEL_STATES = [
  'unloaded',
  'loading',
  'loaded',
  'unloading',
  'failed',
] as const;
export type ModelState = (typeof MODEL_STATES)[number];

export const LoadModelRequest = z.object({
  model_id: ModelId,
  version: VersionNumber,
  format: ModelFormatSchema,
  artifact_uri: z.string(),
  sha256: Sha256,
  size_bytes: Bytes,
  /** What the placement reserved; the runtime refuses a load that would cross its hard limit. */
  memory_estimate_bytes: Bytes,
  /**
   * Never unloaded by the runtime's own memory guard while anything else can go (the
   * guard unloads pinned models last). Absent: false.
   */
  pinned: z.boolean().optional(),
  /**
   * The largest batch the model will be run at (its `max_batch_size`): merged runs take
   * at most this many rows, and its warm-up runs at this batch, so its measured memory
   * includes the arena that batch needs. Absent: the runtime's defaults
   * (runtime.max_batch_size for merging, RuntimeSettings.warmupBatch for the warm-up).
   */
  max_batch: z.number().int().positive().max(65_536).optional(),
  /**
   * How long a run of this model may wait for others to join it (its
   * `max_queue_delay_ms`). Absent: the runtime's default (runtime.max_queue_delay).
   */
  max_queue_delay_ms: z.number().min(0).max(10_000).optional(),
  /** The model's engine settings (its `engine`). Absent: the runtime's defaults. */
  engine: EngineSettingsSchema.optional(),
  /** The model's pre- and post-processing (its `processing`). Absent: none. */
  processing: ProcessingSchema.optional(),
  /**
   * The room the cache-manager made for the load while it runs (its peak, as measured by
   * an earlier load anywhere). A runtime that has not loaded the model itself plans with
   * it instead of its default peak factor, so both count the same.
   */
  expected_peak_bytes: Bytes.optional(),
});
export type LoadModelRequest = z.infer<typeof LoadModelRequest>;
export const LoadModelResponse = z.object({
  model_id: ModelId,
  version: VersionNumber,
  /**
   * Measured: the RSS delta around the serialized load plus its warm-up run at the
   * largest batch (the worker thread it runs on counts in the runtime's base_bytes).
   */
  memory_bytes: Bytes,
  /** From the start of the load itself (not counting time queued behind other loads). */
  load_ms: z.number().nonnegative(),
  /** Time the load waited behind other loads and unloads before it started. */
  queued_ms: z.number().nonnegative().optional(),
  /** The most the process held for it while it loaded (loading peaks above its steady size). */
  peak_bytes: Bytes.optional(),
  /** False when the model was already loaded here (loads are idempotent). */
  loaded_now: z.boolean(),
  /** The runtime's state version once this load completed (see RuntimeHeartbeat.state_version). */
  state_version: z.number().int().nonnegative(),
});
export type LoadModelResponse = z.infer<typeof LoadModelResponse>;

/**
 * Why a model is unloaded. `capacity`: to make room for a load (hard limit);
 * `quota`: to keep its group within its memory quota; `soft_limit`: background
 * unloading over the soft limit; `ttl`: idle too long; `cold_copy`: an extra copy no
 * longer needed; `hot_copy`: to make room for a copy of a busier model; `admin`: asked
 * for by an operator; `rss_guard`: the runtime's process went over its hard limit.
 */
export const EVICTION_REASONS = [
  'capacity',
  'quota',
  'soft_limit',
  'ttl',
  'cold_copy',
  'hot_copy',
  'admin',
  'rss_guard',
  'deleted',
] as const;
export type EvictionReason = (typeof EVICTION_REASONS)[number];

export const UnloadModelRequest = z.object({
  model_id: ModelId,
  version: VersionNumber,
  reason: z.enum(EVICTION_REASONS).optional(),
});
export type UnloadModelRequest = z.infer<typeof UnloadModelRequest>;
export const UnloadModelResponse = z.object({
  /** The memory the runtime counted for the model (every copy of it), now free. */
  freed_bytes: Bytes,
  /** How much the process's RSS fell across the release: the memory really given back. */
  returned_bytes: Bytes.optional(),
  was_loaded: z.boolean(),
  state_version: z.number().int().nonnegative(),
});
export type UnloadModelResponse = z.infer<typeof UnloadModelResponse>;

export const LoadedModelReport = z.object({
  model_id: ModelId,
  version: VersionNumber,
  state: z.enum(MODEL_STATES),
  /** What one copy of it takes (measured; re-measured when a larger batch grows its arena). */
  memory_bytes: Bytes,
  /**
   * Copies of it in this runtime, each on a different worker thread (a busy model gets
   * more). used_bytes counts every copy. Absent: 1.
   */
  copies: z.number().int().nonnegative().optional(),
  loaded_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  requests: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  in_flight: z.number().int().nonnegative(),
  /** Milliseconds its workers spent running it, ever: its busy share over time sizes its copies. */
  busy_ms: z.number().nonnegative(),
  load_ms: z.number().nonnegative().nullable(),
  reason: z.string().nullable(),
});
export type LoadedModelReport = z.infer<typeof LoadedModelReport>;

/**
 * Sent every `runtime.heartbeat_interval`. Runtimes are the source of truth for what
 * is loaded where: a restarted cache-manager rebuilds its whole view from these.
 */
export const RuntimeHeartbeat = z.object({
  node_id: NodeId,
  started_at: z.string(),
  seq: z.number().int().nonnegative(),
  /**
   * Increases with every change of the runtime's models. A report older than what a
   * load or unload reply already told (lower state_version) is stale for the model
   * list, though still proof of life.
   */
  state_version: z.number().int().nonnegative(),
  interval_ms: z.number().int().positive(),
  capacity_bytes: Bytes,
  soft_limit_bytes: Bytes,
  /**
   * Sum of the loaded models' measured memory (every copy), plus loads in progress (the
   * one running at its expected peak) and unloads in progress (until their memory is back).
   */
  used_bytes: Bytes,
  /**
   * The process's own memory apart from models: Node, the engines' one-time costs, the
   * idle worker kept ready for the next load and the worker threads that hold models
   * (each large model has one; small ones share). The runtime keeps its RSS under
   * capacity_bytes + base_bytes.
   */
  base_bytes: Bytes,
  rss_bytes: Bytes,
  workers: z.number().int().positive(),
  formats: z.array(ModelFormatSchema),
  models: z.array(LoadedModelReport),
  /**
   * The node-local artifact cache of a runtime that reads a remote store (absent with
   * the local driver): bytes its entries take, its limit (runtime.artifact_cache.max_size;
   * exceeded only while loaded models use more), entries, and bytes in use.
   */
  artifact_cache: z
    .object({
      used_bytes: Bytes,
      max_bytes: Bytes,
      entries: z.number().int().nonnegative(),
      in_use_bytes: Bytes,
    })
    .optional(),
});
export type RuntimeHeartbeat = z.infer<typeof RuntimeHeartbeat>;

export const RuntimeStopping = z.object({ node_id: NodeId });

/**
 * Inference travels as a binary tensor frame (see @portfolio/tensor encodeFrame), not
 * JSON: the request header carries `InferHeader`, the reply header `InferReplyHeader`.
 */
export const InferHeader = z.object({
  model_id: ModelId,
  version: VersionNumber,
  /** Names of the outputs wanted; all when absent. */
  outputs: z.array(z.string()).optional(),
  /**
   * How long the sender waits for the answer, from when it sent the request: a run still
   * queued in the runtime that long after it arrived is dropped (TIMEOUT), never run for
   * nobody. Absent: no deadline.
   */
  timeout_ms: z.number().int().positive().max(3_600_000).optional(),
});
export type InferHeader = z.infer<typeof InferHeader>;
export const InferReplyHeader = z.object({
  model_id: ModelId,
  version: VersionNumber,
  node_id: NodeId,
  compute_ms: z.number().nonnegative(),
});
export type InferReplyHeader = z.infer<typeof InferReplyHeader>;

export function inferSubject(prefix: string, nodeId: string): string {
  return `${prefix}.runtime.${nodeId}.infer.v1`;
}

export const Runtime = {
  load: targetedRpc('runtime', 'load.v1', LoadModelRequest, LoadModelResponse),
  unload: targetedRpc(
    'runtime',
    'unload.v1',
    UnloadModelRequest,
    UnloadModelResponse,
  ),
  ping: targetedRpc('runtime', 'ping.v1', Empty, PingResponse),
  heartbeat: event('runtime.heartbeat.v1', RuntimeHeartbeat),
  stopping: event('runtime.stopping.v1', RuntimeStopping),
} as const;
