import {
  Inject,
  Injectable,
  Logger,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { performance } from 'node:perf_hooks';

import {
  EvictionReason,
  LoadedModelReport,
  LoadModelRequest,
  LoadModelResponse,
  ModelState,
  PortfolioError,
  Signature,
  UnloadModelResponse,
} from '@portfolio/contracts';
import { DEFAULT_LOAD_PEAK_FACTOR } from '@portfolio/placement';
import {
  ArtifactCache,
  ArtifactCacheStats,
  ArtifactLease,
  StorageDriver,
  StorageError,
} from '@portfolio/storage';
import { checkTensor, Tensor, TensorError } from '@portfolio/tensor';
import { batchOf } from '@portfolio/model-formats';
import {
  inSpan,
  MetricsRegistry,
  recordSpanError,
  startChildSpan,
  tracingEnabled,
} from '@portfolio/telemetry';
import type { Span } from '@opentelemetry/api';

import { AsyncMutex } from './async-mutex';
import {
  CopyPolicyOptions,
  decideCopies,
  DEFAULT_COPY_POLICY,
} from './copy-policy';
import { RequestLog } from './request-log';
import { RuntimeMetrics } from './runtime.metrics';
import { chooseGuardVictims, GuardCandidate } from './rss-guard';
import {
  DEFAULT_LOAD_TIMEOUT_MS,
  DEFAULT_RSS_GUARD_INTERVAL_MS,
  DEFAULT_SHARED_MODEL_BYTES,
  DEFAULT_SHARED_THREAD_BYTES,
  DEFAULT_INLINE_MAX_BYTES,
  INLINE_MAX_RUN_MS,
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_WARMUP_BATCH,
  RUNTIME_SETTINGS,
  RUNTIME_STORAGE,
  RuntimeSettings,
} from './runtime.settings';
import {
  BatchPolicy,
  CopyLoss,
  CopyStats,
  Placement,
  RunResult,
  WorkerPool,
} from './worker/worker-pool';

const MiB = 1024 * 1024;
/** How long shutdown waits for requests and loads in flight before stopping workers. */
const SHUTDOWN_DRAIN_MS = 15_000;
/**
 * How long the main heap's largest growth still counts in the base after it shrank: the
 * memory a burst held is returned to the system slowly, if at all (seen in the e2e
 * tests: after 1,000 requests at once, a runtime's RSS stayed above what its books and
 * its shrunk heap accounted for, and loads were refused on RSS).
 */
const HEAP_HIGH_WATER_MS = 10 * 60_000;

/** The most a measured load peak factor is believed (see learnPeak). */
const MAX_PEAK_FACTOR = 3;
/** Below this, a load's RSS delta says little about its peak factor. */
const PEAK_MEASURABLE_BYTES = 8 * MiB;
/**
 * A worker thread's own memory until this runtime has measured one (measured: 16-18 MiB
 * for the built inference worker: its V8 heap and ONNX Runtime's per-thread state).
 */
const DEFAULT_WORKER_BYTES = 17 * MiB;
/** How long after a load the next spare worker starts (see scheduleSpare). */
const SPARE_DELAY_MS = 100;
/** RSS growth across a run smaller than this is noise, not the arena growing. */
const ARENA_NOISE_BYTES = 1 * MiB;
/** How often the RSS is sampled while a load runs, to find its peak. */
const PEAK_SAMPLE_MS = 5;

interface HostedCopy {
  readonly id: number;
  /** Measured: its load's RSS delta, plus arena growth measured since. */
  memoryBytes: number;
  /** Being freed: serves nothing, still counted until its memory is back. */
  releasing: boolean;
}

/** Memory promised to a load that is queued, running, or abandoned and still running. */
interface Reservation {
  readonly key: string;
  /** What it is expected to take once loaded. */
  readonly bytes: number;
  /** What the process may hold for it while it loads. */
  readonly peakBytes: number;
  /** Loading now: counted at its peak. */
  running: boolean;
}

interface HostedModel {
  readonly key: string;
  readonly modelId: string;
  readonly version: number;
  /** What it was loaded from, for more copies. */
  readonly request: LoadModelRequest;
  /** Where storage keeps its artifact on this node, once known (for the logs only). */
  path: string | null;
  /**
   * Its artifact in the artifact cache (remote stores only), held from the fetch before
   * its first load until it leaves this runtime (or fails): more copies and reloads read
   * it, and the cache never deletes an artifact held.
   */
  artifact: ArtifactLease | null;
  pinned: boolean;
  state: ModelState;
  copies: Map<number, HostedCopy>;
  /** Its first load's, while it loads. */
  reservation: Reservation | null;
  signature: Signature | null;
  loadedAt: Date | null;
  lastUsedAt: Date | null;
  requests: number;
  errors: number;
  inFlight: number;
  /** Milliseconds the workers spent running it. */
  busyMs: number;
  /** Set while an unload runs; a load of the same model waits for it. */
  unloading: Promise<unknown> | null;
  loadMs: number | null;
  reason: string | null;
  loading: Promise<LoadModelResponse> | null;
  drained: (() => void) | null;
  addingCopy: boolean;
  /** See decideCopies. */
  quietSince: number | null;
  /** The pool's counters at the last copy decision. */
  seen: CopyStats;
}

/** A copy loaded and measured, not yet serving. */
interface LoadedCopy {
  copy: number;
  memoryBytes: number;
  peakBytes: number;
  signature: Signature;
  warmupBatch: number | null;
}

export const modelKey = (modelId: string, version: number) =>
  `${modelId}@${version}`;

/**
 * The models this runtime holds and their memory, which it measures and guards itself:
 * - A model's size is the RSS delta around its load and warm-up run at its largest batch
 *   (see DEFAULT_WARMUP_BATCH); a run at a larger batch that grows the RSS adds the
 *   growth (its arena) and is reported. Worker threads are base memory: the process's
 *   RSS before any model, plus a worker's measured cost for each thread holding models.
 * - Loads, copies' releases and worker spawns change the process's memory: they run one
 *   at a time (`memory`, unloads first) so that each is measured alone. A load's timeout
 *   starts when it starts, not while it waits.
 * - `used` = loaded copies + loads queued (at their estimate) and running (at their
 *   expected peak) + unloads in progress (until their memory is back). Whatever the
 *   cache-manager asks, a load that would take `used` past the capacity, or the process's
 *   RSS past the capacity plus its base, is refused; and when the RSS goes over that
 *   anyway (sampled every 250 ms), idle models are unloaded at once, least recently used
 *   first, pinned ones last.
 * - A large model's copy gets a worker thread of its own, small models share (see
 *   WorkerPool): a large load or unload never stalls other models' runs, a busy model
 *   gets more copies, a crash loses only the copies of one thread.
 */
@Injectable()
export class ModelHostService implements OnApplicationShutdown {
  private readonly logger = new Logger('ModelHost');
  private readonly models = new Map<string, HostedModel>();
  private readonly reservations = new Set<Reservation>();
  private readonly memory = new AsyncMutex();
  private readonly pool: WorkerPool;
  private readonly listeners = new Set<() => void>();
  private readonly requestLog: RequestLog | null;
  private readonly copyPolicy: CopyPolicyOptions;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Measured peak / steady size of the models this runtime has loaded. */
  private readonly peakRatios = new Map<string, number>();
  private readonly workerCosts: number[] = [];
  private baselineRss: number | null = null;
  /** The main thread's JS heap and external memory when the baseline was taken. */
  private baselineHeap = 0;
  /** The most the main heap grew by lately (see baseBytes). */
  private heapHighWater = { bytes: 0, atMs: 0 };
  private spareTimer: NodeJS.Timeout | null = null;
  /** Artifacts of a remote store, on this node; null with the local driver. */
  private readonly cache: ArtifactCache | null;
  private closing = false;
  private guardWarned = false;
  private version = 0;
  private readonly metrics: RuntimeMetrics;

  /** `metrics`: the app's; a host made by hand (tests, tools) keeps its own. */
  constructor(
    @Inject(RUNTIME_SETTINGS) readonly settings: RuntimeSettings,
    @Inject(RUNTIME_STORAGE) private readonly storage: StorageDriver,
    @Optional() metrics?: RuntimeMetrics,
  ) {
    this.metrics =
      metrics ??
      new RuntimeMetrics(
        new MetricsRegistry({ processMetrics: false }),
        settings,
      );
    this.metrics.watch({
      usedBytes: () => this.usedBytes(),
      baseBytes: () => this.baseBytes(),
      modelsLoaded: () => this.modelsLoaded(),
      artifactCache: () => this.artifactCacheStats(),
    });
    // First: a runtime that cannot have its cache starts no worker either.
    this.cache = this.makeCache();
    this.pool = new WorkerPool(settings.workerScript, {
      computeSlots: settings.workers,
      sharedThreadBytes:
        settings.sharedThreadBytes ?? DEFAULT_SHARED_THREAD_BYTES,
      onCopyLost: (loss) => this.copyLost(loss),
      onRun: (key, runs, rows) => this.metrics.ran(key, runs, rows),
      inline: {
        maxBytes: settings.inlineMaxBytes ?? DEFAULT_INLINE_MAX_BYTES,
        maxRunMs: INLINE_MAX_RUN_MS,
      },
      batching: {
        maxBatch: settings.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE,
        maxQueueDelayMs: settings.maxQueueDelayMs ?? 0,
      },
    });
    this.pool.ready().then(
      () => this.takeBaseline(),
      () => undefined,
    );
    this.requestLog = settings.requestLogPath
      ? new RequestLog(settings.requestLogPath)
      : null;
    this.copyPolicy = { ...DEFAULT_COPY_POLICY, ...settings.copyPolicy };
    const guardMs =
      settings.rssGuardIntervalMs ?? DEFAULT_RSS_GUARD_INTERVAL_MS;
    if (guardMs > 0)
      this.timers.push(setInterval(() => this.guardRss(), guardMs));
    this.timers.push(
      setInterval(() => this.reviewCopies(), this.copyPolicy.intervalMs),
    );
    for (const t of this.timers) t.unref();
  }

  /**
   * The local driver's files are on this node already: models load from where storage
   * keeps them (its localPath). A remote store's artifacts are loaded from the artifact
   * cache, never through the driver's own localPath, whose downloads are unbounded and
   * are not checked again once on disk.
   */
  private makeCache(): ArtifactCache | null {
    if (this.storage.scheme === 'local') return null;
    const options = this.settings.artifactCache;
    if (!options)
      throw new Error(
        `a runtime reading ${this.storage.scheme} storage needs an artifact cache (runtime.artifact_cache)`,
      );
    const cache = new ArtifactCache(this.storage, {
      ...options,
      logger: new Logger('ArtifactCache'),
    });
    // Takes stock of what an earlier process left now, not at the first load.
    cache
      .init()
      .catch((e: unknown) =>
        this.logger.error(
          `the artifact cache cannot start (the first load tries again): ${describeCause(e)}`,
        ),
      );
    return cache;
  }

  /** Called after every change of state, so reports go out without waiting for the next beat. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Increases with every change to the models held (see RuntimeHeartbeat.state_version). */
  get stateVersion(): number {
    return this.version;
  }

  /**
   * Loaded copies, plus unloads until their memory is back, plus loads: queued ones at
   * their estimate, the running one at its expected peak.
   */
  usedBytes(): number {
    let used = this.copiesBytes();
    for (const r of this.reservations)
      used += r.running ? r.peakBytes : r.bytes;
    return used;
  }

  /**
   * The process's memory apart from models: its RSS once the first worker had warmed up
   * (Node, the engines' one-time costs, the spare worker that waits for the next load),
   * before any model was loaded; plus a worker's measured cost for every thread that
   * holds models now, and the most the main thread's JS heap and buffers grew by since
   * within the last HEAP_HIGH_WATER_MS (the service's own traffic: a thousand requests at
   * once hold tens of MiB, and once freed that memory mostly stays in the process, with
   * the allocator, for a while: counted as the process's until then, not as room for
   * models). Until the first worker is ready, the current RSS.
   */
  baseBytes(nowMs = Date.now()): number {
    if (this.baselineRss === null) return process.memoryUsage.rss();
    const heapGrowth = Math.max(0, mainHeapBytes() - this.baselineHeap);
    if (
      heapGrowth >= this.heapHighWater.bytes ||
      nowMs - this.heapHighWater.atMs > HEAP_HIGH_WATER_MS
    )
      this.heapHighWater = { bytes: heapGrowth, atMs: nowMs };
    return (
      this.baselineRss +
      this.pool.threadsInUse * this.workerBytes() +
      this.heapHighWater.bytes
    );
  }

  /** The artifact cache's figures; null with the local driver (no cache). */
  artifactCacheStats(): ArtifactCacheStats | null {
    return this.cache?.stats() ?? null;
  }

  /** Models loaded (serving) now. */
  modelsLoaded(): number {
    let n = 0;
    for (const m of this.models.values()) if (m.state === 'loaded') n++;
    return n;
  }

  report(): LoadedModelReport[] {
    return [...this.models.values()].map((m) => ({
      model_id: m.modelId,
      version: m.version,
      state: m.state,
      memory_bytes: this.modelBytes(m),
      copies: this.servingCopies(m),
      loaded_at: m.loadedAt?.toISOString() ?? null,
      last_used_at: m.lastUsedAt?.toISOString() ?? null,
      requests: m.requests,
      errors: m.errors,
      in_flight: m.inFlight,
      busy_ms: m.busyMs,
      load_ms: m.loadMs,
      reason: m.reason,
    }));
  }

  async load(req: LoadModelRequest): Promise<LoadModelResponse> {
    const key = modelKey(req.model_id, req.version);
    const existing = this.models.get(key);
    if (existing?.state === 'loaded') {
      if (req.pinned !== undefined) existing.pinned = req.pinned;
      return {
        model_id: req.model_id,
        version: req.version,
        memory_bytes: this.modelBytes(existing),
        load_ms: existing.loadMs ?? 0,
        loaded_now: false,
        state_version: this.version,
      };
    }
    if (existing?.loading) return existing.loading;
    // A request that finds the model on its way out gets a fresh load once it is gone.
    if (existing?.unloading) {
      await existing.unloading.catch(() => undefined);
      return this.load(req);
    }

    const estimate = Math.max(req.memory_estimate_bytes, req.size_bytes);
    const reservation: Reservation = {
      key,
      bytes: estimate,
      peakBytes: this.expectedPeak(key, estimate, req.expected_peak_bytes),
      running: false,
    };
    const over = this.overCapacity(reservation);
    if (over > 0) {
      // Extra copies are this runtime's own: they make room before a load is refused.
      const dropped = this.dropCopiesFor(over);
      if (!dropped) this.refuse(reservation);
      await dropped;
      return this.load(req);
    }
    const model: HostedModel = {
      key,
      modelId: req.model_id,
      version: req.version,
      request: req,
      path: null,
      artifact: null,
      pinned: req.pinned ?? false,
      state: 'loading',
      copies: new Map(),
      reservation,
      signature: null,
      loadedAt: null,
      lastUsedAt: null,
      requests: existing?.requests ?? 0,
      errors: existing?.errors ?? 0,
      inFlight: 0,
      busyMs: existing?.busyMs ?? 0,
      unloading: null,
      loadMs: null,
      reason: null,
      loading: null,
      drained: null,
      addingCopy: false,
      quietSince: null,
      seen: { busyMs: 0, copyWaitMs: 0 },
    };
    this.models.set(key, model);
    this.reservations.add(reservation);
    const loadFrom = (path: string | null) => {
      const requestedAt = performance.now();
      return this.memory.run(() =>
        this.doLoad(model, reservation, requestedAt, path),
      );
    };
    // An artifact of a remote store is fetched into the cache before the load queues
    // for the memory lock: a download never holds up other models' loads and unloads.
    model.loading = this.traceLoad(model, () =>
      this.cache
        ? this.fetchArtifact(model).then(loadFrom, (e: unknown) => {
            throw this.loadFailure(model, e);
          })
        : loadFrom(null),
    ).finally(() => {
      this.reservations.delete(reservation);
      model.reservation = null;
      model.loading = null;
      this.changed();
    });
    this.changed();
    return model.loading;
  }

  /**
   * Waits for requests in flight on the model, then frees every copy of it. Its memory
   * counts as used until the workers have released it. Concurrent unloads of one model
   * share one.
   */
  async unload(
    modelId: string,
    version: number,
    reason: EvictionReason = 'admin',
  ): Promise<UnloadModelResponse> {
    const key = modelKey(modelId, version);
    const model = this.models.get(key);
    if (!model)
      return { freed_bytes: 0, was_loaded: false, state_version: this.version };
    if (model.unloading) return model.unloading as Promise<UnloadModelResponse>;
    const unloading = this.doUnload(model, reason).finally(() => {
      model.unloading = null;
    });
    model.unloading = unloading;
    return unloading;
  }

  /** `timeoutMs`: the caller's deadline from now; a run still queued past it is dropped. */
  async infer(
    modelId: string,
    version: number,
    inputs: Record<string, Tensor>,
    outputs?: readonly string[],
    timeoutMs?: number,
  ): Promise<RunResult> {
    const key = modelKey(modelId, version);
    const model = this.models.get(key);
    if (!model || model.state !== 'loaded' || !model.signature) {
      throw new PortfolioError(
        'MODEL_NOT_LOADED',
        `${key} is not loaded on ${this.settings.nodeId}`,
        {
          node_id: this.settings.nodeId,
        },
      );
    }
    try {
      this.checkInputs(model.key, model.signature, inputs, outputs);
    } catch (e) {
      this.metrics.inferenceFailed(
        key,
        e instanceof PortfolioError ? e.code : 'INTERNAL',
      );
      throw e;
    }
    model.inFlight++;
    model.lastUsedAt = new Date();
    const batch = batchOf(model.signature, inputs);
    const span = tracingEnabled() ? this.inferSpan(model, batch) : undefined;
    try {
      const result = await this.pool.run(
        key,
        inputs,
        outputs,
        batch,
        timeoutMs,
      );
      if (span) endInferSpan(span, result);
      model.requests++;
      model.busyMs += result.computeMs;
      this.metrics.inferred(
        key,
        result.queueMs / 1000,
        (result.merged?.computeMs ?? result.computeMs) / 1000,
      );
      if (result.arena) this.arenaGrew(model, result.copy, result.arena);
      this.requestLog?.record(
        model.lastUsedAt.getTime(),
        model.modelId,
        model.version,
        this.modelBytes(model),
        model.loadMs,
      );
      return result;
    } catch (e) {
      model.errors++;
      if (span) {
        recordSpanError(span, e);
        span.end();
      }
      this.metrics.inferenceFailed(
        key,
        e instanceof PortfolioError ? e.code : 'INTERNAL',
      );
      if (e instanceof PortfolioError && e.code === 'INVALID_INPUT')
        this.logger.log(`${key} refused an input: ${describeCause(e)}`);
      throw e;
    } finally {
      model.inFlight--;
      if (model.inFlight === 0 && model.drained) model.drained();
    }
  }

  /**
   * A first load's span (`model.load`), child of the request that asked for it (the
   * cache-manager's Runtime.load, or a preload's): what was loaded and what it took.
   */
  private traceLoad(
    model: HostedModel,
    load: () => Promise<LoadModelResponse>,
  ): Promise<LoadModelResponse> {
    if (!tracingEnabled()) return load();
    return inSpan(
      'model.load',
      {
        'portfolio.model.id': model.modelId,
        'portfolio.model.version': model.version,
        'portfolio.model.format': model.request.format,
        'portfolio.model.size_bytes': model.request.size_bytes,
        'portfolio.node.id': this.settings.nodeId,
        'portfolio.artifact.remote': this.cache !== null,
      },
      async (span) => {
        const res = await load();
        span?.setAttributes({
          'portfolio.model.memory_bytes': res.memory_bytes,
          'portfolio.model.peak_bytes': res.peak_bytes ?? res.memory_bytes,
          'portfolio.load.duration_ms': res.load_ms,
          'portfolio.load.queued_ms': res.queued_ms ?? 0,
        });
        return res;
      },
    );
  }

  /** An inference's span (`model.infer`), when its request came traced. */
  private inferSpan(model: HostedModel, batch: number): Span | undefined {
    return startChildSpan('model.infer', {
      'portfolio.model.id': model.modelId,
      'portfolio.model.version': model.version,
      'portfolio.node.id': this.settings.nodeId,
      'portfolio.batch.size': batch,
    });
  }

  /** Lets requests and loads in flight finish (up to a bound), then stops the workers. */
  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    if (this.spareTimer) clearTimeout(this.spareTimer);
    await this.pool.close(SHUTDOWN_DRAIN_MS);
    await this.requestLog?.close();
  }

  /** `path`: the artifact fetched already (into the cache); null: found here. */
  private async doLoad(
    model: HostedModel,
    reservation: Reservation,
    requestedAt: number,
    path: string | null,
  ): Promise<LoadModelResponse> {
    const started = performance.now();
    reservation.running = true;
    this.changed();
    try {
      const loaded = await this.loadCopy(model, reservation, path);
      // The estimate was checked before loading; the measurement may be larger.
      const others = this.usedBytes() - reservation.peakBytes;
      if (others + loaded.memoryBytes > this.settings.capacityBytes) {
        await this.pool.release(loaded.copy);
        throw new PortfolioError(
          'INSUFFICIENT_MEMORY',
          `${model.key} measured ${loaded.memoryBytes} bytes once loaded, more than the ${this.settings.capacityBytes - others} bytes free on ${this.settings.nodeId}`,
          {
            node_id: this.settings.nodeId,
            measured_bytes: loaded.memoryBytes,
          },
        );
      }
      model.copies.set(loaded.copy, {
        id: loaded.copy,
        memoryBytes: loaded.memoryBytes,
        releasing: false,
      });
      this.pool.activate(loaded.copy);
      model.signature = loaded.signature;
      model.state = 'loaded';
      model.loadedAt = new Date();
      model.loadMs = performance.now() - started;
      this.metrics.loaded(model.key, model.loadMs / 1000);
      this.changed();
      const queuedMs = started - requestedAt;
      this.logger.log(
        `loaded ${model.key}: ${loaded.memoryBytes} bytes (peak ${loaded.peakBytes}, warm-up at batch ${loaded.warmupBatch ?? '-'}) in ${model.loadMs.toFixed(0)} ms${queuedMs >= 1 ? ` after ${queuedMs.toFixed(0)} ms queued` : ''}`,
      );
      return {
        model_id: model.modelId,
        version: model.version,
        memory_bytes: loaded.memoryBytes,
        load_ms: model.loadMs,
        queued_ms: queuedMs,
        peak_bytes: loaded.peakBytes,
        loaded_now: true,
        state_version: this.version,
      };
    } catch (e) {
      throw this.loadFailure(model, e);
    } finally {
      this.scheduleSpare();
    }
  }

  /** Marks a first load failed (its artifact released) and gives the error to throw. */
  private loadFailure(model: HostedModel, e: unknown): PortfolioError {
    model.state = 'failed';
    this.metrics.loadFailed(model.key);
    this.releaseArtifact(model);
    // Clients see the reason (status, metadata); the logs get where and what exactly.
    const coded = e instanceof PortfolioError && e.code !== 'INTERNAL';
    model.reason = coded ? e.message : `${model.key} failed to load`;
    this.logger.warn(
      `loading ${model.key} from ${model.path ?? model.request.artifact_uri} failed: ${describeCause(e)}`,
    );
    return e instanceof PortfolioError
      ? e
      : new PortfolioError('MODEL_LOAD_FAILED', model.reason);
  }

  /**
   * The artifact into the cache, within runtime.load_timeout (the load itself gets its
   * own once it starts). A download that takes longer goes on in the background and is
   * there for a later load; this load fails.
   */
  private async fetchArtifact(model: HostedModel): Promise<string> {
    const timeoutMs = this.settings.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS;
    const fetching = this.artifactPath(model);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PortfolioError(
              'TIMEOUT',
              `the artifact of ${model.key} was not fetched within ${timeoutMs / 1000} s on ${this.settings.nodeId} (runtime.load_timeout); the download goes on for the next load`,
              { node_id: this.settings.nodeId, timeout_ms: timeoutMs },
            ),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([fetching, deadline]);
    } finally {
      clearTimeout(timer);
      fetching.catch(() => undefined);
    }
  }

  /**
   * Loads one copy of a model on the spare worker and measures it, within the load
   * timeout (which starts here: the caller holds the memory lock). A load that takes
   * too long is abandoned: its copy serves nothing and its thread ends once the
   * framework returns; until then its peak stays counted as used.
   */
  /** The model's own batching settings where its load request has them, else the runtime's. */
  private batchPolicyOf(req: LoadModelRequest): BatchPolicy {
    return {
      maxBatch:
        req.max_batch ?? this.settings.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE,
      maxQueueDelayMs:
        req.max_queue_delay_ms ?? this.settings.maxQueueDelayMs ?? 0,
    };
  }

  private async loadCopy(
    model: HostedModel,
    reservation: Reservation,
    fetched: string | null = null,
  ): Promise<LoadedCopy> {
    const timeoutMs = this.settings.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS;
    let timedOut = false;
    let started: { copy: number; done: Promise<unknown> } | null = null;
    const work = (async (): Promise<LoadedCopy> => {
      const path = fetched ?? (await this.artifactPath(model));
      await this.ensureSpare();
      if (timedOut) throw new Error('abandoned');
      this.assertRoomNow(model.key, reservation);
      const before = process.memoryUsage.rss();
      let peak = before;
      const sampler = setInterval(
        () => (peak = Math.max(peak, process.memoryUsage.rss())),
        PEAK_SAMPLE_MS,
      );
      try {
        const load = this.pool.load(
          model.key,
          model.request.format,
          path,
          this.settings.intraOpThreads,
          model.request.max_batch ??
            this.settings.warmupBatch ??
            DEFAULT_WARMUP_BATCH,
          this.placementOf(reservation.bytes),
          this.batchPolicyOf(model.request),
          model.request.engine,
          model.request.processing,
        );
        started = load;
        const result = await load.done;
        const after = process.memoryUsage.rss();
        peak = Math.max(peak, after);
        // The framework's first warm-up on this thread is the thread's (base), not the
        // model's; what the model holds in another process (Python) is the model's.
        const own = after - before - result.frameworkBytes;
        const memoryBytes =
          result.externalBytes > 0
            ? Math.max(0, own) +
              Math.max(result.externalBytes, model.request.size_bytes)
            : Math.max(own, model.request.size_bytes);
        const peakBytes = Math.max(
          peak - before - result.frameworkBytes + result.externalBytes,
          memoryBytes,
        );
        this.learnPeak(model.key, memoryBytes, peakBytes);
        return {
          copy: load.copy,
          memoryBytes,
          peakBytes,
          signature: result.signature,
          warmupBatch: result.warmupBatch,
        };
      } finally {
        clearInterval(sampler);
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(
          new PortfolioError(
            'TIMEOUT',
            `${model.key} did not load within ${timeoutMs / 1000} s on ${this.settings.nodeId} (runtime.load_timeout)`,
            { node_id: this.settings.nodeId, timeout_ms: timeoutMs },
          ),
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([work, deadline]);
    } catch (e) {
      const load = started as { copy: number; done: Promise<unknown> } | null;
      if (timedOut && load) this.abandon(model.key, reservation, load);
      throw e;
    } finally {
      clearTimeout(timer);
      work.catch(() => undefined);
    }
  }

  private abandon(
    key: string,
    reservation: Reservation,
    load: { copy: number; done: Promise<unknown> },
  ): void {
    const zombie: Reservation = {
      key,
      bytes: reservation.peakBytes,
      peakBytes: reservation.peakBytes,
      running: true,
    };
    this.reservations.add(zombie);
    this.logger.warn(
      `gave up waiting for ${key} to load; its worker ends once the load is over, and memory measured meanwhile may be off`,
    );
    void this.pool.abandon(load.copy, load.done).finally(() => {
      this.reservations.delete(zombie);
      this.changed();
    });
  }

  /**
   * The artifact's file on this node: where the local driver keeps it, or in the
   * artifact cache, verified (each copy's load asks again: a cached file corrupted
   * since is fetched again, never loaded).
   */
  private async artifactPath(model: HostedModel): Promise<string> {
    try {
      if (!this.cache) {
        model.path = await this.storage.localPath(model.request.artifact_uri);
        return model.path;
      }
      const asked = performance.now();
      const lease = await this.cache
        .acquire({
          uri: model.request.artifact_uri,
          sha256: model.request.sha256,
          modelId: model.modelId,
        })
        .catch((e: unknown) => {
          this.metrics.artifactFetched(
            'failed',
            (performance.now() - asked) / 1000,
          );
          throw e;
        });
      this.metrics.artifactFetched(
        lease.fetched ? 'downloaded' : 'cached',
        (performance.now() - asked) / 1000,
      );
      if (this.models.get(model.key) !== model || model.state === 'failed') {
        // Gave up on (a fetch past its timeout) or gone meanwhile: nothing holds it.
        lease.release();
        return lease.path;
      }
      // One lease per model: the one just verified.
      model.artifact?.release();
      model.artifact = lease;
      model.path = lease.path;
      return model.path;
    } catch (e) {
      // The driver's message names where the server keeps artifacts: logs only.
      const error = new PortfolioError(
        'MODEL_LOAD_FAILED',
        e instanceof StorageError && e.code === 'DIGEST_MISMATCH'
          ? `the artifact of ${model.key} (${model.request.artifact_uri}) in storage is not the version's (sha256 ${model.request.sha256})`
          : `the artifact of ${model.key} (${model.request.artifact_uri}) cannot be read from storage`,
      );
      error.cause = e instanceof Error ? e.message : String(e);
      throw error;
    }
  }

  private async doUnload(
    model: HostedModel,
    reason: EvictionReason,
  ): Promise<UnloadModelResponse> {
    const key = model.key;
    if (model.loading) await model.loading.catch(() => undefined);
    if (model.state !== 'loaded') {
      this.models.delete(key);
      this.releaseArtifact(model);
      this.changed();
      return { freed_bytes: 0, was_loaded: false, state_version: this.version };
    }
    model.state = 'unloading';
    this.changed();
    if (model.inFlight > 0)
      await new Promise<void>((resolve) => (model.drained = resolve));
    const copies = [...model.copies.values()];
    for (const c of copies) this.pool.retire(c.id);
    return this.memory.run(
      async () => {
        const freed = copies.reduce((n, c) => n + c.memoryBytes, 0);
        const before = process.memoryUsage.rss();
        const threadsBefore = this.pool.threads;
        try {
          await Promise.all(copies.map((c) => this.pool.release(c.id)));
        } finally {
          this.models.delete(key);
          this.releaseArtifact(model);
          this.changed();
        }
        // Threads that held nothing else may have ended too: theirs is base memory.
        const threadsEnded = threadsBefore - this.pool.threads;
        const fell = before - process.memoryUsage.rss();
        const returned = Math.max(0, fell - threadsEnded * this.workerBytes());
        this.metrics.unloaded(key, reason);
        this.logger.log(
          `unloaded ${key} (reason: ${reason}): ${freed} bytes freed; the process's RSS fell by ${returned} bytes${threadsEnded > 0 ? ` and ${threadsEnded} worker thread${threadsEnded > 1 ? 's' : ''} ended` : ''}`,
        );
        if (returned < freed / 2 && freed > 16 * MiB)
          this.logger.warn(
            `unloading ${key} gave back only ${returned} of its ${freed} bytes: is MALLOC_MMAP_THRESHOLD_=131072 set?`,
          );
        return {
          freed_bytes: freed,
          returned_bytes: returned,
          was_loaded: true,
          state_version: this.version,
        };
      },
      { urgent: true },
    );
  }

  /**
   * Drops idle extra copies, least recently used models first, whose memory covers
   * `bytes`; null (and drops nothing) when they cannot.
   */
  private dropCopiesFor(bytes: number): Promise<unknown> | null {
    const extras = [...this.models.values()]
      .filter((m) => m.state === 'loaded')
      .sort((a, b) => lastUsedMs(a) - lastUsedMs(b))
      .flatMap((m) => this.extraCopies(m).map((c) => ({ m, c })));
    const chosen: typeof extras = [];
    let covered = 0;
    for (const e of extras) {
      if (covered >= bytes) break;
      chosen.push(e);
      covered += e.c.memoryBytes;
    }
    if (covered < bytes) return null;
    return Promise.all(
      chosen.map(({ m, c }) => this.dropCopy(m, c, 'capacity')),
    );
  }

  /** Frees one extra copy of a loaded model. */
  private dropCopy(
    model: HostedModel,
    copy: HostedCopy,
    reason: EvictionReason,
  ): Promise<void> {
    if (copy.releasing) return Promise.resolve();
    copy.releasing = true;
    this.pool.retire(copy.id);
    this.changed();
    return this.memory
      .run(() => this.pool.release(copy.id), { urgent: true })
      .finally(() => {
        model.copies.delete(copy.id);
        this.changed();
        this.logger.log(
          `dropped a copy of ${model.key} (reason: ${reason}): ${copy.memoryBytes} bytes freed, ${this.servingCopies(model)} left`,
        );
      });
  }

  /** One more copy of a busy model, on its own worker, if it fits under the soft limit. */
  private addCopy(model: HostedModel): void {
    const bytes = this.modelBytes(model);
    const reservation: Reservation = {
      key: model.key,
      bytes,
      peakBytes: this.expectedPeak(model.key, bytes),
      running: false,
    };
    const { steady, excess } = this.ledger();
    if (
      steady + bytes + Math.max(excess, reservation.peakBytes - bytes) >
      this.settings.softLimitBytes
    )
      return;
    model.addingCopy = true;
    this.reservations.add(reservation);
    this.changed();
    void this.memory
      .run(async () => {
        if (model.state !== 'loaded') return;
        reservation.running = true;
        this.changed();
        const loaded = await this.loadCopy(model, reservation);
        const others = this.usedBytes() - reservation.peakBytes;
        if (
          model.state !== 'loaded' ||
          others + loaded.memoryBytes > this.settings.capacityBytes
        ) {
          await this.pool.release(loaded.copy);
          return;
        }
        model.copies.set(loaded.copy, {
          id: loaded.copy,
          memoryBytes: loaded.memoryBytes,
          releasing: false,
        });
        this.pool.activate(loaded.copy);
        this.logger.log(
          `added a copy of ${model.key} (busy): ${loaded.memoryBytes} bytes, ${this.servingCopies(model)} copies`,
        );
      })
      .catch((e: unknown) =>
        this.logger.warn(
          `could not add a copy of ${model.key}: ${describeCause(e)}`,
        ),
      )
      .finally(() => {
        this.reservations.delete(reservation);
        model.addingCopy = false;
        this.changed();
        this.scheduleSpare();
      });
  }

  /**
   * Every copyPolicy.intervalMs: more copies for models whose runs wait for one, fewer
   * for models that cooled down, and none beyond the soft limit (extra copies are this
   * runtime's own business; they must never make the cache-manager evict models).
   */
  private reviewCopies(): void {
    const now = Date.now();
    for (const model of this.models.values()) {
      if (model.state !== 'loaded') continue;
      const stats = this.pool.statsOf(model.key);
      const busyMs = delta(stats.busyMs, model.seen.busyMs);
      const copyWaitMs = delta(stats.copyWaitMs, model.seen.copyWaitMs);
      model.seen = stats;
      const decision = decideCopies(
        {
          copies: this.servingCopies(model),
          maxCopies: this.settings.workers,
          busyMs,
          copyWaitMs,
          intervalMs: this.copyPolicy.intervalMs,
        },
        model.quietSince,
        now,
        this.copyPolicy,
      );
      model.quietSince = decision.quietSince;
      if (
        decision.action === 'add' &&
        !model.addingCopy &&
        this.memory.waiting === 0
      )
        this.addCopy(model);
      if (decision.action === 'drop') {
        const idle = this.extraCopies(model).pop();
        if (idle) void this.dropCopy(model, idle, 'cold_copy');
      }
    }
    let over = this.usedBytes() - this.settings.softLimitBytes;
    if (over <= 0) return;
    const extras = [...this.models.values()]
      .filter((m) => m.state === 'loaded')
      .sort((a, b) => lastUsedMs(a) - lastUsedMs(b))
      .flatMap((m) => this.extraCopies(m).map((c) => ({ m, c })));
    for (const { m, c } of extras) {
      if (over <= 0) break;
      void this.dropCopy(m, c, 'soft_limit');
      over -= c.memoryBytes;
    }
  }

  /**
   * The RSS guard: when the process's RSS is above the capacity plus the base, beyond
   * what unloads in progress will give back, idle models (and extra copies) are unloaded
   * at once, one log line each (see chooseGuardVictims for the order).
   */
  private guardRss(): void {
    if (this.baselineRss === null) return;
    const rss = process.memoryUsage.rss();
    const limit = this.settings.capacityBytes + this.baseBytes();
    if (rss <= limit) {
      this.guardWarned = false;
      return;
    }
    let freeing = 0;
    for (const m of this.models.values())
      for (const c of m.copies.values())
        if (m.state === 'unloading' || c.releasing) freeing += c.memoryBytes;
    const excess = rss - limit - freeing;
    if (excess <= 0) return;
    const candidates: GuardCandidate[] = [];
    for (const m of this.models.values()) {
      if (m.state !== 'loaded' || m.inFlight > 0) continue;
      for (const c of this.extraCopies(m))
        candidates.push({
          key: m.key,
          copy: c.id,
          bytes: c.memoryBytes,
          pinned: m.pinned,
          lastUsedMs: lastUsedMs(m),
        });
      candidates.push({
        key: m.key,
        copy: null,
        bytes: this.liveCopies(m).reduce((n, c) => n + c.memoryBytes, 0),
        pinned: m.pinned,
        lastUsedMs: lastUsedMs(m),
      });
    }
    const victims = chooseGuardVictims(candidates, excess);
    if (victims.length === 0) {
      if (!this.guardWarned)
        this.logger.warn(
          `RSS guard: the process holds ${rss} bytes, above its hard limit plus base (${limit}), and no model is idle to unload`,
        );
      this.guardWarned = true;
      return;
    }
    for (const v of victims) {
      const model = this.models.get(v.key);
      if (!model) continue;
      const copy = v.copy === null ? null : model.copies.get(v.copy);
      this.logger.warn(
        `RSS guard: the process holds ${rss} bytes, above its hard limit plus base (${limit}); unloading ${copy ? 'a copy of ' : ''}${v.key} (${v.bytes} bytes${v.pinned ? ', pinned' : ''}, last used ${new Date(v.lastUsedMs).toISOString()})`,
      );
      if (copy) void this.dropCopy(model, copy, 'rss_guard');
      else
        this.unload(model.modelId, model.version, 'rss_guard').catch(
          (e: unknown) =>
            this.logger.error(
              `RSS guard: unloading ${v.key} failed: ${describeCause(e)}`,
            ),
        );
    }
  }

  private arenaGrew(
    model: HostedModel,
    copyId: number,
    arena: { batch: number; grewBytes: number },
  ): void {
    const copy = model.copies.get(copyId);
    if (!copy || arena.grewBytes < ARENA_NOISE_BYTES) return;
    copy.memoryBytes += arena.grewBytes;
    this.logger.log(
      `${model.key} grew by ${arena.grewBytes} bytes running a batch of ${arena.batch} (its arena): ${copy.memoryBytes} bytes now`,
    );
    this.changed();
  }

  private copyLost(loss: CopyLoss): void {
    const model = this.models.get(loss.key);
    if (!model) return;
    model.copies.delete(loss.copy);
    if (model.state === 'loaded' && this.servingCopies(model) === 0) {
      model.state = 'failed';
      model.reason = loss.reason;
      model.copies.clear();
      this.releaseArtifact(model);
    }
    this.changed();
  }

  /**
   * A warm spare worker for the next load, spawned under the memory lock and measured,
   * once SPARE_DELAY_MS pass with no load or unload under way: a thread starting up takes
   * a core for tens of ms, which the first requests to the model just loaded should not
   * have to share; and while loads and unloads follow each other, an unload's thread
   * becomes the spare anyway (see WorkerPool). A load that finds none starts it itself.
   */
  private scheduleSpare(): void {
    if (this.spareTimer || this.closing) return;
    this.spareTimer = setTimeout(() => {
      this.spareTimer = null;
      if (this.memory.busy || this.memory.waiting > 0) {
        this.scheduleSpare();
        return;
      }
      void this.memory
        .run(() => this.ensureSpare())
        .catch((e: unknown) =>
          this.logger.error(
            `could not start a spare worker: ${describeCause(e)}`,
          ),
        );
    }, SPARE_DELAY_MS);
    this.spareTimer.unref();
  }

  /**
   * The base: the process's RSS once its first spare worker is warm, before anything
   * loads. Taken when that worker is ready, or by the first load (which waits for it)
   * if that comes first.
   */
  private takeBaseline(underLock = false): void {
    if (this.baselineRss !== null || this.copiesBytes() > 0) return;
    // Outside the lock, a load may be under way; under it, nothing is.
    if (!underLock && this.memory.busy) return;
    this.baselineRss = process.memoryUsage.rss();
    this.baselineHeap = mainHeapBytes();
  }

  /** Call under the memory lock: a spawn's RSS delta is a worker's cost. */
  private async ensureSpare(): Promise<void> {
    const before = process.memoryUsage.rss();
    const spawned = await this.pool.ensureSpare();
    this.takeBaseline(true);
    if (!spawned) return;
    this.workerCosts.push(Math.max(0, process.memoryUsage.rss() - before));
    if (this.workerCosts.length > 5) this.workerCosts.shift();
  }

  /** A worker thread's own memory: the median of the last spawns measured. */
  private workerBytes(): number {
    if (this.workerCosts.length === 0) return DEFAULT_WORKER_BYTES;
    const sorted = [...this.workerCosts].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  /** Small models share threads (see WorkerPool); the others get one each. */
  private placementOf(bytes: number): Placement {
    return {
      shared:
        bytes <=
        (this.settings.sharedThreadModelBytes ?? DEFAULT_SHARED_MODEL_BYTES),
      bytes,
    };
  }

  /**
   * Remembers how far above its steady size a model peaked while it loaded. A small
   * model's RSS delta is mostly noise, and a ratio is kept within [1, MAX_PEAK_FACTOR]:
   * beyond that, something else changed the memory during the load, not the model.
   */
  private learnPeak(key: string, memoryBytes: number, peakBytes: number): void {
    if (memoryBytes < PEAK_MEASURABLE_BYTES) return;
    this.peakRatios.set(
      key,
      Math.min(MAX_PEAK_FACTOR, Math.max(1, peakBytes / memoryBytes)),
    );
  }

  /** Its own measured peak ratio, else the cache-manager's hint, else the default factor. */
  private expectedPeak(key: string, bytes: number, hint?: number): number {
    const ratio = this.peakRatios.get(key);
    if (ratio !== undefined) return Math.ceil(bytes * ratio);
    if (hint !== undefined && hint >= bytes) return hint;
    return Math.ceil(bytes * DEFAULT_LOAD_PEAK_FACTOR);
  }

  /**
   * `steady`: what everything held or promised takes once loaded; `excess`: the most
   * any one load promised may add above that while it loads (loads run one at a time).
   */
  private ledger(): { steady: number; excess: number } {
    let steady = this.copiesBytes();
    let excess = 0;
    for (const r of this.reservations) {
      steady += r.bytes;
      excess = Math.max(excess, r.peakBytes - r.bytes);
    }
    return { steady, excess };
  }

  /** How far a load (not yet reserved) would take `used` past the capacity, at worst. */
  private overCapacity(r: Reservation): number {
    const { steady, excess } = this.ledger();
    const worst = steady + r.bytes + Math.max(excess, r.peakBytes - r.bytes);
    return worst - this.settings.capacityBytes;
  }

  private refuse(r: Reservation): never {
    const used = this.usedBytes();
    throw new PortfolioError(
      'INSUFFICIENT_MEMORY',
      `${this.settings.nodeId} cannot load ${r.key}: it needs about ${r.bytes} bytes (up to ${r.peakBytes} while it loads) and ${used} of ${this.settings.capacityBytes} are in use`,
      {
        node_id: this.settings.nodeId,
        needed_bytes: r.bytes,
        peak_bytes: r.peakBytes,
        used_bytes: used,
        capacity_bytes: this.settings.capacityBytes,
      },
    );
  }

  /**
   * Right before a load starts (its reservation counted): the books again, and the
   * process itself: its RSS plus the load's expected peak must stay under the capacity
   * plus the base, whatever the books say.
   */
  private assertRoomNow(key: string, r: Reservation): void {
    const { steady, excess } = this.ledger();
    if (steady + excess > this.settings.capacityBytes)
      throw new PortfolioError(
        'INSUFFICIENT_MEMORY',
        `${this.settings.nodeId} cannot load ${key}: with the loads before it, it would need ${steady + excess} bytes of ${this.settings.capacityBytes}`,
        {
          node_id: this.settings.nodeId,
          needed_bytes: r.bytes,
          peak_bytes: r.peakBytes,
          capacity_bytes: this.settings.capacityBytes,
        },
      );
    const rss = process.memoryUsage.rss();
    const limit = this.settings.capacityBytes + this.baseBytes();
    if (rss + r.peakBytes > limit)
      throw new PortfolioError(
        'INSUFFICIENT_MEMORY',
        `${this.settings.nodeId} cannot load ${key}: the process holds ${rss} bytes and the load may take up to ${r.peakBytes} more, past its hard limit plus base (${limit})`,
        {
          node_id: this.settings.nodeId,
          needed_bytes: r.bytes,
          peak_bytes: r.peakBytes,
          rss_bytes: rss,
          limit_bytes: limit,
        },
      );
  }

  /** Memory of the copies of loaded models and of those being unloaded. */
  private copiesBytes(): number {
    let bytes = 0;
    for (const m of this.models.values())
      if (m.state === 'loaded' || m.state === 'unloading')
        for (const c of m.copies.values()) bytes += c.memoryBytes;
    return bytes;
  }

  /** What one copy takes: the largest (copies differ by their arenas). */
  private modelBytes(m: HostedModel): number {
    if (m.state === 'loading') return m.reservation?.bytes ?? 0;
    if (m.state === 'failed' || m.state === 'unloaded') return 0;
    let bytes = 0;
    for (const c of m.copies.values()) bytes = Math.max(bytes, c.memoryBytes);
    return bytes;
  }

  private liveCopies(m: HostedModel): HostedCopy[] {
    return [...m.copies.values()].filter((c) => !c.releasing);
  }

  private servingCopies(m: HostedModel): number {
    return m.state === 'loaded' ? this.liveCopies(m).length : 0;
  }

  /** Copies beyond the first that run nothing now, oldest first. */
  private extraCopies(m: HostedModel): HostedCopy[] {
    const live = this.liveCopies(m);
    return live.slice(1).filter((c) => !this.pool.copyBusy(c.id));
  }

  private checkInputs(
    key: string,
    signature: Signature,
    inputs: Record<string, Tensor>,
    outputs?: readonly string[],
  ): void {
    const expected = new Set(signature.inputs.map((i) => i.name));
    for (const name of Object.keys(inputs)) {
      if (!expected.has(name)) {
        throw new PortfolioError(
          'INVALID_INPUT',
          `${key} has no input "${name}" (inputs: ${[...expected].join(', ')})`,
          {
            input: name,
          },
        );
      }
    }
    for (const spec of signature.inputs) {
      const tensor = inputs[spec.name];
      if (!tensor) {
        throw new PortfolioError(
          'INVALID_INPUT',
          `input "${spec.name}" is missing`,
          { input: spec.name },
        );
      }
      try {
        checkTensor(spec.name, tensor, spec);
      } catch (e) {
        if (e instanceof TensorError) {
          throw new PortfolioError('INVALID_INPUT', e.message, e.details);
        }
        throw e;
      }
    }
    const known = new Set(signature.outputs.map((o) => o.name));
    for (const name of outputs ?? []) {
      if (!known.has(name)) {
        throw new PortfolioError(
          'INVALID_INPUT',
          `${key} has no output "${name}" (outputs: ${[...known].join(', ')})`,
          {
            output: name,
          },
        );
      }
    }
  }

  /** The model no longer needs its artifact on this node (the cache may delete it). */
  private releaseArtifact(model: HostedModel): void {
    model.artifact?.release();
    model.artifact = null;
  }

  private changed(): void {
    this.version++;
    for (const l of this.listeners) l();
  }
}

/** The main thread's JS heap and the memory of its buffers: Node's, not models'. */
function mainHeapBytes(): number {
  const m = process.memoryUsage();
  return m.heapTotal + m.external;
}

function lastUsedMs(m: HostedModel): number {
  return (m.lastUsedAt ?? m.loadedAt)?.getTime() ?? 0;
}

/** Growth of a counter that restarts from 0 when the pool forgets the model. */
function delta(now: number, before: number): number {
  return now >= before ? now - before : now;
}

/** The whole story of a failure for the logs: the framework's own words when there are any. */
function describeCause(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (typeof e.cause === 'string') return `${e.message} (${e.cause})`;
  return e instanceof PortfolioError ? e.message : (e.stack ?? e.message);
}

/**
 * Ends an inference's span with how it ran; its wait for a copy and a compute slot is
 * `portfolio.queue.wait_ms` and the `run started` event, at the moment its run began.
 */
function endInferSpan(span: Span, result: RunResult): void {
  span.setAttributes({
    'portfolio.queue.wait_ms': result.queueMs,
    'portfolio.compute_ms': result.computeMs,
    'portfolio.copy': result.copy,
    'portfolio.inline': result.inline === true,
    ...(result.merged
      ? {
          'portfolio.merged.runs': result.merged.runs,
          'portfolio.merged.rows': result.merged.rows,
        }
      : {}),
  });
  span.addEvent(
    'run started',
    { 'portfolio.queue.wait_ms': result.queueMs },
    result.startedAt,
  );
  span.end();
}
