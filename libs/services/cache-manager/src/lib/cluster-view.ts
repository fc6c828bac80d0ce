import {
  LoadedModelReport,
  LoadModelResponse,
  Route,
  RuntimeHeartbeat,
  RuntimeStatus,
  UnloadModelResponse,
} from '@portfolio/contracts';
import { ResidentModel, RuntimeState } from '@portfolio/placement';

/** What placement needs of a model's registry record; null when the record is not known yet. */
export type ModelInfo = Pick<
  ResidentModel,
  'pinned' | 'preload' | 'ttlMs' | 'group'
>;

interface RuntimeEntry {
  heartbeat: RuntimeHeartbeat;
  lastSeenMs: number;
  /** Highest state_version applied to `models` (from a heartbeat or a load/unload reply). */
  stateVersion: number;
  models: Map<string, LoadedModelReport>;
  /** Loads this cache-manager started here and has not seen completed: key -> bytes. */
  reservations: Map<string, number>;
  /** Unloads this cache-manager asked for here and has not seen completed. */
  unloading: Set<string>;
  /** Bumped by every change of what this view knows of the runtime. */
  changes: number;
}

/** A runtime that stopped answering without saying it was stopping: reported until it returns. */
interface LostRuntime {
  status: RuntimeStatus;
  lostAtMs: number;
}

export const key = (modelId: string, version: number) =>
  `${modelId}@${version}`;

/**
 * The cluster as the cache-manager sees it: soft state rebuilt from runtime reports.
 * Runtimes are the source of truth for what they hold; this view only adds the loads
 * it has started itself (reservations), so two placements in quick succession do not
 * both count the same free memory. No clock of its own: callers pass `nowMs`.
 */
export class ClusterView {
  private readonly runtimes = new Map<string, RuntimeEntry>();
  private readonly lost = new Map<string, LostRuntime>();

  /**
   * @param lostRetentionMs how long a lost runtime is still reported (`alive: false`) when
   *   it does not come back: long enough for anyone watching health to see it, short
   *   enough that a node replaced under a new id stops counting against the cluster.
   */
  constructor(
    private readonly runtimeTimeoutMs: number,
    private readonly lostRetentionMs: number,
  ) {}

  /** Returns true when the routes may have changed. */
  applyHeartbeat(hb: RuntimeHeartbeat, nowMs: number): boolean {
    this.lost.delete(hb.node_id);
    const entry = this.runtimes.get(hb.node_id);
    // A runtime that restarted (new started_at) starts over from its own report.
    if (!entry || entry.heartbeat.started_at !== hb.started_at) {
      this.runtimes.set(hb.node_id, {
        heartbeat: hb,
        lastSeenMs: nowMs,
        stateVersion: hb.state_version,
        models: new Map(hb.models.map((m) => [key(m.model_id, m.version), m])),
        reservations: entry?.reservations ?? new Map(),
        unloading: new Set(),
        changes: (entry?.changes ?? 0) + 1,
      });
      return true;
    }
    entry.heartbeat = hb;
    entry.lastSeenMs = nowMs;
    entry.changes++;
    if (hb.state_version < entry.stateVersion) return false;
    entry.stateVersion = hb.state_version;
    entry.models = new Map(
      hb.models.map((m) => [key(m.model_id, m.version), m]),
    );
    for (const k of entry.unloading)
      if (!entry.models.has(k)) entry.unloading.delete(k);
    return true;
  }

  recordLoaded(nodeId: string, res: LoadModelResponse): void {
    const entry = this.runtimes.get(nodeId);
    // Equal versions still apply: the reply is as fresh as the last report, and the pair
    // may have been forgotten since (stale_nodes).
    if (!entry || res.state_version < entry.stateVersion) return;
    entry.stateVersion = res.state_version;
    entry.changes++;
    const k = key(res.model_id, res.version);
    const previous = entry.models.get(k);
    entry.models.set(k, {
      model_id: res.model_id,
      version: res.version,
      state: 'loaded',
      memory_bytes: res.memory_bytes,
      loaded_at: new Date().toISOString(),
      last_used_at: previous?.last_used_at ?? null,
      requests: previous?.requests ?? 0,
      errors: previous?.errors ?? 0,
      in_flight: 0,
      busy_ms: previous?.busy_ms ?? 0,
      load_ms: res.load_ms,
      reason: null,
    });
  }

  /** Marks a model this cache-manager is unloading: no longer routed, not evictable, still counted. */
  beginUnload(nodeId: string, k: string): boolean {
    const entry = this.runtimes.get(nodeId);
    const m = entry?.models.get(k);
    if (!entry || !m || entry.unloading.has(k)) return false;
    entry.unloading.add(k);
    entry.changes++;
    return true;
  }

