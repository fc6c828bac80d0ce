import { z } from 'zod';

import { event, serviceRpc } from '../rpc';
import {
  Bytes,
  Empty,
  ModelId,
  NodeId,
  PingResponse,
  VersionNumber,
} from './common.schema';
import { EVICTION_REASONS, MODEL_STATES } from './runtime.messages';

/**
 * Make (model, version) loaded somewhere and say where. Concurrent calls for the same
 * pair share ONE load (single flight). `exclude_nodes` lets a caller that just saw a
 * runtime fail ask for another copy.
 */
export const EnsureLoadedRequest = z.object({
  model_id: ModelId,
  version: VersionNumber,
  exclude_nodes: z.array(NodeId).optional(),
  /**
   * Nodes that just answered MODEL_NOT_LOADED for this pair although the routing table
   * listed them (a worker crashed, say): the cache-manager forgets the pair there
   * until they report it again, and may load it there anew.
   */
  stale_nodes: z.array(NodeId).optional(),
});
export type EnsureLoadedRequest = z.infer<typeof EnsureLoadedRequest>;
export const EnsureLoadedResponse = z.object({
  node_id: NodeId,
  loaded_now: z.boolean(),
});
export type EnsureLoadedResponse = z.infer<typeof EnsureLoadedResponse>;

export const Route = z.object({
  model_id: ModelId,
  version: VersionNumber,
  nodes: z.array(NodeId).min(1),
});
export type Route = z.infer<typeof Route>;

/**
 * Where each loaded (model, version) can be served. Published on every change and
 * periodically; gateways keep the latest (highest `epoch` from the same `instance`)
 * and route hits without asking anyone.
 */
export const RoutingTable = z.object({
  instance: z.string(),
  epoch: z.number().int().nonnegative(),
  generated_at: z.string(),
  routes: z.array(Route),
});
export type RoutingTable = z.infer<typeof RoutingTable>;

export const RuntimeStatus = z.object({
  node_id: NodeId,
  alive: z.boolean(),
  capacity_bytes: Bytes,
  soft_limit_bytes: Bytes,
  used_bytes: Bytes,
  /** What `used_bytes` is made of (base is apart: it is not model memory). */
  memory: z.object({
    models_bytes: Bytes,
    loading_bytes: Bytes,
    unloading_bytes: Bytes,
    base_bytes: Bytes,
  }),
  rss_bytes: Bytes,
  models_loaded: z.number().int().nonnegative(),
  started_at: z.string(),
  last_seen_at: z.string(),
});
export type RuntimeStatus = z.infer<typeof RuntimeStatus>;

export const ModelStatus = z.object({
  model_id: ModelId,
  version: VersionNumber,
  state: z.enum(MODEL_STATES),
  reason: z.string().nullable(),
  nodes: z.array(NodeId),
  memory_bytes: Bytes.nullable(),
  last_used_at: z.string().nullable(),
  hits: z.number().int().nonnegative(),
  misses: z.number().int().nonnegative(),
  loads: z.number().int().nonnegative(),
  evictions: z.number().int().nonnegative(),
  evictions_by_reason: z.partialRecord(
    z.enum(EVICTION_REASONS),
    z.number().int().nonnegative(),
  ),
  load_ms: z.number().nonnegative().nullable(),
});
export type ModelStatus = z.infer<typeof ModelStatus>;

export const ClusterStatus = z.object({
  generated_at: z.string(),
  runtimes: z.array(RuntimeStatus),
  models: z.array(ModelStatus),
  totals: z.object({
    runtimes_alive: z.number().int().nonnegative(),
    capacity_bytes: Bytes,
    used_bytes: Bytes,
    models_loaded: z.number().int().nonnegative(),
  }),
  /** Memory quotas per value of the configured label, and what each group holds now. */
  quotas: z.array(
    z.object({
      label: z.string(),
      value: z.string(),
      limit_bytes: Bytes,
      used_bytes: Bytes,
    }),
  ),
});
export type ClusterStatus = z.infer<typeof ClusterStatus>;

/** Operator's request: load (model, version) on `copies` runtimes (default 1), now. */
export const AdminLoadRequest = z.object({
  model_id: ModelId,
  version: VersionNumber,
  copies: z.number().int().min(1).max(64).optional(),
});
export type AdminLoadRequest = z.infer<typeof AdminLoadRequest>;
export const AdminLoadResponse = z.object({
  model_id: ModelId,
  version: VersionNumber,
  nodes: z.array(NodeId),
});
export type AdminLoadResponse = z.infer<typeof AdminLoadResponse>;

/** Operator's request: unload every copy of a model (of one version, or all versions). */
export const AdminUnloadRequest = z.object({
  model_id: ModelId,
  version: VersionNumber.optional(),
  /** Why, for the eviction counts and logs: `deleted` when it is being deleted. */
  reason: z.enum(['admin', 'deleted']).optional(),
});
export type AdminUnloadRequest = z.infer<typeof AdminUnloadRequest>;
export const AdminUnloadResponse = z.object({
  model_id: ModelId,
  unloaded: z.array(
    z.object({ node_id: NodeId, version: VersionNumber, freed_bytes: Bytes }),
  ),
});
export type AdminUnloadResponse = z.infer<typeof AdminUnloadResponse>;

/**
 * One per load, unload and failed load the cache-manager carries out, for whoever
 * follows them (the gateways' web console; the metrics are the cache-manager's own). `reason`: why it was loaded (`miss`, `admin`,
 * `preload`, `predictive`, `hot_copy`), why it was unloaded (an EvictionReason), or why
 * the load failed (a sentence).
 */
export const CacheModelEvent = z.object({
  kind: z.enum(['loaded', 'unloaded', 'load_failed']),
  model_id: ModelId,
  version: VersionNumber,
  node_id: NodeId,
  bytes: Bytes.nullable(),
  load_ms: z.number().nonnegative().nullable(),
  reason: z.string().nullable(),
  at: z.string(),
});
export type CacheModelEvent = z.infer<typeof CacheModelEvent>;

const QUEUE = 'cache-manager';

export const CacheManager = {
  ensureLoaded: serviceRpc(
    'cache.ensure.v1',
    QUEUE,
    EnsureLoadedRequest,
    EnsureLoadedResponse,
  ),
  getRouting: serviceRpc('cache.routing.get.v1', QUEUE, Empty, RoutingTable),
  status: serviceRpc('cache.status.v1', QUEUE, Empty, ClusterStatus),
  load: serviceRpc('cache.load.v1', QUEUE, AdminLoadRequest, AdminLoadResponse),
  unload: serviceRpc(
    'cache.unload.v1',
    QUEUE,
    AdminUnloadRequest,
    AdminUnloadResponse,
  ),
  ping: serviceRpc('cache.ping.v1', QUEUE, Empty, PingResponse),
  routingChanged: event('cache.routing.v1', RoutingTable),
  modelEvent: event('cache.model.event.v1', CacheModelEvent),
} as const;
