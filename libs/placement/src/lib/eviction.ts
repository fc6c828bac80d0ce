import {
  ModelFacts,
  PolicyContext,
  PolicyParams,
  ResidentModel,
  RuntimeState,
} from './policy.types';
import { requestRate } from './usage';

/**
 * What reloading a model would cost, in milliseconds: its measured load time, else an
 * estimate from its size. Reload time is what the policy minimizes.
 */
export function reloadCostMs(
  bytes: number,
  facts: ModelFacts | undefined,
  params: PolicyParams,
): number {
  if (facts?.loadMs != null && facts.loadMs > 0) return facts.loadMs;
  return params.unmeasuredLoadFixedMs + bytes / params.unmeasuredLoadBytesPerMs;
}

/**
 * The value of keeping a model in memory, per byte it occupies: expected reload time
 * saved per second (request rate x reload cost) divided by its size. Eviction takes the
 * lowest first. This is the cost-aware density that GreedyDual-Size-Frequency
 * approximates with in-cache counts; here the rate comes from decayed counts that
 * survive unloads (a model evicted and asked for again keeps its history) and that
 * forget at two speeds (see usage.ts).
 */
export function retentionValue(
  model: Pick<ResidentModel, 'key' | 'bytes'>,
  ctx: PolicyContext,
): number {
  const facts = ctx.facts(model.key);
  const rate = requestRate(facts?.usage, ctx.nowMs, ctx.params);
  return (
    (rate * reloadCostMs(model.bytes, facts, ctx.params)) /
    Math.max(1, model.bytes)
  );
}

/** Why a model cannot be evicted right now, or null when it can. */
export function evictionBlocker(
  model: ResidentModel,
): 'pinned' | 'in_use' | 'busy' | null {
  if (model.pinned) return 'pinned';
  if (model.state !== 'loaded') return 'busy';
  if (model.inFlight > 0) return 'in_use';
  return null;
}

export interface EvictionPlan {
  readonly ok: true;
  /** Lowest value first. */
  readonly victims: readonly ResidentModel[];
  readonly freedBytes: number;
  /** Sum of the victims' retention values times their bytes: expected reload ms per second lost. */
  readonly lostValue: number;
}

export interface EvictionRefusal {
  readonly ok: false;
  /** What evicting everything evictable would free. */
  readonly freeableBytes: number;
  /** Memory that cannot be freed now, by reason, with the models holding it. */
  readonly held: {
    readonly pinned: readonly ResidentModel[];
    readonly in_use: readonly ResidentModel[];
    readonly busy: readonly ResidentModel[];
  };
}

/**
 * The cheapest set of models to unload from one runtime to free `neededBytes`: the
 * evictable models in order of retention value (lowest first, then least recently
 * used, then key, so the choice is deterministic), taken until enough is free; then
 * any victim that turned out not to be needed (the last, large one freed enough on its
 * own) is spared again, most valuable first. Never a pinned model, one with requests
 * in flight, or one still loading or unloading; `spare` names models that must stay
 * (the one being loaded, say).
 */
export function chooseVictims(
  runtime: Pick<RuntimeState, 'models'>,
  neededBytes: number,
  ctx: PolicyContext,
  spare: ReadonlySet<string> = new Set(),
): EvictionPlan | EvictionRefusal {
  if (neededBytes <= 0)
    return { ok: true, victims: [], freedBytes: 0, lostValue: 0 };
  const candidates: { model: ResidentModel; value: number }[] = [];
  const held = {
    pinned: [] as ResidentModel[],
    in_use: [] as ResidentModel[],
    busy: [] as ResidentModel[],
  };
  for (const model of runtime.models) {
    if (spare.has(model.key)) continue;
    const blocker = evictionBlocker(model);
    if (blocker) held[blocker].push(model);
    else candidates.push({ model, value: retentionValue(model, ctx) });
  }
  candidates.sort(
    (a, b) =>
      a.value - b.value ||
      (a.model.lastUsedMs ?? -Infinity) - (b.model.lastUsedMs ?? -Infinity) ||
      compareKeys(a.model.key, b.model.key),
  );
  const chosen: { model: ResidentModel; value: number }[] = [];
  let freed = 0;
  for (const c of candidates) {
    if (freed >= neededBytes) break;
    chosen.push(c);
    freed += c.model.bytes;
  }
  if (freed < neededBytes) return { ok: false, freeableBytes: freed, held };
  // Spare what is not needed after all, most valuable first.
  for (const c of [...chosen].sort((a, b) => b.value - a.value)) {
    if (freed - c.model.bytes >= neededBytes) {
      freed -= c.model.bytes;
      chosen.splice(chosen.indexOf(c), 1);
    }
  }
  return {
    ok: true,
    victims: chosen.map((c) => c.model),
    freedBytes: freed,
    lostValue: chosen.reduce((n, c) => n + c.value * c.model.bytes, 0),
  };
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
