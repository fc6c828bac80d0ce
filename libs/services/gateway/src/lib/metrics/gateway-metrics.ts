import {
  Injectable,
  OnApplicationBootstrap,
  OnModuleDestroy,
  OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client';

import {
  CacheManager,
  CacheModelEvent,
  ClusterStatus,
} from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

/** Each gateway counts a share of the cache-manager's events: summed over gateways, each once. */
const MODEL_EVENTS_QUEUE = 'gateway-metrics';

export type RetryReason = 'no_responders' | 'runtime_lost' | 'model_not_loaded';

/**
 * The gateway's Prometheus metrics (docs/metrics.md), in a registry of its own:
 * - what this gateway sees: HTTP requests, hits and misses of its predictions, retries,
 *   its requests in flight per runtime;
 * - the cache-manager's loads and unloads, from its events (`cache.model.event.v1`),
 *   counted by one gateway each;
 * - the cluster's state (runtime memory, copies, quotas), read from the cache-manager's
 *   status when scraped.
 */
@Injectable()
export class GatewayMetrics
  implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy
{
  readonly registry = new Registry();
  private subscription: BusSubscription | null = null;

  private readonly httpRequests = new Counter({
    name: 'portfolio_http_requests_total',
    help: 'HTTP requests answered by this gateway, by route template and status',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'portfolio_http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to the end of its answer',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly grpcRequests = new Counter({
    name: 'portfolio_grpc_requests_total',
    help: 'gRPC calls answered by this gateway, by method and status code',
    labelNames: ['method', 'code'],
    registers: [this.registry],
  });
  private readonly grpcDuration = new Histogram({
    name: 'portfolio_grpc_request_duration_seconds',
    help: 'Time from receiving a gRPC call to its answer',
    labelNames: ['method', 'code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly hits = new Counter({
    name: 'portfolio_cache_hits_total',
    help: 'Predictions through this gateway that found their model loaded',
    labelNames: ['model', 'version'],
    registers: [this.registry],
  });
  private readonly misses = new Counter({
    name: 'portfolio_cache_misses_total',
    help: 'Predictions through this gateway that waited for their model to be loaded',
    labelNames: ['model', 'version'],
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: 'portfolio_predict_retries_total',
    help: 'Predictions sent again to another runtime, by why the first one failed',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly loads = new Counter({
    name: 'portfolio_model_loads_total',
    help: 'Loads done by the cache-manager, by why (miss, admin, preload, predictive, hot_copy)',
    labelNames: ['model', 'version', 'node', 'reason'],
    registers: [this.registry],
  });
  private readonly loadFailures = new Counter({
    name: 'portfolio_model_load_failures_total',
    help: 'Loads that failed (the model could not be loaded, or took too long)',
    labelNames: ['model', 'version', 'node'],
    registers: [this.registry],
  });
  private readonly loadDuration = new Histogram({
    name: 'portfolio_model_load_duration_seconds',
    help: 'How long each load took on its runtime',
    labelNames: ['model', 'version'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  private readonly evictions = new Counter({
    name: 'portfolio_model_evictions_total',
    help: 'Copies unloaded by the cache-manager, by reason',
    labelNames: ['model', 'version', 'node', 'reason'],
    registers: [this.registry],
  });
  private readonly cacheManagerUp = new Gauge({
    name: 'portfolio_cache_manager_up',
    help: '1 when this scrape got the cluster status from the cache-manager, else 0 (and no cluster gauges)',
    registers: [this.registry],
  });
  private readonly runtimeUp = new Gauge({
    name: 'portfolio_runtime_up',
    help: '1 for a runtime that reports, 0 for one lost (stopped reporting without saying so)',
    labelNames: ['node'],
    registers: [this.registry],
  });
  private readonly runtimeMemory = new Gauge({
    name: 'portfolio_runtime_memory_bytes',
    help: "A runtime's memory: used (models, loads and unloads in progress), capacity, soft_limit, rss (the process), base (the process before any model)",
    labelNames: ['node', 'kind'],
    registers: [this.registry],
  });
  private readonly runtimeModels = new Gauge({
    name: 'portfolio_runtime_models_loaded',
    help: 'Models loaded on a runtime',
    labelNames: ['node'],
    registers: [this.registry],
  });
  private readonly modelCopies = new Gauge({
    name: 'portfolio_model_copies',
    help: 'Runtimes holding (model, version): loading, loaded or unloading',
    labelNames: ['model', 'version'],
    registers: [this.registry],
  });
  private readonly modelMemory = new Gauge({
    name: 'portfolio_model_memory_bytes',
    help: 'Measured memory of one loaded copy of (model, version)',
    labelNames: ['model', 'version'],
    registers: [this.registry],
  });
  private readonly quota = new Gauge({
    name: 'portfolio_quota_bytes',
    help: 'Memory quota of a label value: its limit and what its models hold',
    labelNames: ['label', 'value', 'kind'],
    registers: [this.registry],
  });
  private readonly inFlight = new Gauge({
    name: 'portfolio_gateway_in_flight_requests',
    help: "This gateway's predictions waiting on each runtime",
    labelNames: ['node'],
    registers: [this.registry],
  });

  /** The HTTP series' children by method, route and status (bounded by the routes). */
  /** `model@version` -> its hits series' child. */
  private readonly hitSeries = new Map<string, { inc(): void }>();
  private readonly httpSeries = new Map<
    string,
    {
      requests: { inc(): void };
      duration: { observe(seconds: number): void };
    }
  >();

  constructor(
    private readonly messaging: Messaging,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Before the server is ready, so that the hook applies to every route. */
  onModuleInit(): void {
    const fastify =
      this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    // A callback hook, and each series' children kept: this runs for every request.
    fastify?.addHook('onResponse', (request, reply, done) => {
      // The route's template, not its URL: ids in paths would make endless series.
      const route = request.routeOptions.url ?? 'unmatched';
      const key = `${request.method} ${route} ${reply.statusCode}`;
      let series = this.httpSeries.get(key);
      if (!series) {
        const labels = {
          method: request.method,
          route,
          status: String(reply.statusCode),
        };
        series = {
          requests: this.httpRequests.labels(labels),
          duration: this.httpDuration.labels(labels),
        };
        this.httpSeries.set(key, series);
      }
      series.requests.inc();
      series.duration.observe(reply.elapsedTime / 1000);
      done();
    });
  }

  onApplicationBootstrap(): void {
    this.subscription = this.messaging.on(
      CacheManager.modelEvent,
      (e) => this.countModelEvent(e),
      { queue: MODEL_EVENTS_QUEUE },
    );
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  /** A prediction found its model loaded (`loadedNow` false) or waited for a load. */
  countLookup(modelId: string, version: number, loadedNow: boolean): void {
    if (loadedNow) {
      this.misses.inc({ model: modelId, version: String(version) });
      return;
    }
    // Every prediction counts one: the series' child is kept rather than found by its labels.
    const key = `${modelId}@${version}`;
    let hits = this.hitSeries.get(key);
    if (!hits) {
      hits = this.hits.labels({ model: modelId, version: String(version) });
      this.hitSeries.set(key, hits);
    }
    hits.inc();
  }

  /** A gRPC call answered: its method, its status code's name (`OK`, `NOT_FOUND`, ...). */
  observeGrpc(method: string, code: string, seconds: number): void {
    const labels = { method, code };
    this.grpcRequests.inc(labels);
    this.grpcDuration.observe(labels, seconds);
  }

  countRetry(reason: RetryReason): void {
    this.retries.inc({ reason });
  }

  countModelEvent(e: CacheModelEvent): void {
    const labels = {
      model: e.model_id,
      version: String(e.version),
      node: e.node_id,
    };
    switch (e.kind) {
      case 'loaded':
        this.loads.inc({ ...labels, reason: e.reason ?? 'unknown' });
        if (e.load_ms !== null)
          this.loadDuration.observe(
            { model: e.model_id, version: String(e.version) },
            e.load_ms / 1000,
          );
        return;
      case 'unloaded':
        this.evictions.inc({ ...labels, reason: e.reason ?? 'unknown' });
        return;
      case 'load_failed':
        // The reason is a sentence: a label per sentence would make endless series.
        this.loadFailures.inc(labels);
        return;
    }
  }

  /**
   * The Prometheus text of every metric, with the cluster gauges set from `cluster`
   * (the cache-manager's status of this scrape; null when it did not answer, and then
   * they are left out) and this gateway's requests in flight.
   */
  async render(
    cluster: ClusterStatus | null,
    inFlight: ReadonlyMap<string, number>,
  ): Promise<string> {
    for (const g of [
      this.runtimeUp,
      this.runtimeMemory,
      this.runtimeModels,
      this.modelCopies,
      this.modelMemory,
      this.quota,
      this.inFlight,
    ])
      g.reset();
    for (const [node, n] of inFlight) this.inFlight.set({ node }, n);
    this.cacheManagerUp.set(cluster ? 1 : 0);
    if (cluster) this.setCluster(cluster);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private setCluster(cluster: ClusterStatus): void {
    for (const r of cluster.runtimes) {
      const node = r.node_id;
      this.runtimeUp.set({ node }, r.alive ? 1 : 0);
      this.runtimeModels.set({ node }, r.models_loaded);
      const memory: Record<string, number> = {
        used: r.used_bytes,
        capacity: r.capacity_bytes,
        soft_limit: r.soft_limit_bytes,
        rss: r.rss_bytes,
        base: r.memory.base_bytes,
      };
      for (const [kind, bytes] of Object.entries(memory))
        this.runtimeMemory.set({ node, kind }, bytes);
    }
    for (const m of cluster.models) {
      const labels = { model: m.model_id, version: String(m.version) };
      this.modelCopies.set(labels, m.nodes.length);
      if (m.memory_bytes !== null) this.modelMemory.set(labels, m.memory_bytes);
    }
    for (const q of cluster.quotas) {
      const labels = { label: q.label, value: q.value };
      this.quota.set({ ...labels, kind: 'limit' }, q.limit_bytes);
      this.quota.set({ ...labels, kind: 'used' }, q.used_bytes);
    }
  }
}
