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

/** An evictable model with its retention value, as `rankForEviction` lists them. */
export interface RankedModel {
  readonly model: ResidentModel;
  readonly value: number;
}

/**
 * A runtime's evictable models, least valuable first (then least recently used, then
 * key: the order is total, so the choice is deterministic), with their retention values
 * at `ctx.nowMs`. Pinned models, models in use and models loading or unloading are left
 * out. A caller that decides often (the cache-manager, on every miss) may keep a
 * runtime's ranking until the runtime changes or a second passes, and hand it to
 * `chooseVictims` / `placeModel` through `RuntimeState.ranked`: values move with the
 * half-lives of usage (minutes), not within a second.
 */
export function rankForEviction(
  runtime: Pick<RuntimeState, 'models'>,
  ctx: PolicyContext,
): RankedModel[] {
  const ranked: RankedModel[] = [];
  for (const model of runtime.models)
    if (evictionBlocker(model) === null)
      ranked.push({ model, value: retentionValue(model, ctx) });
  return ranked.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
}

/**
 * The cheapest set of models to unload from one runtime to free `neededBytes`: the
 * evictable models in ranking order (rankForEviction) taken until enough is free; then
 * any victim that turned out not to be needed (the last, large one freed enough on its
 * own) is spared again, most valuable first. Never a pinned model, one with requests
 * in flight, or one still loading or unloading; `spare` names models that must stay
 * (the one being loaded, say). `ranked`: the runtime's ranking, if the caller keeps one.
 */
export function chooseVictims(
  runtime: Pick<RuntimeState, 'models'>,
  neededBytes: number,
  ctx: PolicyContext,
  spare: ReadonlySet<string> = EMPTY,
  ranked?: readonly RankedModel[],
): EvictionPlan | EvictionRefusal {
  if (neededBytes <= 0)
    return { ok: true, victims: [], freedBytes: 0, lostValue: 0 };
  const chosen: RankedModel[] = [];
  let freed = 0;
  for (const r of ranked ?? rankForEviction(runtime, ctx)) {
    if (freed >= neededBytes) break;
    if (spare.has(r.model.key)) continue;
    chosen.push(r);
    freed += r.model.bytes;
  }
  if (freed < neededBytes) return refusal(runtime, freed, spare);
  // Spare what is not needed after all, most valuable first.
  for (const r of [...chosen].sort((a, b) => b.value - a.value)) {
    if (freed - r.model.bytes >= neededBytes) {
      freed -= r.model.bytes;
      chosen.splice(chosen.indexOf(r), 1);
    }
  }
  return {
    ok: true,
    victims: chosen.map((r) => r.model),
    freedBytes: freed,
    lostValue: chosen.reduce((n, r) => n + r.value * r.model.bytes, 0),
  };
}

const EMPTY: ReadonlySet<string> = new Set();

/** Eviction order: lower value, then least recently used (never used first), then key. */
function before(a: RankedModel, b: RankedModel): boolean {
  if (a.value !== b.value) return a.value < b.value;
  const la = a.model.lastUsedMs ?? -Infinity;
  const lb = b.model.lastUsedMs ?? -Infinity;
  if (la !== lb) return la < lb;
  return a.model.key < b.model.key;
}

function refusal(
  runtime: Pick<RuntimeState, 'models'>,
  freeable: number,
  spare: ReadonlySet<string>,
): EvictionRefusal {
  const held = {
    pinned: [] as ResidentModel[],
    in_use: [] as ResidentModel[],
    busy: [] as ResidentModel[],
  };
  for (const model of runtime.models) {
    if (spare.has(model.key)) continue;
    const blocker = evictionBlocker(model);
    if (blocker) held[blocker].push(model);
  }
  return { ok: false, freeableBytes: freeable, held };
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
