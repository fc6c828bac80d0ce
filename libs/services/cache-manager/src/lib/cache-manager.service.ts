import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';

import {
  CacheManager,
  ClusterStatus,
  EnsureLoadedRequest,
  EnsureLoadedResponse,
  ModelStatus,
  PortfolioError,
  Registry,
  RoutingTable,
  Runtime,
  RuntimeHeartbeat,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';
import { chooseRuntime } from '@portfolio/placement';

import {
  CACHE_MANAGER_SETTINGS,
  CacheManagerSettings,
} from './cache-manager.settings';
import { ClusterView, key } from './cluster-view';

interface ModelStats {
  misses: number;
  loads: number;
  evictions: number;
  lastMeasuredBytes: number | null;
  loadMs: number | null;
  failure: string | null;
}

/** Without a declared estimate or an earlier measurement, a model is assumed to need this much more than its file. */
const UNMEASURED_OVERHEAD = 1.2;
/** How long a runtime reported as failing gets to answer a ping before it is dropped. */
const LIVENESS_PING_MS = 1000;
/** Attempts on different runtimes before a load is given up. */
const MAX_PLACEMENT_ATTEMPTS = 3;
/** A runtime lost without a word is reported (health: degraded) this long unless it returns. */
const LOST_RUNTIME_RETENTION_MS = 10 * 60_000;

/**
 * Every placement decision in the cluster. Soft state only: what runtimes report, plus
 * counters; a restarted cache-manager rebuilds it within one report interval.
 */
@Injectable()
export class CacheManagerService
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private readonly logger = new Logger('CacheManager');
  readonly instance = `cm-${randomBytes(6).toString('hex')}`;
  private readonly view: ClusterView;
  private readonly inflight = new Map<string, Promise<EnsureLoadedResponse>>();
  private readonly stats = new Map<string, ModelStats>();
  private epoch = 0;
  private lastRoutes = '';
  private timers: NodeJS.Timeout[] = [];
  private readonly joinListeners = new Set<() => void>();

  constructor(
    private readonly messaging: Messaging,
    @Inject(CACHE_MANAGER_SETTINGS)
    private readonly settings: CacheManagerSettings,
  ) {
    this.view = new ClusterView(
      settings.runtimeTimeoutMs,
      LOST_RUNTIME_RETENTION_MS,
    );
  }

  onApplicationBootstrap(): void {
    const tick = Math.max(
      100,
      Math.min(1000, Math.floor(this.settings.runtimeTimeoutMs / 4)),
    );
    this.timers = [
      setInterval(() => this.expireRuntimes(), tick),
      setInterval(
        () => this.publishRouting(true),
        this.settings.routingRepublishMs,
      ),
    ];
  }

  onModuleDestroy(): void {
    for (const t of this.timers) clearInterval(t);
  }

  onHeartbeat(hb: RuntimeHeartbeat): void {
    const isNew = !this.view.has(hb.node_id);
    if (this.view.applyHeartbeat(hb, Date.now())) this.publishRouting(false);
    if (isNew) {
      this.logger.log(
        `runtime ${hb.node_id} joined (capacity ${hb.capacity_bytes} bytes)`,
      );
      for (const l of this.joinListeners) l();
    }
  }

  onRuntimeJoined(listener: () => void): () => void {
    this.joinListeners.add(listener);
    return () => this.joinListeners.delete(listener);
  }

  onRuntimeStopping(nodeId: string): void {
    if (this.view.remove(nodeId)) {
      this.logger.log(
        `runtime ${nodeId} is stopping; its models are re-placed on demand`,
      );
      this.publishRouting(false);
    }
  }

  /** Single flight per (model, version): concurrent misses share one load. */
  async ensure(req: EnsureLoadedRequest): Promise<EnsureLoadedResponse> {
    const k = key(req.model_id, req.version);
    const exclude = req.exclude_nodes ?? [];
    // A caller excludes nodes that just failed it; the ones that do not answer a ping
    // are gone, and dropping them now beats waiting for their reports to time out.
    if (exclude.length)
      await Promise.all(exclude.map((nodeId) => this.checkAlive(nodeId)));
    for (const nodeId of req.stale_nodes ?? []) this.view.forget(nodeId, k);
    const serving = this.view.nodesServing(k, exclude);
    if (serving.length)
      return Promise.resolve({ node_id: serving[0], loaded_now: false });
    const running = this.inflight.get(k);
    if (running) return running;
    const load = this.place(req, [...exclude]).finally(() =>
      this.inflight.delete(k),
    );
    this.inflight.set(k, load);
    return load;
  }

  routingTable(): RoutingTable {
    return {
      instance: this.instance,
      epoch: this.epoch,
      generated_at: new Date().toISOString(),
      routes: this.view.routes(),
    };
  }

  status(): ClusterStatus {
    const runtimes = this.view.runtimeStatuses();
    const alive = runtimes.filter((r) => r.alive);
    const models = new Map<string, ModelStatus>();
    const entry = (modelId: string, version: number): ModelStatus => {
      const k = key(modelId, version);
      let m = models.get(k);
      if (!m) {
        const s = this.stats.get(k);
        m = {
          model_id: modelId,
          version,
          state: s?.failure ? 'failed' : 'unloaded',
          reason: s?.failure ?? null,
          nodes: [],
          memory_bytes: s?.lastMeasuredBytes ?? null,
          last_used_at: null,
          hits: 0,
          misses: s?.misses ?? 0,
          loads: s?.loads ?? 0,
          evictions: s?.evictions ?? 0,
          load_ms: s?.loadMs ?? null,
        };
        models.set(k, m);
      }
      return m;
    };
    for (const k of this.stats.keys()) {
      const at = k.lastIndexOf('@');
      entry(k.slice(0, at), Number(k.slice(at + 1)));
    }
    const rank = {
      loaded: 4,
      unloading: 3,
      loading: 2,
      failed: 1,
      unloaded: 0,
    } as const;
    for (const { nodeId, report } of this.view.modelReports()) {
      const m = entry(report.model_id, report.version);
      m.hits += report.requests;
      if (
        report.state === 'loaded' ||
        report.state === 'loading' ||
        report.state === 'unloading'
      )
        m.nodes.push(nodeId);
      if (rank[report.state] > rank[m.state]) {
        m.state = report.state;
        m.reason = report.reason;
      }
      if (report.state === 'loaded') m.memory_bytes = report.memory_bytes;
      if (
        report.last_used_at &&
        (!m.last_used_at || report.last_used_at > m.last_used_at)
      )
        m.last_used_at = report.last_used_at;
    }
    const list = [...models.values()].sort(
      (a, b) => a.model_id.localeCompare(b.model_id) || a.version - b.version,
    );
    return {
      generated_at: new Date().toISOString(),
      runtimes,
      models: list,
      totals: {
        runtimes_alive: alive.length,
        capacity_bytes: alive.reduce((n, r) => n + r.capacity_bytes, 0),
        used_bytes: alive.reduce((n, r) => n + r.used_bytes, 0),
        models_loaded: list.filter((m) => m.state === 'loaded').length,
      },
    };
  }

  private async place(
    req: EnsureLoadedRequest,
    exclude: string[],
  ): Promise<EnsureLoadedResponse> {
    const k = key(req.model_id, req.version);
    const { model, version } = await this.messaging.call(
      Registry.resolveVersion,
      {
        model_id: req.model_id,
        version: req.version,
      },
    );
    const stats = this.statsFor(k);
    stats.misses++;
    // Measured once loaded somewhere; the operator's declaration until then.
    const estimate =
      stats.lastMeasuredBytes ??
      model.memory_estimate_bytes ??
      Math.ceil(version.size_bytes * UNMEASURED_OVERHEAD);

    let lastError: PortfolioError | null = null;
    for (let attempt = 0; attempt < MAX_PLACEMENT_ATTEMPTS; attempt++) {
      const decision = chooseRuntime(this.view.candidates(), {
        bytes: estimate,
        exclude,
      });
      if (decision.kind === 'no-runtime') {
        throw (
          lastError ??
          new PortfolioError(
            'NO_RUNTIME',
            `no runtime is available to load ${k}`,
            { model_id: req.model_id },
          )
        );
      }
      if (decision.kind === 'no-room') {
        const never = estimate > decision.largestCapacityBytes;
        throw new PortfolioError(
          'INSUFFICIENT_MEMORY',
          never
            ? `${k} needs about ${estimate} bytes, more than any runtime's capacity (largest: ${decision.largestCapacityBytes})`
            : `${k} needs about ${estimate} bytes and no runtime has that much free (most free: ${decision.largestFreeBytes})`,
          {
            model_id: req.model_id,
            version: req.version,
            needed_bytes: estimate,
            largest_free_bytes: decision.largestFreeBytes,
          },
        );
      }
      const nodeId = decision.nodeId;
      this.view.reserve(nodeId, k, estimate);
      try {
        const res = await this.messaging.call(
          Runtime.load,
          {
            model_id: req.model_id,
            version: req.version,
            format: version.format,
            artifact_uri: version.artifact_uri,
            sha256: version.sha256,
            size_bytes: version.size_bytes,
            memory_estimate_bytes: estimate,
          },
          { target: nodeId, timeoutMs: this.settings.loadTimeoutMs },
        );
        this.view.recordLoaded(nodeId, res);
        if (res.loaded_now) stats.loads++;
        stats.lastMeasuredBytes = res.memory_bytes;
        stats.loadMs = res.load_ms;
        stats.failure = null;
        this.publishRouting(false);
        return { node_id: nodeId, loaded_now: res.loaded_now };
      } catch (e) {
        if (!(e instanceof PortfolioError)) throw e;
        if (
          e.code === 'SERVICE_UNAVAILABLE' &&
          e.details?.['bus'] === 'no_responders'
        ) {
          this.logger.warn(`runtime ${nodeId} does not answer; dropping it`);
          this.view.markLost(nodeId, Date.now());
          this.publishRouting(false);
        } else if (
          e.code === 'INSUFFICIENT_MEMORY' ||
          e.code === 'SERVICE_UNAVAILABLE'
        ) {
          // Its own accounting disagrees with our view; another runtime may do.
        } else {
          if (
            e.code === 'MODEL_LOAD_FAILED' ||
            e.code === 'INVALID_ARTIFACT' ||
            e.code === 'TIMEOUT'
          )
            stats.failure = e.message;
          throw e;
        }
        exclude.push(nodeId);
        lastError = e;
      } finally {
        this.view.release(nodeId, k);
      }
    }
    throw (
      lastError ??
      new PortfolioError('NO_RUNTIME', `no runtime could load ${k}`)
    );
  }

  private async checkAlive(nodeId: string): Promise<void> {
    if (!this.view.has(nodeId)) return;
    try {
      await this.messaging.call(
        Runtime.ping,
        {},
        { target: nodeId, timeoutMs: LIVENESS_PING_MS },
      );
    } catch (e) {
      if (
        e instanceof PortfolioError &&
        (e.code === 'SERVICE_UNAVAILABLE' || e.code === 'TIMEOUT')
      ) {
        this.logger.warn(
          `runtime ${nodeId} failed a request and does not answer a ping; dropping it`,
        );
        this.view.markLost(nodeId, Date.now());
        this.publishRouting(false);
      }
    }
  }

  private statsFor(k: string): ModelStats {
    let s = this.stats.get(k);
    if (!s) {
      s = {
        misses: 0,
        loads: 0,
        evictions: 0,
        lastMeasuredBytes: null,
        loadMs: null,
        failure: null,
      };
      this.stats.set(k, s);
    }
    return s;
  }

  private expireRuntimes(): void {
    const dead = this.view.expire(Date.now());
    if (dead.length) {
      this.logger.warn(
        `runtimes silent for over ${this.settings.runtimeTimeoutMs} ms, declared dead: ${dead.join(', ')}`,
      );
      this.publishRouting(false);
    }
  }

  private publishRouting(force: boolean): void {
    const routes = JSON.stringify(this.view.routes());
    if (routes !== this.lastRoutes) {
      this.lastRoutes = routes;
      this.epoch++;
    } else if (!force) {
      return;
    }
    this.messaging.emit(CacheManager.routingChanged, this.routingTable());
  }
}
