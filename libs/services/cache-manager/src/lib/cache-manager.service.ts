import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';

import {
  AdminLoadRequest,
  AdminLoadResponse,
  AdminUnloadRequest,
  AdminUnloadResponse,
  CacheManager,
  CacheModelEvent,
  ClusterStatus,
  EnsureLoadedRequest,
  EnsureLoadedResponse,
  EvictionReason,
  ModelRecord,
  PortfolioError,
  Registry,
  RoutingTable,
  Runtime,
  RuntimeHeartbeat,
  VersionRecord,
} from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';
import { inSpan } from '@portfolio/telemetry';
import {
  DEFAULT_POLICY_PARAMS,
  MaintenanceAction,
  placeModel,
  PlaceDecision,
  planMaintenance,
  PolicyContext,
  PolicyParams,
  RankedModel,
  rankForEviction,
  requestRate,
  RuntimeState,
} from '@portfolio/placement';

import {
  CACHE_MANAGER_SETTINGS,
  CacheManagerSettings,
} from './cache-manager.settings';
import { CacheManagerMetrics } from './cache-manager.metrics';
import { CacheStats } from './cache-stats';
import { ClusterView, key, ModelInfo } from './cluster-view';
import { ModelDirectory } from './model-directory';
import { buildStatus } from './status.builder';
import { UsageTracker } from './usage-tracker';

/** Without a measurement or a declared estimate, a model is assumed to need this much more than its file. */
const UNMEASURED_OVERHEAD = 1.2;
/** How long a runtime reported as failing gets to answer a ping before it is dropped. */
const LIVENESS_PING_MS = 1000;
/** How often a load waiting for room held by work in progress looks again... */
const ROOM_POLL_MS = 100;
/** Added to what a refusing runtime says it lacks (at most a quarter of the load): its RSS moves while we evict. */
const HIDDEN_MARGIN_BYTES = 4 * 1024 * 1024;
/** ...and for how long at most. */
const ROOM_WAIT_MAX_MS = 15_000;
/** While a load runs, the runtime is pinged this often (see whileAlive). */
const LOAD_LIVENESS_INTERVAL_MS = 500;
/** Attempts on different runtimes before a load is given up. */
const MAX_PLACEMENT_ATTEMPTS = 5;
/**
 * Refusals for lack of memory one runtime may answer a placement with before it is
 * excluded: each raises the memory planned as used there, so more victims follow (its
 * RSS may fall by less than what an unload frees, e.g. heap it keeps after a burst).
 */
const MAX_RAISES_PER_RUNTIME = 3;
/** A runtime's eviction ranking is reused this long at most (values move over minutes). */
const RANKING_MAX_AGE_MS = 1000;
/** A runtime lost without a word is reported (health: degraded) this long unless it returns. */
const LOST_RUNTIME_RETENTION_MS = 10 * 60_000;

/**
 * Whether a failed call to a runtime says the runtime is gone: nobody listens on its
 * subject, or it did not answer in time. Not when this process lost the bus itself
 * (`disconnected`): then nothing can be said about the runtime.
 */
function meansGone(e: unknown): boolean {
  if (!(e instanceof PortfolioError)) return false;
  if (e.code === 'TIMEOUT') return true;
  return (
    e.code === 'SERVICE_UNAVAILABLE' && e.details?.['bus'] === 'no_responders'
  );
}

/**
 * Whether some runtime would have room once the loads, unloads and requests now in
 * progress there are over (only pinned models hold memory for good).
 */
function roomComing(
  decision: Extract<PlaceDecision, { kind: 'no-room' }>,
  room: number,
): boolean {
  const bytes = (models: readonly { bytes: number }[]) =>
    models.reduce((n, m) => n + m.bytes, 0);
  return decision.runtimes.some(
    (r) =>
      r.capacityBytes >= room &&
      (r.held.in_use.length > 0 || r.held.busy.length > 0) &&
      r.freeBytes +
        r.freeableBytes +
        bytes(r.held.in_use) +
        bytes(r.held.busy) >=
        room,
  );
}

/**
 * How many more bytes a runtime that refused a load wanted free: from its books (used
 * plus the load's peak over capacity) or from its process (RSS plus the peak over its
 * hard limit plus base). 0 when it does not say.
 */
