import {
  chooseVictims,
  compareKeys,
  EvictionRefusal,
  evictionBlocker,
  retentionValue,
} from './eviction';
import { PolicyContext, ResidentModel, RuntimeState } from './policy.types';

export interface PlaceRequest {
  readonly key: string;
  /** Room the load needs while it runs: its expected peak (see DEFAULT_LOAD_PEAK_FACTOR). */
  readonly bytes: number;
  /** What it will hold once loaded, which is what counts against a quota; default `bytes`. */
  readonly steadyBytes?: number;
  /** Runtimes that must not be chosen (they just failed this request). */
  readonly exclude?: readonly string[];
  /** The model's quota group and that group's limit across the cluster, when it has one. */
  readonly quota?: { readonly group: string; readonly limitBytes: number };
}

export interface Victim {
  readonly nodeId: string;
  readonly model: ResidentModel;
  readonly reason: 'capacity' | 'quota';
}

export interface RuntimeShortfall {
  readonly nodeId: string;
  readonly capacityBytes: number;
  readonly freeBytes: number;
  readonly freeableBytes: number;
  readonly held: EvictionRefusal['held'];
}

export type PlaceDecision =
  | {
      readonly kind: 'place';
      readonly nodeId: string;
      /** To unload first (synchronously), capacity victims on `nodeId`, quota victims anywhere. */
      readonly victims: readonly Victim[];
    }
  | { readonly kind: 'no-runtime' }
  /** Fits on no runtime even after every eviction allowed; says what holds the memory. */
  | {
      readonly kind: 'no-room';
      readonly largestCapacityBytes: number;
      readonly runtimes: readonly RuntimeShortfall[];
    }
  /** Its quota group is full of models that cannot be unloaded now. */
  | {
      readonly kind: 'over-quota';
      readonly group: string;
      readonly limitBytes: number;
      readonly groupUsedBytes: number;
      readonly freeableBytes: number;
    };

/**
 * Where to load a model, and what to unload first. A runtime that already holds the
 * model (in any state) is never chosen, so copies spread across runtimes.
 *
 * 1. Quota: if the model's group would go over its limit, the group's own least
 *    valuable models (anywhere in the cluster) are unloaded first; other tenants'
 *    models are never unloaded to make room for an over-quota group.
 * 2. A runtime where the model fits in free memory beats any that must evict; among
 *    those, fewer loads in progress (a load competes for disk and CPU), then fewer
 *    requests in flight, then most free memory.
 * 3. Otherwise the runtime whose cheapest victim set (see chooseVictims) loses the
 *    least retention value, then fewer loads in progress.
 * Ties end on node id: the same inputs always give the same answer.
 */
