import { ClusterStatus, ModelStatus } from '@portfolio/contracts';
import { groupUsage, RuntimeState } from '@portfolio/placement';

import { CacheStats, totalEvictions } from './cache-stats';
import { ClusterView, key } from './cluster-view';

const RANK = {
  loaded: 4,
  unloading: 3,
  loading: 2,
  failed: 1,
  unloaded: 0,
} as const;

/**
 * `/v1/models/status` as the cache-manager sees the cluster: runtimes (with their
 * memory broken down), every model it has counters for or a runtime reports (state
 * across runtimes: loaded anywhere wins), and each quota group's use.
 */
export function buildStatus(
  view: ClusterView,
  stats: CacheStats,
  states: readonly RuntimeState[],
  quotas: {
    label: string;
    limitsBytes: Readonly<Record<string, number>>;
  } | null,
): ClusterStatus {
  const runtimes = view.runtimeStatuses();
  const alive = runtimes.filter((r) => r.alive);
  const models = new Map<string, ModelStatus>();
  const entry = (modelId: string, version: number): ModelStatus => {
    const k = key(modelId, version);
    let m = models.get(k);
    if (!m) {
      const s = stats.get(k);
      m = {
        model_id: modelId,
        version,
        state: s?.failure ? 'failed' : 'unloaded',
        reason: s?.failure ?? null,
        nodes: [],
        memory_bytes: null,
        last_used_at: null,
        hits: 0,
        misses: s?.misses ?? 0,
        loads: s?.loads ?? 0,
        evictions: totalEvictions(s),
        evictions_by_reason: { ...(s?.evictions ?? {}) },
        load_ms: s?.loadMs ?? null,
      };
      models.set(k, m);
    }
    return m;
  };
  for (const k of stats.keys()) {
    const at = k.lastIndexOf('@');
    entry(k.slice(0, at), Number(k.slice(at + 1)));
  }
  for (const { nodeId, report } of view.modelReports()) {
    const m = entry(report.model_id, report.version);
    m.hits += report.requests;
    if (
      report.state === 'loaded' ||
      report.state === 'loading' ||
      report.state === 'unloading'
    )
      m.nodes.push(nodeId);
    if (RANK[report.state] > RANK[m.state]) {
      m.state = report.state;
      m.reason = report.reason;
    }
    if (report.state === 'loaded') m.memory_bytes = report.memory_bytes;
    if (report.load_ms !== null && m.load_ms === null)
      m.load_ms = report.load_ms;
    if (
      report.last_used_at &&
      (!m.last_used_at || report.last_used_at > m.last_used_at)
    )
      m.last_used_at = report.last_used_at;
  }
  const list = [...models.values()].sort(
    (a, b) => a.model_id.localeCompare(b.model_id) || a.version - b.version,
  );
  const used = groupUsage(states);
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
    quotas: quotas
      ? Object.entries(quotas.limitsBytes)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([value, limit]) => ({
            label: quotas.label,
            value,
            limit_bytes: limit,
            used_bytes: used.get(value) ?? 0,
          }))
      : [],
  };
}
