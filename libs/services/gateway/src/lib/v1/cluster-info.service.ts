import { Injectable } from '@nestjs/common';

import {
  aliasTarget,
  CacheManager,
  ClusterStatus,
  DEFAULT_ALIAS,
  isPortfolioError,
  listAllModels,
  ModelStatus,
  PortfolioError,
  processedSignature,
  Registry,
  Storage,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

import { assertModelId } from '../catalog/model-catalog.service';
import { INTERNAL_ERROR_MESSAGE } from '../http/error.filter';

const PING_TIMEOUT_MS = 1500;

/** A registered model the cache-manager has not seen: no version chosen yet. */
type UnseenModelStatus = Omit<ModelStatus, 'version'> & { version: null };

type ComponentHealth = {
  status: 'ok' | 'down';
  detail?: string;
  latency_ms?: number;
};

/** Health, cluster status and model metadata: read-only views assembled from the services. */
@Injectable()
export class ClusterInfoService {
  constructor(private readonly messaging: Messaging) {}

  async health(): Promise<{
    status: 'ok' | 'degraded' | 'down';
    components: Record<string, unknown>;
  }> {
    const ping = async (
      call: () => Promise<unknown>,
    ): Promise<ComponentHealth> => {
      const started = Date.now();
      try {
        await call();
        return { status: 'ok', latency_ms: Date.now() - started };
      } catch (e) {
        // Coded replies are sentences for clients; anything else is for the logs only.
        return {
          status: 'down',
          detail:
            isPortfolioError(e) && e.code !== 'INTERNAL'
              ? e.message
              : INTERNAL_ERROR_MESSAGE,
        };
      }
    };
    const m = this.messaging;
    const bus: ComponentHealth = m.bus.isConnected()
      ? { status: 'ok' }
      : { status: 'down', detail: 'not connected' };
    const [registry, storage, cacheManager, cluster] = await Promise.all([
      ping(() => m.call(Registry.ping, {}, { timeoutMs: PING_TIMEOUT_MS })),
      ping(() => m.call(Storage.ping, {}, { timeoutMs: PING_TIMEOUT_MS })),
      ping(() => m.call(CacheManager.ping, {}, { timeoutMs: PING_TIMEOUT_MS })),
      m
        .call(CacheManager.status, {}, { timeoutMs: PING_TIMEOUT_MS })
        .catch(() => null),
    ]);
    const alive = cluster?.totals.runtimes_alive ?? 0;
    // Runtimes that stopped answering without saying they were stopping, until they return.
    const lost =
      cluster?.runtimes.filter((r) => !r.alive).map((r) => r.node_id) ?? [];
    const runtimes = {
      status: alive === 0 ? 'down' : lost.length > 0 ? 'degraded' : 'ok',
      alive,
      lost,
      ...(alive === 0
        ? {
            detail: cluster
              ? 'no runtime has reported'
              : 'unknown (the cache-manager is down)',
          }
        : lost.length > 0
          ? { detail: `stopped answering: ${lost.join(', ')}` }
          : {}),
    };
    const components = {
      bus,
      registry,
      storage,
      cache_manager: cacheManager,
      runtimes,
    };
    const status =
      bus.status === 'down' || registry.status === 'down'
        ? 'down'
        : [storage, cacheManager, runtimes].some((c) => c.status !== 'ok')
          ? 'degraded'
          : 'ok';
    return { status, components };
  }

  /**
   * The cluster view from the cache-manager, plus every registered model it has not
   * seen yet (state `unloaded`, no version chosen). Everything the cache-manager's
   * ClusterStatus carries is passed on (its schema is what the bus lets through).
   */
  async status(): Promise<
    Omit<ClusterStatus, 'models'> & {
      models: (ModelStatus | UnseenModelStatus)[];
    }
  > {
    const [cluster, registered] = await Promise.all([
      this.messaging.call(CacheManager.status, {}).catch((e: unknown) => {
        throw e instanceof PortfolioError && e.code === 'SERVICE_UNAVAILABLE'
          ? new PortfolioError(
              'SERVICE_UNAVAILABLE',
              'the cache-manager is not reachable; cluster status is unknown',
            )
          : e;
      }),
      // A page at a time: the whole catalogue in one answer may not cross NATS.
      listAllModels((req) => this.messaging.call(Registry.listModels, req)),
    ]);
    const seen = new Set(cluster.models.map((m) => m.model_id));
    const unseen = registered
      .filter((m) => !seen.has(m.id))
      .map(
        (m): UnseenModelStatus => ({
          model_id: m.id,
          version: null,
          state: 'unloaded',
          reason: null,
          nodes: [],
          memory_bytes: null,
          last_used_at: null,
          hits: 0,
          misses: 0,
          loads: 0,
          evictions: 0,
          evictions_by_reason: {},
          load_ms: null,
        }),
      );
    const models = [...cluster.models, ...unseen].sort((a, b) =>
      a.model_id.localeCompare(b.model_id),
    );
    return { ...cluster, models };
  }

  async metadata(modelId: string): Promise<Record<string, unknown>> {
    assertModelId(modelId);
    const {
      model,
      versions,
      aliases = {},
    } = await this.messaging.call(Registry.getModel, { id: modelId });
    // The default version, as predictions resolve it: where `production` points, else
    // the highest ready version.
    const ready = versions.filter((v) => v.status === 'ready');
    const current =
      versions.find((v) => v.version === aliasTarget(aliases, DEFAULT_ALIAS)) ??
      (ready.length ? ready[ready.length - 1] : null);
    const cluster: ClusterStatus | null = await this.messaging
      .call(CacheManager.status, {}, { timeoutMs: PING_TIMEOUT_MS })
      .catch(() => null);
    const statuses =
      cluster?.models.filter((s) => s.model_id === modelId) ?? [];
    const forCurrent: ModelStatus | undefined = statuses.find(
      (s) => s.version === current?.version,
    );
    return {
      id: model.id,
      format: model.format,
      description: model.description,
      labels: model.labels,
      preload: model.preload,
      pinned: model.pinned,
      ttl_ms: model.ttl_ms,
      created_at: model.created_at,
      versions: versions.map((v) => ({
        version: v.version,
        status: v.status,
        created_at: v.created_at,
        size_bytes: v.size_bytes,
        sha256: v.sha256,
      })),
      aliases,
      default_version: current?.version ?? null,
      // As clients meet it: with the outputs its processing adds or renames.
      signature: current
        ? processedSignature(current.signature, model.processing)
        : null,
      // Measured: the registry's latest measurement of the default version, which
      // outlives loads and cache-manager restarts; else what the cache-manager holds now.
      memory: {
        declared_bytes: model.memory_estimate_bytes,
        authoritative: model.memory_estimate_authoritative ?? false,
        measured_bytes:
          current?.measured?.memory_bytes ?? forCurrent?.memory_bytes ?? null,
        measured_at: current?.measured?.measured_at ?? null,
      },
      cache: cluster
        ? statuses.map((s) => ({
            version: s.version,
            state: s.state,
            reason: s.reason,
            nodes: s.nodes,
            memory_bytes: s.memory_bytes,
            last_used_at: s.last_used_at,
            hits: s.hits,
            misses: s.misses,
            loads: s.loads,
            evictions: s.evictions,
            evictions_by_reason: s.evictions_by_reason,
            load_ms: s.load_ms,
          }))
        : null,
    };
  }
}
