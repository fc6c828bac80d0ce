import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';

import type { EvictionReason } from '@portfolio/contracts';
import {
  BATCH_SIZES,
  INFERENCE_SECONDS,
  LOAD_SECONDS,
  MetricsRegistry,
  SeriesCache,
} from '@portfolio/telemetry';

import { RUNTIME_SETTINGS, RuntimeSettings } from './runtime.settings';

type ModelLabels = 'node' | 'model' | 'version';

/** One model's series, found by its key (`id@version`) on the inference path. */
interface ModelSeries {
  readonly labels: Readonly<Record<ModelLabels, string>>;
  readonly queue: Histogram.Internal<ModelLabels>;
  readonly compute: Histogram.Internal<ModelLabels>;
  readonly batchRows: Histogram.Internal<ModelLabels>;
  readonly batchRequests: Histogram.Internal<ModelLabels>;
  /** By error code (a handful). */
  readonly errors: Map<string, Counter.Internal>;
}

/** What the memory gauges read at each scrape. */
export interface RuntimeMemorySource {
  usedBytes(): number;
  baseBytes(): number;
  modelsLoaded(): number;
  /** The artifact cache's sizes; null where artifacts are read in place (the local driver). */
  artifactCache(): {
    readonly usedBytes: number;
    readonly maxBytes: number;
    readonly inUseBytes: number;
  } | null;
}

/** How an artifact was had for a load: from the node's artifact cache, downloaded, or not at all. */
export type ArtifactFetchResult = 'cached' | 'downloaded' | 'failed';

/**
 * A runtime's own metrics (docs/metrics.md), every series labelled with its node id:
 * inference queue and compute time and batch sizes per model, loads (done, failed,
 * their duration) and unloads, artifact fetches from its artifact cache, and its memory
 * (used, base, capacity, soft limit, RSS), models loaded and artifact cache sizes, read
 * at each scrape.
 */
@Injectable()
export class RuntimeMetrics {
  private readonly node: string;
  private readonly queue: Histogram<ModelLabels>;
  private readonly compute: Histogram<ModelLabels>;
  private readonly batchRows: Histogram<ModelLabels>;
  private readonly batchRequests: Histogram<ModelLabels>;
  private readonly errors: Counter<ModelLabels | 'code'>;
  private readonly loads: Counter<ModelLabels | 'result'>;
  private readonly loadDuration: Histogram<ModelLabels>;
  private readonly unloads: Counter<ModelLabels | 'reason'>;
  private readonly fetches: Counter<'node' | 'result'>;
  private readonly fetchDuration: Histogram<'node' | 'result'>;
  private readonly series = new SeriesCache<ModelSeries>();
  private source: RuntimeMemorySource | null = null;