  /** The runtime answered the unload: the model is gone (or never was). */
  recordUnloaded(nodeId: string, k: string, res: UnloadModelResponse): void {
    const entry = this.runtimes.get(nodeId);
    if (!entry) return;
    entry.unloading.delete(k);
    entry.changes++;
    if (res.state_version < entry.stateVersion) return;
    entry.stateVersion = res.state_version;
    entry.models.delete(k);
  }

  /** The unload failed: the runtime's next report says what it holds. */
  endUnload(nodeId: string, k: string): void {
    const entry = this.runtimes.get(nodeId);
    if (entry?.unloading.delete(k)) entry.changes++;
  }

  /** Runtimes silent for longer than the timeout (not yet dropped). */
  silentRuntimes(nowMs: number): string[] {
    const out: string[] = [];
    for (const [nodeId, entry] of this.runtimes)
      if (nowMs - entry.lastSeenMs > this.runtimeTimeoutMs) out.push(nodeId);
    return out;
  }

  /** Keys of the models a runtime holds loaded. */
  loadedKeys(nodeId: string): string[] {
    const entry = this.runtimes.get(nodeId);
    if (!entry) return [];
    return [...entry.models.entries()]
      .filter(([, m]) => m.state === 'loaded')
      .map(([k]) => k);
  }

  /** Changes of a runtime's entry so far: equal counts mean nothing changed in between. */
  changeCount(nodeId: string): number {
    return this.runtimes.get(nodeId)?.changes ?? -1;
  }

  /** Drops one model from a runtime's entry until its next report says otherwise. */
  forget(nodeId: string, k: string): void {
    const entry = this.runtimes.get(nodeId);
    if (entry?.models.delete(k)) entry.changes++;
  }

  reserve(nodeId: string, k: string, bytes: number): void {
    const entry = this.runtimes.get(nodeId);
    if (!entry) return;
    entry.reservations.set(k, bytes);
    entry.changes++;
  }

  release(nodeId: string, k: string): void {
    const entry = this.runtimes.get(nodeId);
    if (entry?.reservations.delete(k)) entry.changes++;
  }

  /** Forgets a runtime that said it is stopping: leaving on purpose is not a loss. */
  remove(nodeId: string): boolean {
    this.lost.delete(nodeId);
    return this.runtimes.delete(nodeId);
  }

  /**
   * Drops a runtime that stopped answering, with its models and reservations, and
   * reports it as lost until it sends a heartbeat again (or for lostRetentionMs).
   */
  markLost(nodeId: string, nowMs: number): boolean {
    const entry = this.runtimes.get(nodeId);
    if (!entry) return false;
    this.lost.set(nodeId, {
      status: {
        ...this.statusOf(entry),
        alive: false,
        used_bytes: 0,
        memory: {
          models_bytes: 0,
          loading_bytes: 0,
          unloading_bytes: 0,
          base_bytes: entry.heartbeat.base_bytes,
        },
        models_loaded: 0,
      },
      lostAtMs: nowMs,
    });
    return this.runtimes.delete(nodeId);
  }

  /**
   * Runtimes silent for longer than the timeout are dropped as lost; returns their ids.
   * Lost runtimes older than the retention are forgotten.
   */
  expire(nowMs: number): string[] {
    const dead: string[] = [];
    for (const [nodeId, entry] of this.runtimes) {
      if (nowMs - entry.lastSeenMs > this.runtimeTimeoutMs) dead.push(nodeId);
    }
    for (const nodeId of dead) this.markLost(nodeId, nowMs);
    for (const [nodeId, lost] of this.lost) {
      if (nowMs - lost.lostAtMs > this.lostRetentionMs)
        this.lost.delete(nodeId);
    }
    return dead;
  }

  /** Nodes where the model is loaded and serving, fewest requests in flight first. */
  nodesServing(k: string, exclude: readonly string[] = []): string[] {
    const out: { nodeId: string; inFlight: number }[] = [];
    for (const [nodeId, entry] of this.runtimes) {
      if (exclude.includes(nodeId)) continue;
      const m = entry.models.get(k);
      if (m?.state === 'loaded' && !entry.unloading.has(k))
        out.push({ nodeId, inFlight: m.in_flight });
    }
    return out
      .sort(
        (a, b) => a.inFlight - b.inFlight || a.nodeId.localeCompare(b.nodeId),
      )
      .map((x) => x.nodeId);
  }

