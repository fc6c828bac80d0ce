import {
  chooseVictims,
  DEFAULT_POLICY_PARAMS,
  ModelFacts,
  PolicyContext,
  PolicyParams,
  recordRequests,
  ResidentModel,
  Usage,
} from '@portfolio/placement';

import { Trace } from './trace';

/**
 * A cache policy as the simulator drives it. `request` is called for every request
 * (hit or miss) before `victims`; `victims` is called on a miss when the model does
 * not fit, and must name cached models (never `incoming`) that free at least
 * `neededBytes`.
 */
export interface SimPolicy {
  readonly name: string;
  request(model: number, index: number, timeMs: number, hit: boolean): void;
  victims(
    cached: ReadonlySet<number>,
    incoming: number,
    neededBytes: number,
    timeMs: number,
  ): number[];
  evicted(model: number): void;
}

export type PolicyFactory = (trace: Trace) => SimPolicy;

/** Least recently used first, whatever the size: what ModelMesh and Seldon do. */
export const lru: PolicyFactory = (trace) => {
  const last = new Float64Array(trace.models.length);
  return {
    name: 'lru',
    request: (m, i) => {
      last[m] = i;
    },
    victims: (cached, _incoming, needed) =>
      takeUntil(
        [...cached].sort((a, b) => last[a] - last[b]),
        needed,
        trace,
      ),
    evicted: () => undefined,
  };
};

/**
 * GreedyDual-Size-Frequency (Cherkasova 1998): priority = L + frequency x cost / size,
 * with the frequency counted while the object is cached and L raised to the priority
 * of each evicted object (aging).
 */
export const gdsf: PolicyFactory = (trace) => {
  let inflation = 0;
  const priority = new Float64Array(trace.models.length);
  const frequency = new Float64Array(trace.models.length);
  return {
    name: 'gdsf',
    request: (m) => {
      frequency[m] += 1;
      const { bytes, loadMs } = trace.models[m];
      priority[m] = inflation + (frequency[m] * loadMs) / bytes;
    },
    victims: (cached, _incoming, needed) => {
      const order = [...cached].sort((a, b) => priority[a] - priority[b]);
      const out = takeUntil(order, needed, trace);
      inflation = Math.max(inflation, ...out.map((m) => priority[m]));
      return out;
    },
    evicted: (m) => {
      frequency[m] = 0;
    },
  };
};

/**
 * Belady's offline choice: evict the model whose next request is farthest in the
 * future (never asked for again: first). It sees the whole trace; no online policy can.
 */
export const belady: PolicyFactory = (trace) => {
  const { model } = trace.requests;
  const nextUse = new Float64Array(model.length);
  const upcoming = new Float64Array(trace.models.length).fill(Infinity);
  for (let i = model.length - 1; i >= 0; i--) {
    nextUse[i] = upcoming[model[i]];
    upcoming[model[i]] = i;
  }
  const next = new Float64Array(trace.models.length);
  return {
    name: 'belady',
    request: (m, i) => {
      next[m] = nextUse[i];
    },
    victims: (cached, _incoming, needed) =>
      takeUntil(
        [...cached].sort((a, b) => next[b] - next[a]),
        needed,
        trace,
      ),
    evicted: () => undefined,
  };
};

/**
 * Portfolio's own policy, through the same code the cache-manager runs
 * (`chooseVictims` of @portfolio/placement): usage recorded per request, models
 * resident as loaded, unpinned and idle (the simulator has no requests in flight).
 */
export function portfolio(
  params: PolicyParams = DEFAULT_POLICY_PARAMS,
): PolicyFactory {
  return (trace) => {
    const usage: (Usage | undefined)[] = new Array(trace.models.length);
    const index = new Map(trace.models.map((m, i) => [m.key, i]));
    const facts = (key: string): ModelFacts | undefined => {
      const i = index.get(key);
      if (i === undefined) return undefined;
      return {
        usage: usage[i],
        loadMs: trace.models[i].loadMs,
        bytes: trace.models[i].bytes,
      };
    };
    const resident: ResidentModel[] = trace.models.map((m) => ({
      key: m.key,
      modelId: m.key,
      state: 'loaded',
      bytes: m.bytes,
      pinned: false,
      preload: false,
      inFlight: 0,
      loadedAtMs: null,
      lastUsedMs: null,
      ttlMs: null,
      group: null,
    }));
    return {
      name: 'portfolio',
      request: (m, _i, timeMs) => {
        usage[m] = recordRequests(usage[m], timeMs, params);
      },
      victims: (cached, incoming, needed, timeMs) => {
        const ctx: PolicyContext = { nowMs: timeMs, params, facts };
        const models = [...cached]
          .filter((m) => m !== incoming)
          .map((m) => resident[m]);
        const plan = chooseVictims({ models }, needed, ctx);
        if (!plan.ok) throw new Error('portfolio: nothing left to evict');
        return plan.victims.map((v) => index.get(v.key) as number);
      },
      evicted: () => undefined,
    };
  };
}

/**
 * Not a policy anyone can run: the same value density as Portfolio's, but with each
 * model's true request rate over the whole trace. It bounds what any rate estimate
 * could reach, and shows how much of the gap to Belady is the future itself.
 */
export const oracleRate: PolicyFactory = (trace) => {
  const counts = new Float64Array(trace.models.length);
  for (const m of trace.requests.model) counts[m]++;
  const density = (m: number) =>
    (counts[m] * trace.models[m].loadMs) / trace.models[m].bytes;
  return {
    name: 'oracle-rate',
    request: () => undefined,
    victims: (cached, incoming, needed) =>
      takeUntil(
        [...cached]
          .filter((m) => m !== incoming)
          .sort((a, b) => density(a) - density(b)),
        needed,
        trace,
      ),
    evicted: () => undefined,
  };
};

function takeUntil(order: number[], needed: number, trace: Trace): number[] {
  const out: number[] = [];
  let freed = 0;
  for (const m of order) {
    if (freed >= needed) break;
    out.push(m);
    freed += trace.models[m].bytes;
  }
  return out;
}