  constructor(
    registry: MetricsRegistry,
    @Inject(RUNTIME_SETTINGS) settings: RuntimeSettings,
  ) {
    this.node = settings.nodeId;
    const registers = [registry];
    const labelNames: ModelLabels[] = ['node', 'model', 'version'];
    this.queue = new Histogram({
      name: 'portfolio_inference_queue_duration_seconds',
      help: 'How long an inference waited on the runtime for a copy and a compute slot (and for runs to merge with) before its run began',
      labelNames,
      buckets: INFERENCE_SECONDS,
      registers,
    });
    this.compute = new Histogram({
      name: 'portfolio_inference_compute_duration_seconds',
      help: 'How long the engine run that answered an inference took (the whole merged run when it was merged with others)',
      labelNames,
      buckets: INFERENCE_SECONDS,
      registers,
    });
    this.batchRows = new Histogram({
      name: 'portfolio_inference_batch_rows',
      help: 'Rows (the batch dimension) of each engine run',
      labelNames,
      buckets: BATCH_SIZES,
      registers,
    });
    this.batchRequests = new Histogram({
      name: 'portfolio_inference_batch_requests',
      help: 'Inferences merged into each engine run (1: it ran alone)',
      labelNames,
      buckets: BATCH_SIZES,
      registers,
    });
    this.errors = new Counter({
      name: 'portfolio_inference_errors_total',
      help: 'Inferences of a loaded model that failed on the runtime, by error code (INVALID_INPUT, TIMEOUT, MODEL_NOT_LOADED, INTERNAL, ...)',
      labelNames: [...labelNames, 'code'],
      registers,
    });
    this.loads = new Counter({
      name: 'portfolio_runtime_loads_total',
      help: 'Loads this runtime ran, by result: loaded or failed',
      labelNames: [...labelNames, 'result'],
      registers,
    });
    this.loadDuration = new Histogram({
      name: 'portfolio_runtime_load_duration_seconds',
      help: 'How long each successful load took on this runtime (a worker thread for it, the engine session, the warm-up run), after any wait for other loads and any download of its artifact',
      labelNames,
      buckets: LOAD_SECONDS,
      registers,
    });
    this.unloads = new Counter({
      name: 'portfolio_runtime_unloads_total',
      help: 'Models this runtime unloaded, by reason (as the cache-manager gave it, or rss_guard for its own)',
      labelNames: [...labelNames, 'reason'],
      registers,
    });
    this.fetches = new Counter({
      name: 'portfolio_runtime_artifact_fetches_total',
      help: "Artifacts a load asked of this runtime's artifact cache (remote stores only), by result: cached (on disk and verified), downloaded (or waited for another load's download), failed",
      labelNames: ['node', 'result'],
      registers,
    });
    this.fetchDuration = new Histogram({
      name: 'portfolio_runtime_artifact_fetch_duration_seconds',
      help: "How long a load waited for its artifact from this runtime's artifact cache (the download and its verification, on a miss), by result",
      labelNames: ['node', 'result'],
      buckets: LOAD_SECONDS,
      registers,
    });
    const node = this.node;
    const read = () => this.source;
    new Gauge({
      name: 'portfolio_runtime_artifact_cache_bytes',
      help: "This runtime's artifact cache (remote stores only), by kind: used (its files on disk), max (its limit), in_use (what loaded models hold, which it cannot evict)",
      labelNames: ['node', 'kind'],
      registers,
      collect() {
        const c = read()?.artifactCache();
        if (!c) return;
        this.set({ node, kind: 'used' }, c.usedBytes);
        this.set({ node, kind: 'max' }, c.maxBytes);
        this.set({ node, kind: 'in_use' }, c.inUseBytes);
      },
    });
    const memory: Record<string, (s: RuntimeMemorySource) => number> = {
      used: (s) => s.usedBytes(),
      base: (s) => s.baseBytes(),
      capacity: () => settings.capacityBytes,
      soft_limit: () => settings.softLimitBytes,
      rss: () => process.memoryUsage.rss(),
    };
    new Gauge({
      name: 'portfolio_runtime_memory_bytes',
      help: "This runtime's memory, by kind: used (models, and loads and unloads in progress: what counts against capacity), base (the process before any model; not in used), capacity (its hard limit for used), soft_limit, rss (the whole process)",
      labelNames: ['node', 'kind'],
      registers,
      collect() {
        const s = read();
        if (!s) return;
        for (const [kind, bytes] of Object.entries(memory))
          this.set({ node, kind }, bytes(s));
      },
    });
    new Gauge({
      name: 'portfolio_runtime_models_loaded',
      help: 'Models loaded on this runtime',
      labelNames: ['node'],
      registers,
      collect() {
        const s = read();
        if (s) this.set({ node }, s.modelsLoaded());
      },
    });
  }

  /** Where the memory gauges are read from at each scrape. */
  watch(source: RuntimeMemorySource): void {
    this.source = source;
  }

  /** An inference answered: its wait and its run, in seconds. */
  inferred(key: string, queueSeconds: number, computeSeconds: number): void {
    const s = this.of(key);
    s.queue.observe(queueSeconds);
    s.compute.observe(computeSeconds);
  }

  inferenceFailed(key: string, code: string): void {
    const s = this.of(key);
    let counter = s.errors.get(code);
    if (!counter) {
      counter = this.errors.labels({ ...s.labels, code });
      s.errors.set(code, counter);
    }
    counter.inc();
  }

  /** An engine run began: how many inferences it merged, and its rows. */
  ran(key: string, requests: number, rows: number): void {
    const s = this.of(key);
    s.batchRequests.observe(requests);
    s.batchRows.observe(rows);
  }

  loaded(key: string, seconds: number): void {
    const s = this.of(key);
    this.loads.inc({ ...s.labels, result: 'loaded' });
    this.loadDuration.observe(s.labels, seconds);
  }

  loadFailed(key: string): void {
    this.loads.inc({ ...this.of(key).labels, result: 'failed' });
  }

  /** A load's artifact, had from the artifact cache (or not) after `seconds`. */
  artifactFetched(result: ArtifactFetchResult, seconds: number): void {
    const labels = { node: this.node, result };
    this.fetches.inc(labels);
    this.fetchDuration.observe(labels, seconds);
  }

  unloaded(key: string, reason: EvictionReason): void {
    this.unloads.inc({ ...this.of(key).labels, reason });
  }

  private of(key: string): ModelSeries {
    return this.series.get(key) ?? this.series.add(key, this.make(key));
  }

  private make(key: string): ModelSeries {
    const at = key.lastIndexOf('@');
    const labels = {
      node: this.node,
      model: key.slice(0, at),
      version: key.slice(at + 1),
    };
    return {
      labels,
      queue: this.queue.labels(labels),
      compute: this.compute.labels(labels),
      batchRows: this.batchRows.labels(labels),
      batchRequests: this.batchRequests.labels(labels),
      errors: new Map(),
    };
  }
}