export function placeModel(
  runtimes: readonly RuntimeState[],
  request: PlaceRequest,
  ctx: PolicyContext,
): PlaceDecision {
  const excluded = new Set(request.exclude ?? []);
  const eligible = runtimes.filter(
    (r) =>
      !excluded.has(r.nodeId) && !r.models.some((m) => m.key === request.key),
  );
  if (eligible.length === 0) return { kind: 'no-runtime' };

  const quotaVictims: Victim[] = [];
  if (request.quota) {
    const plan = quotaPlan(runtimes, request, request.quota, ctx);
    if (plan.kind === 'over-quota') return plan;
    quotaVictims.push(...plan.victims);
  }
  const freedByQuota = new Map<string, number>();
  const gone = new Set<ResidentModel>(quotaVictims.map((v) => v.model));
  for (const v of quotaVictims)
    freedByQuota.set(
      v.nodeId,
      (freedByQuota.get(v.nodeId) ?? 0) + v.model.bytes,
    );

  interface Option {
    runtime: RuntimeState;
    free: number;
    victims: readonly ResidentModel[];
    lost: number;
  }
  const options: Option[] = [];
  const shortfalls: RuntimeShortfall[] = [];
  const freeOf = (runtime: RuntimeState) =>
    runtime.capacityBytes -
    runtime.usedBytes +
    (freedByQuota.get(runtime.nodeId) ?? 0);
  // Room beats eviction: weigh victims only when no runtime has room.
  for (const runtime of eligible) {
    const free = freeOf(runtime);
    if (free >= request.bytes)
      options.push({ runtime, free, victims: [], lost: 0 });
  }
  if (options.length === 0) {
    const spare = new Set([request.key]);
    for (const runtime of eligible) {
      const free = freeOf(runtime);
      const remaining = gone.size
        ? { models: runtime.models.filter((m) => !gone.has(m)) }
        : runtime;
      const ranked = runtime.ranked
        ? gone.size
          ? runtime.ranked.filter((r) => !gone.has(r.model))
          : runtime.ranked
        : undefined;
      const plan = chooseVictims(
        remaining,
        request.bytes - free,
        ctx,
        spare,
        ranked,
      );
      if (plan.ok)
        options.push({
          runtime,
          free,
          victims: plan.victims,
          lost: plan.lostValue,
        });
      else
        shortfalls.push({
          nodeId: runtime.nodeId,
          capacityBytes: runtime.capacityBytes,
          freeBytes: Math.max(0, free),
          freeableBytes: plan.freeableBytes,
          held: plan.held,
        });
    }
  }
  if (options.length === 0) {
    return {
      kind: 'no-room',
      largestCapacityBytes: Math.max(...eligible.map((r) => r.capacityBytes)),
      runtimes: shortfalls.sort((a, b) => compareKeys(a.nodeId, b.nodeId)),
    };
  }
  options.sort(
    (a, b) =>
      Number(a.victims.length > 0) - Number(b.victims.length > 0) ||
      a.lost - b.lost ||
      a.runtime.loadsInFlight - b.runtime.loadsInFlight ||
      a.runtime.requestsInFlight - b.runtime.requestsInFlight ||
      b.free - a.free ||
      compareKeys(a.runtime.nodeId, b.runtime.nodeId),
  );
  const best = options[0];
  return {
    kind: 'place',
    nodeId: best.runtime.nodeId,
    victims: [
      ...quotaVictims,
      ...best.victims.map((model) => ({
        nodeId: best.runtime.nodeId,
        model,
        reason: 'capacity' as const,
      })),
    ],
  };
}

/** Bytes held by each quota group across the cluster (loaded, loading and unloading). */
export function groupUsage(
  runtimes: readonly RuntimeState[],
): Map<string, number> {
  const used = new Map<string, number>();
  for (const r of runtimes)
    for (const m of r.models)
      if (m.group !== null)
        used.set(m.group, (used.get(m.group) ?? 0) + m.bytes);
  return used;
}

function quotaPlan(
  runtimes: readonly RuntimeState[],
  request: PlaceRequest,
  quota: { readonly group: string; readonly limitBytes: number },
  ctx: PolicyContext,
):
  | { kind: 'ok'; victims: Victim[] }
  | Extract<PlaceDecision, { kind: 'over-quota' }> {
  const used = groupUsage(runtimes).get(quota.group) ?? 0;
  const excess =
    used + (request.steadyBytes ?? request.bytes) - quota.limitBytes;
  if (excess <= 0) return { kind: 'ok', victims: [] };
  const candidates: { nodeId: string; model: ResidentModel; value: number }[] =
    [];
  for (const r of runtimes)
    for (const model of r.models)
      if (
        model.group === quota.group &&
        model.key !== request.key &&
        evictionBlocker(model) === null
      )
        candidates.push({
          nodeId: r.nodeId,
          model,
          value: retentionValue(model, ctx),
        });
  candidates.sort(
    (a, b) =>
      a.value - b.value ||
      compareKeys(a.model.key, b.model.key) ||
      compareKeys(a.nodeId, b.nodeId),
  );
  const victims: Victim[] = [];
  let freed = 0;
  for (const c of candidates) {
    if (freed >= excess) break;
    victims.push({ nodeId: c.nodeId, model: c.model, reason: 'quota' });
    freed += c.model.bytes;
  }
  if (freed < excess)
    return {
      kind: 'over-quota',
      group: quota.group,
      limitBytes: quota.limitBytes,
      groupUsedBytes: used,
      freeableBytes: freed,
    };
  return { kind: 'ok', victims };
}
