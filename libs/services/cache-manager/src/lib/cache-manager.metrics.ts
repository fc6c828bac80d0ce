import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';

import type { ClusterStatus, EvictionReason } from '@portfolio/contracts';
import type { PlaceDecision } from '@portfolio/placement';
import {
  DECISION_SECONDS,
  MetricsRegistry,
  SeriesCache,
} from '@portfolio/telemetry';

/** How the cache-manager answered a gateway's ensure-loaded request. */
export type LookupResult = 'loaded' | 'joined' | 'placed';

/** A scrape reads the status once, however many gauges it fills. */
const STATUS_REUSE_MS = 250;

/**
 * The cache-manager's metrics (docs/metrics.md): the loads it ordered (by reason), the
 * loads that failed, the copies it unloaded (by reason), how long its placement
 * decisions take, how it answered lookups, and the cluster as it sees it (runtimes up,
 * copies and memory per model, quotas), read from its status at each scrape. Memory per
 * runtime is each runtime's own metric, not repeated here.
 */
@Injectable()
export class CacheManagerMetrics {
  private readonly loads: Counter<'model' | 'version' | 'node' | 'reason'>;
  private readonly loadFailures: Counter<'model' | 'version' | 'node'>;
  private readonly evictions: Counter<'model' | 'version' | 'node' | 'reason'>;
  private readonly decisions: Histogram<'result'>;
  private readonly lookups: Counter<'result'>;
  private readonly decisionSeries = new SeriesCache<
    Histogram.Internal<'result'>
  >();
  private status: () => ClusterStatus = () => {
    throw new Error('CacheManagerMetrics: no status source yet');
  };
  private lastStatus: { atMs: number; status: ClusterStatus } | null = null;

  constructor(registry: MetricsRegistry) {
    const registers = [registry];
    this.loads = new Counter({
      name: 'portfolio_model_loads_total',
      help: 'Loads the cache-manager ordered that loaded a model, by why: miss, admin, preload, predictive, hot_copy',
      labelNames: ['model', 'version', 'node', 'reason'],
      registers,
    });
    this.loadFailures = new Counter({
      name: 'portfolio_model_load_failures_total',
      help: 'Loads the cache-manager ordered that failed (the model could not be loaded, or took too long)',
      labelNames: ['model', 'version', 'node'],
      registers,
    });
    this.evictions = new Counter({
      name: 'portfolio_model_evictions_total',
      help: 'Copies the cache-manager unloaded, by reason: capacity, quota, soft_limit, ttl, cold_copy, hot_copy, admin, deleted, rss_guard',
      labelNames: ['model', 'version', 'node', 'reason'],
      registers,
    });
    this.decisions = new Histogram({
      name: 'portfolio_placement_decision_duration_seconds',
      help: 'How long one placement decision took (choosing the runtime and the victims, in memory), by result: place, no_room, no_runtime, over_quota',
      labelNames: ['result'],
      buckets: DECISION_SECONDS,
      registers,
    });
    this.lookups = new Counter({
      name: 'portfolio_cache_manager_lookups_total',
      help: "Gateways' ensure-loaded requests, by answer: loaded (a runtime held it), joined (a load in progress), placed (a new placement)",
      labelNames: ['result'],
      registers,
    });
    // The cluster's state, as of each scrape.
    const read = () => this.current();
    new Gauge({
      name: 'portfolio_runtime_up',
      help: '1 for a runtime that reports to the cache-manager, 0 for one lost (it stopped reporting without saying it was stopping; shown for 10 minutes)',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const r of read().runtimes)
          this.set({ node: r.node_id }, r.alive ? 1 : 0);
      },
    });
    new Gauge({
      name: 'portfolio_model_copies',
      help: 'Runtimes holding (model, version): loading, loaded or unloading',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const m of read().models)
          this.set(
            { model: m.model_id, version: String(m.version) },
            m.nodes.length,
          );
      },
    });
    new Gauge({
      name: 'portfolio_model_memory_bytes',
      help: 'Measured memory of one loaded copy of (model, version)',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const m of read().models)
          if (m.memory_bytes !== null)
            this.set(
              { model: m.model_id, version: String(m.version) },
              m.memory_bytes,
            );
      },
    });
    new Gauge({
      name: 'portfolio_quota_bytes',
      help: 'A memory quota of a label value (cache.quotas): its limit and what its models hold (used)',
      labelNames: ['label', 'value', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const q of read().quotas) {
          const labels = { label: q.label, value: q.value };
          this.set({ ...labels, kind: 'limit' }, q.limit_bytes);
          this.set({ ...labels, kind: 'used' }, q.used_bytes);
        }
      },
    });
  }

  /** Where the cluster gauges are read from at each scrape. */
  watch(status: () => ClusterStatus): void {
    this.status = status;
    this.lastStatus = null;
  }

  loaded(model: string, version: number, node: string, reason: string): void {
    this.loads.inc({ model, version: String(version), node, reason });
  }

  /** The reason is a sentence: a label per sentence would make endless series. */
  loadFailed(model: string, version: number, node: string): void {
    this.loadFailures.inc({ model, version: String(version), node });
  }

  evicted(
    model: string,
    version: number,
    node: string,
    reason: EvictionReason,
  ): void {
    this.evictions.inc({ model, version: String(version), node, reason });
  }

  decided(kind: PlaceDecision['kind'], seconds: number): void {
    (
      this.decisionSeries.get(kind) ??
      this.decisionSeries.add(
        kind,
        this.decisions.labels({ result: kind.replace('-', '_') }),
      )
    ).observe(seconds);
  }

  lookup(result: LookupResult): void {
    this.lookups.inc({ result });
  }

  private current(): ClusterStatus {
    const now = Date.now();
    if (!this.lastStatus || now - this.lastStatus.atMs > STATUS_REUSE_MS)
      this.lastStatus = { atMs: now, status: this.status() };
    return this.lastStatus.status;
  }
}