  /**
   * The runtimes as placement sees them. A model whose record is not known is treated
   * as pinned (never evicted on a guess); loads in progress count at their reservation,
   * unloads in progress as still used.
   */
  runtimeStates(info: (modelId: string) => ModelInfo | null): RuntimeState[] {
    return [...this.runtimes.values()].map((e) => {
      const models: ResidentModel[] = [];
      let requestsInFlight = 0;
      let loadsInFlight = 0;
      for (const [k, m] of e.models) {
        if (m.state === 'failed' || m.state === 'unloaded') continue;
        const known = info(m.model_id);
        requestsInFlight += m.in_flight;
        if (m.state === 'loading') loadsInFlight++;
        models.push({
          key: k,
          modelId: m.model_id,
          state: e.unloading.has(k) ? 'unloading' : m.state,
          bytes: m.memory_bytes,
          pinned: known?.pinned ?? true,
          preload: known?.preload ?? false,
          inFlight: m.in_flight,
          loadedAtMs: m.loaded_at ? Date.parse(m.loaded_at) : null,
          lastUsedMs: m.last_used_at ? Date.parse(m.last_used_at) : null,
          ttlMs: known?.ttlMs ?? null,
          group: known?.group ?? null,
        });
      }
      for (const [k, bytes] of e.reservations) {
        if (e.models.has(k)) continue;
        loadsInFlight++;
        const modelId = k.slice(0, k.lastIndexOf('@'));
        const known = info(modelId);
        models.push({
          key: k,
          modelId,
          state: 'loading',
          bytes,
          pinned: false,
          preload: false,
          inFlight: 0,
          loadedAtMs: null,
          lastUsedMs: null,
          ttlMs: null,
          group: known?.group ?? null,
        });
      }
      return {
        nodeId: e.heartbeat.node_id,
        capacityBytes: e.heartbeat.capacity_bytes,
        softLimitBytes: e.heartbeat.soft_limit_bytes,
        usedBytes: this.usedBytes(e),
        models,
        loadsInFlight,
        requestsInFlight,
      };
    });
  }

  /** Model ids held anywhere (for fetching their records). */
  residentModelIds(): Set<string> {
    const ids = new Set<string>();
    for (const e of this.runtimes.values())
      for (const m of e.models.values()) ids.add(m.model_id);
    return ids;
  }

  routes(): Route[] {
    const byKey = new Map<string, Route>();
    for (const [nodeId, entry] of this.runtimes) {
      for (const m of entry.models.values()) {
        const k = key(m.model_id, m.version);
        if (m.state !== 'loaded' || entry.unloading.has(k)) continue;
        const route = byKey.get(k) ?? {
          model_id: m.model_id,
          version: m.version,
          nodes: [],
        };
        route.nodes.push(nodeId);
        byKey.set(k, route);
      }
    }
    return [...byKey.values()]
      .map((r) => ({ ...r, nodes: r.nodes.sort() }))
      .sort(
        (a, b) => a.model_id.localeCompare(b.model_id) || a.version - b.version,
      );
  }

  /** The live runtimes, then the lost ones (`alive: false`, as last seen), by node id. */
  runtimeStatuses(): RuntimeStatus[] {
    return [
      ...[...this.runtimes.values()].map((e) => this.statusOf(e)),
      ...[...this.lost.values()].map((l) => l.status),
    ].sort((a, b) => a.node_id.localeCompare(b.node_id));
  }

  /** Every model report, with the node it came from. */
  *modelReports(): Generator<{ nodeId: string; report: LoadedModelReport }> {
    for (const [nodeId, entry] of this.runtimes) {
      for (const report of entry.models.values()) yield { nodeId, report };
    }
  }

  has(nodeId: string): boolean {
    return this.runtimes.has(nodeId);
  }

  get size(): number {
    return this.runtimes.size;
  }

  private statusOf(e: RuntimeEntry): RuntimeStatus {
    let models = 0;
    let loading = 0;
    let unloading = 0;
    for (const [k, m] of e.models) {
      if (m.state === 'loading') loading += m.memory_bytes;
      else if (m.state === 'unloading' || e.unloading.has(k))
        unloading += m.memory_bytes;
      else if (m.state === 'loaded') models += m.memory_bytes;
    }
    for (const [k, bytes] of e.reservations)
      if (!e.models.has(k)) loading += bytes;
    return {
      node_id: e.heartbeat.node_id,
      alive: true,
      capacity_bytes: e.heartbeat.capacity_bytes,
      soft_limit_bytes: e.heartbeat.soft_limit_bytes,
      used_bytes: this.usedBytes(e),
      memory: {
        models_bytes: models,
        loading_bytes: loading,
        unloading_bytes: unloading,
        base_bytes: e.heartbeat.base_bytes,
      },
      rss_bytes: e.heartbeat.rss_bytes,
      models_loaded: [...e.models.values()].filter((m) => m.state === 'loaded')
        .length,
      started_at: e.heartbeat.started_at,
      last_seen_at: new Date(e.lastSeenMs).toISOString(),
    };
  }

  private usedBytes(e: RuntimeEntry): number {
    let models = 0;
    for (const m of e.models.values())
      if (m.state !== 'failed') models += m.memory_bytes;
    let reserved = 0;
    for (const [k, bytes] of e.reservations)
      if (!e.models.has(k)) reserved += bytes;
    return Math.max(e.heartbeat.used_bytes, models) + reserved;
  }
}