function shortfall(e: PortfolioError): number {
  const d = e.details ?? {};
  const n = (k: string) => (typeof d[k] === 'number' ? (d[k] as number) : null);
  const peak = n('peak_bytes') ?? n('needed_bytes');
  if (peak === null) return 0;
  const rss = n('rss_bytes');
  const limit = n('limit_bytes');
  if (rss !== null && limit !== null) return Math.max(0, rss + peak - limit);
  const used = n('used_bytes');
  const capacity = n('capacity_bytes');
  if (used !== null && capacity !== null)
    return Math.max(0, used + peak - capacity);
  return 0;
}

const splitKey = (k: string) => {
  const at = k.lastIndexOf('@');
  return { modelId: k.slice(0, at), version: Number(k.slice(at + 1)) };
};

/**
 * Every placement decision in the cluster: where a missing model is loaded and what is
 * unloaded first to make room (the policy of @portfolio/placement), and the background
 * work: soft limits, TTL, copies of hot models, predictive preloading. Soft state only:
 * what runtimes report plus counters; a restarted cache-manager rebuilds it within one
 * report interval and unloads nothing in the background before that.
 */
@Injectable()
export class CacheManagerService
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private readonly logger = new Logger('CacheManager');
  readonly instance = `cm-${randomBytes(6).toString('hex')}`;
  private readonly view: ClusterView;
  private readonly directory: ModelDirectory;
  private readonly usage: UsageTracker;
  private readonly stats = new CacheStats();
  /**
   * Pairs an operator unloaded (or deleted, or drained after an alias move): predictive
   * preloading leaves them alone until a request or an operator asks for them again.
   */
  private readonly dismissed = new Set<string>();
  private readonly params: PolicyParams;
  private readonly inflight = new Map<string, Promise<EnsureLoadedResponse>>();
  private readonly startedAtMs = Date.now();
  private epoch = 0;
  private lastRoutes = '';
  private timers: NodeJS.Timeout[] = [];
  private subscription: BusSubscription | null = null;
  private maintaining = false;
  private readonly joinListeners = new Set<() => void>();
  private readonly rankings = new Map<
    string,
    { changes: number; directory: number; atMs: number; ranked: RankedModel[] }
  >();

  constructor(
    private readonly messaging: Messaging,
    @Inject(CACHE_MANAGER_SETTINGS)
    private readonly settings: CacheManagerSettings,
    private readonly metrics: CacheManagerMetrics,
  ) {
    this.view = new ClusterView(
      settings.runtimeTimeoutMs,
      LOST_RUNTIME_RETENTION_MS,
    );
    this.directory = new ModelDirectory(messaging);
    this.params = {
      ...DEFAULT_POLICY_PARAMS,
      ...settings.policy,
      copies: {
        ...DEFAULT_POLICY_PARAMS.copies,
        ...settings.policy?.copies,
        maxCopies:
          settings.maxCopies ??
          settings.policy?.copies?.maxCopies ??
          DEFAULT_POLICY_PARAMS.copies.maxCopies,
      },
    };
    this.usage = new UsageTracker(this.params);
    metrics.watch(() => this.status());
  }

  onApplicationBootstrap(): void {
    const tick = Math.max(
      100,
      Math.min(1000, Math.floor(this.settings.runtimeTimeoutMs / 4)),
    );
    this.subscription = this.messaging.on(Registry.modelChanged, (e) => {
      void this.directory.refresh(e.model_id);
      // What the registry no longer has must not keep serving (a request may have
      // loaded it again between the admin's unload and the deletion).
      if (e.change === 'deleted' || e.change === 'version_deleted')
        void this.unloadAll(e.model_id, e.version, 'deleted');
    });
    this.timers = [
      setInterval(() => this.expireRuntimes(), tick),
      setInterval(
        () => this.publishRouting(true),
        this.settings.routingRepublishMs,
      ),
      setInterval(
        () => void this.maintain(),
        this.settings.maintenanceIntervalMs ?? 1000,
      ),
    ];
  }

  onModuleDestroy(): void {
    for (const t of this.timers) clearInterval(t);
    this.subscription?.unsubscribe();
  }

  onHeartbeat(hb: RuntimeHeartbeat): void {
    const now = Date.now();
    const isNew = !this.view.has(hb.node_id);
    for (const m of hb.models)
      this.usage.observe(hb.node_id, m, now, hb.started_at);
    if (this.view.applyHeartbeat(hb, now)) this.publishRouting(false);
    if (isNew) {
      this.logger.log(
        `runtime ${hb.node_id} joined (capacity ${hb.capacity_bytes} bytes, soft limit ${hb.soft_limit_bytes})`,
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
      this.usage.forgetRuntime(nodeId);
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
    if (serving.length) {
      this.metrics.lookup('loaded');
      return { node_id: serving[0], loaded_now: false };
    }
    const running = this.inflight.get(k);
    if (running) {
      this.metrics.lookup('joined');
      return running;
    }
    this.metrics.lookup('placed');
    const load = this.placeAvoiding(req.model_id, req.version, exclude)
      .then((r) => ({ node_id: r.nodeId, loaded_now: r.loadedNow }))
      .finally(() => this.inflight.delete(k));
    this.inflight.set(k, load);
    return load;
  }

  /**
   * A miss's placement away from the nodes its caller excluded. Those that answered our
   * ping (see ensure) are slow, not dead: when no other runtime can take the model,
   * one of them serves it after all (a copy it holds, else a load there) rather than
   * the request failing with NO_RUNTIME.
   */
  private async placeAvoiding(
    modelId: string,
    version: number,
    exclude: string[],
  ): Promise<{ nodeId: string; loadedNow: boolean }> {
    try {
      return await this.place(modelId, version, [...exclude], 'miss');
    } catch (e) {
      const alive = exclude.filter((nodeId) => this.view.has(nodeId));
      if (
        !(e instanceof PortfolioError) ||
        e.code !== 'NO_RUNTIME' ||
        alive.length === 0
      )
        throw e;
      const k = key(modelId, version);
      const serving = this.view.nodesServing(k);
      if (serving.length) return { nodeId: serving[0], loadedNow: false };
      return this.place(modelId, version, [], 'miss', false);
    }
  }

  /** An operator's load: `copies` runtimes hold the model when it returns. */
  async adminLoad(req: AdminLoadRequest): Promise<AdminLoadResponse> {
    const k = key(req.model_id, req.version);
    const wanted = req.copies ?? 1;
    for (let n = this.view.nodesServing(k).length; n < wanted; n++) {
      await this.place(req.model_id, req.version, [], 'admin');
    }
    return {
      model_id: req.model_id,
      version: req.version,
      nodes: this.view.nodesServing(k).sort(),
    };
  }

  /** An operator's unload of every copy (of one version, or of all): waits for requests in flight. */
  adminUnload(req: AdminUnloadRequest): Promise<AdminUnloadResponse> {
    return this.unloadAll(req.model_id, req.version, req.reason ?? 'admin');
  }

  private async unloadAll(
    modelId: string,
    version: number | undefined,
    reason: EvictionReason,
  ): Promise<AdminUnloadResponse> {
    // Unloaded on purpose: predictive preloading must not bring it straight back.
    for (const k of this.usage.knownKeys())
      if (
        splitKey(k).modelId === modelId &&
        (version === undefined || splitKey(k).version === version)
      )
        this.dismissed.add(k);
    if (version !== undefined) this.dismissed.add(key(modelId, version));
    const targets: { nodeId: string; k: string; version: number }[] = [];
    for (const { nodeId, report } of this.view.modelReports())
      if (
        report.model_id === modelId &&
        (version === undefined || report.version === version) &&
        report.state === 'loaded'
      )
        targets.push({
          nodeId,
          k: key(report.model_id, report.version),
          version: report.version,
        });
    const freed = await Promise.all(
      targets.map((t) => this.unloadOne(t.nodeId, t.k, reason)),
    );
    return {
      model_id: modelId,
      unloaded: targets
        .map((t, i) => ({
          node_id: t.nodeId,
          version: t.version,
          freed_bytes: freed[i] ?? 0,
        }))
        .filter((_, i) => freed[i] !== null),
    };
  }

  /** True when some runtime holds (model, version) loaded and routable. */
  isServing(modelId: string, version: number): boolean {
    return this.view.nodesServing(key(modelId, version)).length > 0;
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
    return buildStatus(
      this.view,
      this.stats,
      this.states(),
      this.settings.quotas ?? null,
    );
  }

  /**
   * Background work (see planMaintenance): unloads over soft limits and after TTLs,
   * copies of hot models, predictive preloading. One round at a time; none before the
   * view is warm and the registry's records are known.
   */
  async maintain(): Promise<void> {
    const now = Date.now();
    const warmup = this.settings.warmupMs ?? this.settings.runtimeTimeoutMs;
    if (this.maintaining || now - this.startedAtMs < warmup) return;
    this.maintaining = true;
    try {
      if (!this.directory.complete) await this.directory.refreshAll();
      await this.directory.fetchMissing(this.view.residentModelIds());
      const actions = planMaintenance(
        {
          runtimes: this.states(),
          preload: [],
          candidates:
            this.settings.predictivePreload === false
              ? []
              : this.predictiveCandidates(),
          utilization: (k) => this.usage.busyWorkers(k, now),
        },
        this.context(now),
      );
      await this.execute(actions);
    } catch (e) {
      this.logger.warn(
        `maintenance round failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    } finally {
      this.maintaining = false;
    }
  }

  private async execute(actions: MaintenanceAction[]): Promise<void> {
    const unloads = actions.filter((a) => a.kind === 'unload');
    await Promise.all(
      unloads.map((a) => this.unloadOne(a.nodeId, a.key, a.reason)),
    );
    for (const a of actions) {
      if (a.kind !== 'load' || !a.nodeId) continue;
      const { modelId, version } = splitKey(a.key);
      try {
        const resolved = await this.messaging.call(Registry.resolveVersion, {
          model_id: modelId,
          version,
        });
        this.directory.put(resolved.model);
        const nodeId = a.nodeId;
        // A trace of its own: nothing traced asked for it.
        await inSpan(
          'cache.maintain.load',
          {
            'portfolio.model.id': modelId,
            'portfolio.model.version': version,
            'portfolio.node.id': nodeId,
            'portfolio.load.reason': a.reason,
          },
          () =>
            this.loadOn(
              nodeId,
              resolved.model,
              resolved.version,
              a.bytes,
              a.reason,
            ),
        );
      } catch (e) {
        this.logger.warn(
          `${a.reason} load of ${a.key} on ${a.nodeId} failed: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
  }

  private predictiveCandidates(): { key: string; bytes: number }[] {
    const out: { key: string; bytes: number }[] = [];
    for (const k of this.usage.knownKeys()) {
      const bytes = this.usage.measuredBytes(k);
      const { modelId } = splitKey(k);
      if (bytes === null || !this.directory.get(modelId)) continue;
      if (this.stats.get(k)?.failure || this.dismissed.has(k)) continue;
      out.push({ key: k, bytes });
    }
    return out;
  }

  /**
   * Loads (model, version) on the runtime the policy picks, unloading the victims it
   * names first (synchronously: the load starts only once they are gone). `reason`: a
   * request's miss (counted as such), or an operator's load.
   */
  private place(
    modelId: string,
    versionNumber: number,
    exclude: string[],
    reason: 'miss' | 'admin',
    countMiss = reason === 'miss',
  ): Promise<{ nodeId: string; loadedNow: boolean }> {
    return inSpan(
      'cache.place',
      {
        'portfolio.model.id': modelId,
        'portfolio.model.version': versionNumber,
        'portfolio.load.reason': reason,
        'portfolio.placement.excluded': exclude.length,
      },
      async (span) => {
        const placed = await this.placeNow(
          modelId,
          versionNumber,
          exclude,
          reason,
          countMiss,
        );
        span?.setAttributes({
          'portfolio.node.id': placed.nodeId,
          'portfolio.load.loaded_now': placed.loadedNow,
        });
        return placed;
      },
    );
  }

  private async placeNow(
    modelId: string,
    versionNumber: number,
    exclude: string[],
    reason: 'miss' | 'admin',
    countMiss: boolean,
  ): Promise<{ nodeId: string; loadedNow: boolean }> {
    const k = key(modelId, versionNumber);
    this.dismissed.delete(k);
    const { model, version } = await this.messaging.call(
      Registry.resolveVersion,
      { model_id: modelId, version: versionNumber },
    );
    this.directory.put(model);
    if (countMiss) {
      this.stats.for(k).misses++;
      this.usage.recordMiss(k, Date.now());
    }
    let bytes = this.expectedBytes(k, model, version);
    // Room for the load's peak, not only its steady size: the runtime counts it so.
    let room = this.usage.loadPeak(k, bytes);
    const raisedOn = new Map<string, number>();
    // Memory a runtime said it lacks although our view counted it free (its RSS holds
    // more than its books): planned for as used, on that runtime, for this placement.
    const hidden = new Map<string, number>();
    // Waiting for room held by work in progress is bounded: work that does not end
    // (a request that never returns) must turn into a 507 naming it, not a hang.
    const deadline =
      Date.now() + Math.min(this.settings.loadTimeoutMs, ROOM_WAIT_MAX_MS);

    let lastError: PortfolioError | null = null;
    for (let attempt = 0; attempt < MAX_PLACEMENT_ATTEMPTS; attempt++) {
      await this.directory.fetchMissing(this.view.residentModelIds());
      const now = Date.now();
      const decidedFrom = performance.now();
      const decision = placeModel(
        this.states().map((r) =>
          hidden.has(r.nodeId)
            ? { ...r, usedBytes: r.usedBytes + (hidden.get(r.nodeId) ?? 0) }
            : r,
        ),
        {
          key: k,
          bytes: room,
          steadyBytes: bytes,
          exclude,
          quota: this.quotaOf(model),
        },
        this.context(now),
      );
      this.metrics.decided(
        decision.kind,
        (performance.now() - decidedFrom) / 1000,
      );
      if (decision.kind !== 'place') {
        // Held only by loads, unloads and requests in progress: room is coming.
        if (
          decision.kind === 'no-room' &&
          roomComing(decision, room) &&
          Date.now() < deadline
        ) {
          await new Promise((r) => setTimeout(r, ROOM_POLL_MS));
          attempt--;
          continue;
        }
        throw lastError ?? this.refusal(k, bytes, room, decision);
      }
      const nodeId = decision.nodeId;
      // Decided and reserved in one synchronous step: a concurrent placement sees both.
      for (const v of decision.victims)
        this.view.beginUnload(v.nodeId, v.model.key);
      this.view.reserve(nodeId, k, room);
      if (decision.victims.length) this.publishRouting(false);
      try {
        await Promise.all(
          decision.victims.map((v) =>
            this.unloadOne(v.nodeId, v.model.key, v.reason, true),
          ),
        );
        const loadedNow = await this.loadOn(
          nodeId,
          model,
          version,
          bytes,
          reason,
          room,
        );
        return { nodeId, loadedNow };
      } catch (e) {
        if (!(e instanceof PortfolioError)) throw e;
        if (
          e.code === 'SERVICE_UNAVAILABLE' &&
          e.details?.['bus'] === 'no_responders'
        ) {
          this.runtimeLost(nodeId, 'does not answer');
        } else if (
          e.code === 'INSUFFICIENT_MEMORY' &&
          (raisedOn.get(nodeId) ?? 0) < MAX_RAISES_PER_RUNTIME
        ) {
          // The runtime counts more than our view did; a few times per runtime, plan for
          // what it says. It loaded the model and measured more than planned: plan for that.
          const raised = (raisedOn.get(nodeId) ?? 0) + 1;
          const measured = e.details?.['measured_bytes'];
          if (typeof measured === 'number' && measured > bytes) {
            raisedOn.set(nodeId, raised);
            this.usage.recordMeasured(k, measured, null);
            bytes = measured;
            room = this.usage.loadPeak(k, bytes);
            lastError = e;
            continue;
          }
          // Its RSS or its books hold more than our view: that much less room there
          // (plus a margin for what moves meanwhile), so victims or another runtime follow.
          // After victims were unloaded, what it still lacks comes on top of what was planned.
          const short = shortfall(e);
          if (short > 0) {
            raisedOn.set(nodeId, raised);
            hidden.set(
              nodeId,
              (hidden.get(nodeId) ?? 0) +
                short +
                Math.min(HIDDEN_MARGIN_BYTES, Math.ceil(room / 4)),
            );
            lastError = e;
            continue;
          }
        } else if (
          e.code !== 'INSUFFICIENT_MEMORY' &&
          e.code !== 'SERVICE_UNAVAILABLE'
        ) {
          // Its own accounting may disagree with our view (those two): another runtime may do.
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

  /** Runtime.load on one node, with the bookkeeping; returns whether it loaded now. */
  private async loadOn(
    nodeId: string,
    model: ModelRecord,
    version: VersionRecord,
    bytes: number,
    reason: string,
    room = this.usage.loadPeak(key(model.id, version.version), bytes),
  ): Promise<boolean> {
    const k = key(model.id, version.version);
    const stats = this.stats.for(k);
    this.view.reserve(nodeId, k, room);
    try {
      const res = await this.whileAlive(
        nodeId,
        this.messaging.call(
          Runtime.load,
          {
            model_id: model.id,
            version: version.version,
            format: version.format,
            artifact_uri: version.artifact_uri,
            sha256: version.sha256,
            size_bytes: version.size_bytes,
            memory_estimate_bytes: bytes,
            expected_peak_bytes: room,
            ...(model.max_batch_size != null
              ? { max_batch: model.max_batch_size }
              : {}),
            ...(model.max_queue_delay_ms != null
              ? { max_queue_delay_ms: model.max_queue_delay_ms }
              : {}),
            ...(model.engine != null ? { engine: model.engine } : {}),
            ...(model.processing != null
              ? { processing: model.processing }
              : {}),
          },
          { target: nodeId, timeoutMs: this.settings.loadTimeoutMs },
        ),
      );
      this.view.recordLoaded(nodeId, res);
      this.usage.recordMeasured(k, res.memory_bytes, res.load_ms);
      if (res.peak_bytes !== undefined)
        this.usage.recordPeak(k, res.memory_bytes, res.peak_bytes);
      if (res.loaded_now)
        this.messaging.emit(Registry.versionMeasured, {
          model_id: model.id,
          version: version.version,
          memory_bytes: res.memory_bytes,
          load_ms: res.load_ms,
          node_id: nodeId,
          measured_at: new Date().toISOString(),
        });
      if (res.loaded_now) {
        this.metrics.loaded(model.id, version.version, nodeId, reason);
        stats.loads++;
        stats.loadMs = res.load_ms;
        this.announce(
          'loaded',
          k,
          nodeId,
          res.memory_bytes,
          res.load_ms,
          reason,
        );
        this.logger.log(
          `loaded ${k} on ${nodeId} (${reason}): ${res.memory_bytes} bytes in ${res.load_ms.toFixed(0)} ms`,
        );
      }
      stats.failure = null;
      this.publishRouting(false);
      return res.loaded_now;
    } catch (e) {
      if (
        e instanceof PortfolioError &&
        (e.code === 'MODEL_LOAD_FAILED' ||
          e.code === 'INVALID_ARTIFACT' ||
          e.code === 'TIMEOUT')
      ) {
        stats.failure = e.message;
        this.metrics.loadFailed(model.id, version.version, nodeId);
        this.announce('load_failed', k, nodeId, null, null, e.message);
      }
      // Maintenance loads say so where they are started (execute).
      if (reason === 'miss' || reason === 'admin')
        this.logger.warn(
          `loading ${k} on ${nodeId} (${reason}) failed: ${e instanceof PortfolioError ? `${e.code}: ` : ''}${e instanceof Error ? e.message : String(e)}`,
        );
      throw e;
    } finally {
      this.view.release(nodeId, k);
    }
  }

  private announce(
    kind: CacheModelEvent['kind'],
    k: string,
    nodeId: string,
    bytes: number | null,
    loadMs: number | null,
    reason: string | null,
  ): void {
    const { modelId, version } = splitKey(k);
    this.messaging.emit(CacheManager.modelEvent, {
      kind,
      model_id: modelId,
      version,
      node_id: nodeId,
      bytes,
      load_ms: loadMs,
      reason,
      at: new Date().toISOString(),
    });
  }

  /**
   * Waits for a call to a runtime, pinging the runtime meanwhile: a load can take
   * minutes, and a runtime that dies during it (killed, out of memory) would otherwise
   * keep its callers waiting for the whole load timeout. A runtime that stops answering
   * pings fails the call at once as "no responders", which the callers treat as a lost
   * runtime (they place the model elsewhere).
   */
  private whileAlive<T>(nodeId: string, call: Promise<T>): Promise<T> {
    let settled = false;
    let failures = 0;
    let timer: NodeJS.Timeout | undefined;
    const watch = new Promise<never>((_, reject) => {
      const check = async () => {
        if (settled) return;
        try {
          await this.messaging.call(
            Runtime.ping,
            {},
            { target: nodeId, timeoutMs: LIVENESS_PING_MS },
          );
          failures = 0;
          if (!settled)
            timer = setTimeout(() => void check(), LOAD_LIVENESS_INTERVAL_MS);
        } catch (e) {
          if (settled) return;
          // Two misses in a row: one slow answer on a busy machine is not a death.
          if (meansGone(e) && ++failures >= 2)
            reject(
              new PortfolioError(
                'SERVICE_UNAVAILABLE',
                `runtime ${nodeId} stopped answering during the call`,
                { bus: 'no_responders', node_id: nodeId },
              ),
            );
          else
            timer = setTimeout(() => void check(), LOAD_LIVENESS_INTERVAL_MS);
        }
      };
      timer = setTimeout(() => void check(), LOAD_LIVENESS_INTERVAL_MS);
    });
    watch.catch(() => undefined);
    return Promise.race([call, watch]).finally(() => {
      settled = true;
      clearTimeout(timer);
    });
  }

  /**
   * Unloads one model from one runtime (the runtime waits for its requests in flight).
   * Returns the bytes freed, or null when it did not happen. `marked`: the caller has
   * already marked it as unloading in the view.
   */
  private unloadOne(
    nodeId: string,
    k: string,
    reason: EvictionReason,
    marked = false,
  ): Promise<number | null> {
    if (!marked && !this.view.beginUnload(nodeId, k))
      return Promise.resolve(null);
    const { modelId, version } = splitKey(k);
    return inSpan(
      'cache.unload',
      {
        'portfolio.model.id': modelId,
        'portfolio.model.version': version,
        'portfolio.node.id': nodeId,
        'portfolio.unload.reason': reason,
      },
      () => this.unloadMarked(nodeId, k, reason),
    );
  }

  private async unloadMarked(
    nodeId: string,
    k: string,
    reason: EvictionReason,
  ): Promise<number | null> {
    this.publishRouting(false);
    const { modelId, version } = splitKey(k);
    try {
      // Watched like a load: a runtime killed with the unload in hand would otherwise
      // hold the placement waiting for it (victims go before the load) for the whole
      // load timeout.
      const res = await this.whileAlive(
        nodeId,
        this.messaging.call(
          Runtime.unload,
          { model_id: modelId, version, reason },
          { target: nodeId, timeoutMs: this.settings.loadTimeoutMs },
        ),
      );
      this.view.recordUnloaded(nodeId, k, res);
      if (res.was_loaded) {
        this.metrics.evicted(modelId, version, nodeId, reason);
        this.stats.evicted(k, reason);
        this.announce('unloaded', k, nodeId, res.freed_bytes, null, reason);
        this.logger.log(
          `unloaded ${k} from ${nodeId} (reason: ${reason}), freeing ${res.freed_bytes} bytes`,
        );
      }
      this.publishRouting(false);
      return res.freed_bytes;
    } catch (e) {
      this.view.endUnload(nodeId, k);
      this.logger.warn(
        `unloading ${k} from ${nodeId} (${reason}) failed: ${e instanceof Error ? e.message : String(e)}`,
      );
      return null;
    }
  }

  /** Measured once loaded somewhere; the operator's declaration until then; else the file plus a margin. */
  /**
   * What a load is expected to take: the operator's declaration when marked
   * authoritative; else the measurement (this cache-manager's own, then the registry's,
   * which outlives restarts); else the declaration; else the file plus a margin.
   */
  private expectedBytes(
    k: string,
    model: ModelRecord,
    version: VersionRecord,
  ): number {
    if (model.memory_estimate_authoritative && model.memory_estimate_bytes)
      return model.memory_estimate_bytes;
    return (
      this.usage.measuredBytes(k) ??
      version.measured?.memory_bytes ??
      model.memory_estimate_bytes ??
      Math.ceil(version.size_bytes * UNMEASURED_OVERHEAD)
    );
  }

  private quotaOf(
    model: ModelRecord,
  ): { group: string; limitBytes: number } | undefined {
    const q = this.settings.quotas;
    const group = q ? model.labels[q.label] : undefined;
    if (!q || group === undefined) return undefined;
    const limit = q.limitsBytes[group];
    return limit === undefined ? undefined : { group, limitBytes: limit };
  }

  private info(modelId: string): ModelInfo | null {
    const m = this.directory.get(modelId);
    if (!m) return null;
    const label = this.settings.quotas?.label;
    return {
      pinned: m.pinned,
      preload: m.preload,
      ttlMs: m.ttl_ms ?? this.settings.ttlMs ?? null,
      group: label ? (m.labels[label] ?? null) : null,
    };
  }

  /**
   * The runtimes as placement sees them, each with its eviction ranking: kept until the
   * runtime or a model record changes, or a second passes (see rankForEviction), so a
   * miss costs one pass over the runtimes rather than a ranking of every model loaded.
   */
  private states(): RuntimeState[] {
    const now = Date.now();
    const ctx = this.context(now);
    return this.view
      .runtimeStates((id) => this.info(id))
      .map((state) => {
        const changes = this.view.changeCount(state.nodeId);
        const kept = this.rankings.get(state.nodeId);
        if (
          kept &&
          kept.changes === changes &&
          kept.directory === this.directory.version &&
          now - kept.atMs < RANKING_MAX_AGE_MS
        )
          return { ...state, ranked: kept.ranked };
        const ranked = rankForEviction(state, ctx);
        this.rankings.set(state.nodeId, {
          changes,
          directory: this.directory.version,
          atMs: now,
          ranked,
        });
        return { ...state, ranked };
      });
  }

  private context(nowMs: number): PolicyContext {
    return { nowMs, params: this.params, facts: (k) => this.usage.facts(k) };
  }

  /** The 507 (or 503) for a model that cannot be placed, naming what holds the memory. */
  private refusal(
    k: string,
    bytes: number,
    room: number,
    decision: Exclude<PlaceDecision, { kind: 'place' }>,
  ): PortfolioError {
    const { modelId, version } = splitKey(k);
    switch (decision.kind) {
      case 'no-runtime':
        return new PortfolioError(
          'NO_RUNTIME',
          `no runtime is available to load ${k}`,
          {
            model_id: modelId,
          },
        );
      case 'over-quota':
        return new PortfolioError(
          'INSUFFICIENT_MEMORY',
          `${k} needs about ${bytes} bytes and its quota group "${decision.group}" holds ${decision.groupUsedBytes} of its ${decision.limitBytes} bytes in models that cannot be unloaded now (pinned or in use)`,
          {
            model_id: modelId,
            version,
            needed_bytes: bytes,
            quota: {
              group: decision.group,
              limit_bytes: decision.limitBytes,
              used_bytes: decision.groupUsedBytes,
            },
          },
        );
      case 'no-room': {
        if (room > decision.largestCapacityBytes)
          return new PortfolioError(
            'INSUFFICIENT_MEMORY',
            `${k} needs about ${bytes} bytes (${room} while it loads), more than any runtime's capacity (largest: ${decision.largestCapacityBytes})`,
            {
              model_id: modelId,
              version,
              needed_bytes: bytes,
              largest_capacity_bytes: decision.largestCapacityBytes,
            },
          );
        const held = decision.runtimes.map((r) => ({
          node_id: r.nodeId,
          free_bytes: r.freeBytes,
          pinned: r.held.pinned.map((m) => m.key),
          in_use: r.held.in_use.map((m) => m.key),
          loading_or_unloading: r.held.busy.map((m) => m.key),
        }));
        const describe = (label: string, keys: string[]) =>
          keys.length ? `${label}: ${keys.join(', ')}` : null;
        const why = held
          .map((h) =>
            [
              describe('pinned', h.pinned),
              describe('in use', h.in_use),
              describe('loading or unloading', h.loading_or_unloading),
            ]
              .filter(Boolean)
              .join('; '),
          )
          .filter(Boolean);
        const mostFree = Math.max(0, ...held.map((h) => h.free_bytes));
        return new PortfolioError(
          'INSUFFICIENT_MEMORY',
          `${k} needs about ${bytes} bytes (${room} while it loads) and no runtime can make that much room (most free: ${mostFree})${why.length ? `; held by models that cannot be unloaded now: ${[...new Set(why)].join(' | ')}` : ''}`,
          {
            model_id: modelId,
            version,
            needed_bytes: bytes,
            load_peak_bytes: room,
            runtimes: held,
          },
        );
      }
    }
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
      if (meansGone(e))
        this.runtimeLost(nodeId, 'failed a request and does not answer a ping');
    }
  }

  private expireRuntimes(): void {
    // Without the bus no report can arrive: silence says nothing about the runtimes.
    if (!this.messaging.bus.isConnected()) return;
    const now = Date.now();
    for (const nodeId of this.view.silentRuntimes(now))
      this.runtimeLost(
        nodeId,
        `has been silent for over ${this.settings.runtimeTimeoutMs} ms`,
      );
    this.view.expire(now);
  }

  /**
   * A runtime is gone without saying so: drop it (reported lost until it returns), and
   * load again at once, elsewhere, the models it held that were in demand (expected
   * to be asked for within the predictive horizon) and are loaded nowhere else; the
   * others are re-placed on their next request.
   */
  private runtimeLost(nodeId: string, why: string): void {
    const held = this.view.loadedKeys(nodeId);
    if (!this.view.markLost(nodeId, Date.now())) return;
    this.usage.forgetRuntime(nodeId);
    this.publishRouting(false);
    const now = Date.now();
    const { horizonMs, minExpectedRequests } = this.params.preload;
    const hot = held.filter(
      (k) =>
        !this.view.nodesServing(k).length &&
        (requestRate(this.usage.facts(k)?.usage, now, this.params) *
          horizonMs) /
          1000 >=
          minExpectedRequests,
    );
    this.logger.warn(
      `runtime ${nodeId} ${why}: declared dead; ${held.length} models lost${hot.length ? `, reloading the ones in demand elsewhere: ${hot.join(', ')}` : ''}`,
    );
    for (const k of hot) {
      const { modelId, version } = splitKey(k);
      this.ensure({ model_id: modelId, version }).catch((e: unknown) =>
        this.logger.warn(
          `reloading ${k} after losing ${nodeId} failed: ${e instanceof Error ? e.message : String(e)}`,
        ),
      );
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
