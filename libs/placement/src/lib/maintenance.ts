import {
  chooseVictims,
  compareKeys,
  evictionBlocker,
  retentionValue,
} from './eviction';
import { PolicyContext, ResidentModel, RuntimeState } from './policy.types';
import { requestRate } from './usage';

export type UnloadReason = 'ttl' | 'soft_limit' | 'cold_copy' | 'hot_copy';
export type LoadReason = 'preload' | 'predictive' | 'hot_copy';

export type MaintenanceAction =
  | {
      readonly kind: 'unload';
      readonly nodeId: string;
      readonly key: string;
      readonly reason: UnloadReason;
    }
  | {
      readonly kind: 'load';
      /** Absent for `preload`: placed like any load (placeModel), evicting if it must. */
      readonly nodeId?: string;
      readonly key: string;
      readonly bytes: number;
      readonly reason: LoadReason;
    };

export interface MaintenanceInput {
  readonly runtimes: readonly RuntimeState[];
  /** Models marked `preload` (their default version) with their expected bytes. */
  readonly preload: readonly { readonly key: string; readonly bytes: number }[];
  /** Registered models that predictive preload may consider, with their expected bytes. */
  readonly candidates: readonly {
    readonly key: string;
    readonly bytes: number;
  }[];
  /** Busy workers across all copies of a model (sum of busy fractions), when known. */
  readonly utilization: (key: string) => number | undefined;
}

/**
 * The background work of one maintenance round, in the order it should be done:
 * unloads first (they make the room the loads use). Pure: the caller executes it.
 *
 * - TTL: a model idle (no request, or since its load) longer than its ttl is unloaded.
 * - Soft limit: a runtime over its soft limit unloads its least valuable models until
 *   it is under again, sparing models loaded or used within `minResidencyMs` (so a
 *   model loaded for a request is not unloaded before it serves it).
 * - Copies: a model whose copies are busy over `scaleUpUtilization` on average gets one
 *   more copy, on a runtime without one, in room below the soft limit (made by evicting
 *   only models worth less than it); one whose copies are busy under
 *   `scaleDownUtilization` loses one copy (the one on the fullest runtime).
 * - Preload: a `preload` model that is loaded nowhere is loaded.
 * - Predictive: models expected to be asked for within `horizonMs` are loaded into room
 *   that is free below a runtime's soft limit, most valuable first (no eviction).
 *
 * Pinned models, models with requests in flight, and models loading or unloading are
 * never unloaded; `preload` models are exempt from TTL and soft-limit unloading.
 */
export function planMaintenance(
  input: MaintenanceInput,
  ctx: PolicyContext,
): MaintenanceAction[] {
  const actions: MaintenanceAction[] = [];
  const unloading = new Set<ResidentModel>();
  const { nowMs, params } = ctx;

  for (const runtime of input.runtimes) {
    for (const m of runtime.models) {
      if (m.ttlMs === null || m.preload || evictionBlocker(m)) continue;
      const idleSince = m.lastUsedMs ?? m.loadedAtMs;
      if (idleSince !== null && nowMs - idleSince > m.ttlMs) {
        actions.push({
          kind: 'unload',
          nodeId: runtime.nodeId,
          key: m.key,
          reason: 'ttl',
        });
        unloading.add(m);
      }
    }
  }

  for (const runtime of input.runtimes) {
    let used = runtime.usedBytes;
    for (const m of runtime.models) if (unloading.has(m)) used -= m.bytes;
    if (used <= runtime.softLimitBytes) continue;
    const spared = new Set(
      runtime.models
        .filter(
          (m) =>
            unloading.has(m) ||
            m.preload ||
            recent(m.loadedAtMs, nowMs, params.minResidencyMs) ||
            recent(m.lastUsedMs, nowMs, params.minResidencyMs),
        )
        .map((m) => m.key),
    );
    const plan = chooseVictims(
      runtime,
      used - runtime.softLimitBytes,
      ctx,
      spared,
      runtime.ranked,
    );
    // Short of enough evictable memory, unload what can be unloaded: it still helps.
    const victims = plan.ok
      ? plan.victims
      : runtime.models.filter(
          (m) => !spared.has(m.key) && evictionBlocker(m) === null,
        );
    for (const m of victims) {
      actions.push({
        kind: 'unload',
        nodeId: runtime.nodeId,
        key: m.key,
        reason: 'soft_limit',
      });
      unloading.add(m);
    }
  }

  actions.push(...planCopies(input, ctx, unloading));

  const loadedAnywhere = new Set<string>();
  for (const r of input.runtimes)
    for (const m of r.models) if (!unloading.has(m)) loadedAnywhere.add(m.key);
  for (const p of input.preload)
    if (!loadedAnywhere.has(p.key))
      actions.push({
        kind: 'load',
        key: p.key,
        bytes: p.bytes,
        reason: 'preload',
      });

  actions.push(...planPredictive(input, ctx, unloading, loadedAnywhere));
  return actions;
}

function planCopies(
  input: MaintenanceInput,
  ctx: PolicyContext,
  unloading: Set<ResidentModel>,
): MaintenanceAction[] {
  const { copies } = ctx.params;
  const byKey = new Map<
    string,
    { runtime: RuntimeState; model: ResidentModel }[]
  >();
  for (const runtime of input.runtimes)
    for (const model of runtime.models) {
      if (model.state !== 'loaded' || unloading.has(model)) continue;
      const list = byKey.get(model.key) ?? [];
      list.push({ runtime, model });
      byKey.set(model.key, list);
    }
  const actions: MaintenanceAction[] = [];
  for (const key of [...byKey.keys()].sort(compareKeys)) {
    const held = byKey.get(key) ?? [];
    const busy = input.utilization(key);
    if (busy === undefined) continue;
    const perCopy = busy / held.length;
    if (perCopy > copies.scaleUpUtilization && held.length < copies.maxCopies) {
      const target = roomForCopy(input.runtimes, held[0].model, ctx, unloading);
      if (target) {
        for (const v of target.victims) {
          actions.push({
            kind: 'unload',
            nodeId: target.nodeId,
            key: v.key,
            reason: 'hot_copy',
          });
          unloading.add(v);
        }
        actions.push({
          kind: 'load',
          nodeId: target.nodeId,
          key,
          bytes: held[0].model.bytes,
          reason: 'hot_copy',
        });
      }
    } else if (held.length > 1 && perCopy < copies.scaleDownUtilization) {
      const removable = held
        .filter(
          ({ model }) =>
            evictionBlocker(model) === null &&
            !recent(model.loadedAtMs, ctx.nowMs, copies.minCopyAgeMs),
        )
        .sort(
          (a, b) =>
            b.runtime.usedBytes / b.runtime.capacityBytes -
              a.runtime.usedBytes / a.runtime.capacityBytes ||
            compareKeys(a.runtime.nodeId, b.runtime.nodeId),
        );
      const victim = removable[0];
      if (victim) {
        actions.push({
          kind: 'unload',
          nodeId: victim.runtime.nodeId,
          key,
          reason: 'cold_copy',
        });
        unloading.add(victim.model);
      }
    }
  }
  return actions;
}

/** A runtime without the model with room below its soft limit, made by evicting only less valuable models. */
function roomForCopy(
  runtimes: readonly RuntimeState[],
  model: ResidentModel,
  ctx: PolicyContext,
  unloading: Set<ResidentModel>,
): { nodeId: string; victims: readonly ResidentModel[] } | null {
  const worth = retentionValue(model, ctx);
  const options: {
    nodeId: string;
    victims: readonly ResidentModel[];
    lost: number;
    load: number;
  }[] = [];
  for (const r of runtimes) {
    if (r.models.some((m) => m.key === model.key)) continue;
    let used = r.usedBytes;
    for (const m of r.models) if (unloading.has(m)) used -= m.bytes;
    const short = used + model.bytes - r.softLimitBytes;
    const cheaper = {
      models: r.models.filter(
        (m) =>
          !unloading.has(m) && !m.preload && retentionValue(m, ctx) < worth,
      ),
    };
    const plan = chooseVictims(cheaper, short, ctx);
    if (plan.ok)
      options.push({
        nodeId: r.nodeId,
        victims: plan.victims,
        lost: plan.lostValue,
        load: r.requestsInFlight + r.loadsInFlight,
      });
  }
  options.sort(
    (a, b) =>
      a.lost - b.lost || a.load - b.load || compareKeys(a.nodeId, b.nodeId),
  );
  return options[0] ?? null;
}

function planPredictive(
  input: MaintenanceInput,
  ctx: PolicyContext,
  unloading: Set<ResidentModel>,
  loadedAnywhere: Set<string>,
): MaintenanceAction[] {
  const { preload } = ctx.params;
  const wanted = input.candidates
    .filter((c) => !loadedAnywhere.has(c.key))
    .map((c) => ({
      ...c,
      expected:
        (requestRate(ctx.facts(c.key)?.usage, ctx.nowMs, ctx.params) *
          preload.horizonMs) /
        1000,
      value: retentionValue(c, ctx),
    }))
    .filter((c) => c.expected >= preload.minExpectedRequests)
    .sort((a, b) => b.value - a.value || compareKeys(a.key, b.key));
  const room = new Map<string, number>();
  for (const r of input.runtimes) {
    let used = r.usedBytes;
    for (const m of r.models) if (unloading.has(m)) used -= m.bytes;
    room.set(r.nodeId, r.softLimitBytes - used);
  }
  const actions: MaintenanceAction[] = [];
  for (const c of wanted) {
    if (actions.length >= preload.maxLoadsPerRound) break;
    const target = [...room.entries()]
      .filter(([, free]) => free >= c.bytes)
      .sort((a, b) => b[1] - a[1] || compareKeys(a[0], b[0]))[0];
    if (!target) continue;
    room.set(target[0], target[1] - c.bytes);
    actions.push({
      kind: 'load',
      nodeId: target[0],
      key: c.key,
      bytes: c.bytes,
      reason: 'predictive',
    });
  }
  return actions;
}

function recent(atMs: number | null, nowMs: number, windowMs: number): boolean {
  return atMs !== null && nowMs - atMs < windowMs;
}
