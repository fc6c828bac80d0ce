import { Trace, TraceModel } from './trace';

/**
 * Synthetic traces. Every generator is deterministic for its seed.
 *
 * Models: sizes log-uniform between 20 MB and 2 GB; load time 150 ms plus the bytes at
 * 350 MB/s, times a per-model factor in [0.8, 1.25) (formats and layouts load at
 * different speeds). Popularity is independent of size. Requests arrive as a Poisson
 * process.
 */
const MB = 1_000_000;
export const MIN_MODEL_BYTES = 20 * MB;
export const MAX_MODEL_BYTES = 2_000 * MB;

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function syntheticModels(n: number, random: () => number): TraceModel[] {
  const lo = Math.log(MIN_MODEL_BYTES);
  const hi = Math.log(MAX_MODEL_BYTES);
  return Array.from({ length: n }, (_, i) => {
    const bytes = Math.round(Math.exp(lo + random() * (hi - lo)));
    const loadMs =
      (150 + bytes / ((350 * MB) / 1000)) * (0.8 + 0.45 * random());
    return { key: `m${String(i).padStart(4, '0')}@1`, bytes, loadMs };
  });
}

/** Draws ranks 0..n-1 with probability proportional to 1 / (rank + 1)^skew. */
export function zipf(
  n: number,
  skew: number,
  random: () => number,
): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += 1 / Math.pow(i + 1, skew);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += 1 / Math.pow(i + 1, skew) / total;
    cdf[i] = acc;
  }
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function shuffled(n: number, random: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

class Builder {
  private readonly times: number[] = [];
  private readonly ids: number[] = [];
  private t = 0;
  constructor(private readonly random: () => number) {}
  /** Advances the clock by an exponential gap for `ratePerSecond`; returns the new time (s). */
  tick(ratePerSecond: number): number {
    this.t += -Math.log(1 - this.random()) / ratePerSecond;
    return this.t;
  }
  push(model: number): void {
    this.times.push(this.t * 1000);
    this.ids.push(model);
  }
  get count(): number {
    return this.ids.length;
  }
  get nowSeconds(): number {
    return this.t;
  }
  build(name: string, kind: Trace['kind'], models: TraceModel[]): Trace {
    return {
      name,
      kind,
      models,
      requests: {
        timeMs: Float64Array.from(this.times),
        model: Int32Array.from(this.ids),
      },
    };
  }
}

export interface StationaryOptions {
  readonly seed: number;
  readonly skew: number;
  readonly models?: number;
  readonly requests?: number;
  readonly ratePerSecond?: number;
}

/** Independent requests, Zipf popularity that never changes. */
export function stationaryZipf(o: StationaryOptions): Trace {
  const random = mulberry32(o.seed);
  const n = o.models ?? 240;
  const models = syntheticModels(n, random);
  const byRank = shuffled(n, random);
  const draw = zipf(n, o.skew, random);
  const b = new Builder(random);
  for (let i = 0; i < (o.requests ?? 200_000); i++) {
    b.tick(o.ratePerSecond ?? 20);
    b.push(byRank[draw()]);
  }
  return b.build(`zipf-${o.skew.toFixed(1)}`, 'stationary', models);
}

/**
 * New models keep arriving: every `everySeconds`, three models never asked for before
 * take the top three ranks (Zipf 0.9 over 150 active models) and the coldest drop out.
 */
export function newHotModels(
  seed: number,
  requests = 200_000,
  everySeconds = 1800,
): Trace {
  const random = mulberry32(seed);
  const n = 300;
  const active = 150;
  const models = syntheticModels(n, random);
  const order = shuffled(n, random);
  let ranks = order.slice(0, active);
  let next = active;
  let shiftAt = everySeconds;
  const draw = zipf(active, 0.9, random);
  const b = new Builder(random);
  while (b.count < requests) {
    const t = b.tick(20);
    if (t > shiftAt && next + 3 <= n) {
      ranks = [...order.slice(next, next + 3), ...ranks].slice(0, active);
      next += 3;
      shiftAt += everySeconds;
    }
    b.push(ranks[draw()]);
  }
  return b.build('new-hot-models', 'shifting', models);
}

/**
 * Zipf 0.8 traffic with bursts: every 10-30 minutes a model from the cold two thirds
 * takes 40% of all requests for 2-7 minutes.
 */
export function bursts(seed: number, requests = 200_000): Trace {
  const random = mulberry32(seed);
  const n = 240;
  const models = syntheticModels(n, random);
  const byRank = shuffled(n, random);
  const draw = zipf(n, 0.8, random);
  const b = new Builder(random);
  let burstModel = -1;
  let burstEnd = 0;
  let nextBurst = 600;
  while (b.count < requests) {
    const t = b.tick(20);
    if (t > nextBurst) {
      burstModel = byRank[Math.floor(n / 3 + random() * ((2 * n) / 3))];
      burstEnd = t + 120 + random() * 300;
      nextBurst = t + 600 + random() * 1200;
    }
    b.push(t < burstEnd && random() < 0.4 ? burstModel : byRank[draw()]);
  }
  return b.build('bursts', 'shifting', models);
}

/**
 * A daily cycle over `days` days: two halves of the catalogue (two regions, say), each
 * with Zipf 0.9 popularity inside it; the share of requests going to the first half
 * follows a sine over 24 h between 5% and 95%, and the request rate rises with the
 * busier half.
 */
export function dailyCycle(
  seed: number,
  days = 3,
  baseRatePerSecond = 3,
): Trace {
  const random = mulberry32(seed);
  const n = 240;
  const models = syntheticModels(n, random);
  const order = shuffled(n, random);
  const a = order.slice(0, n / 2);
  const bHalf = order.slice(n / 2);
  const drawA = zipf(a.length, 0.9, random);
  const drawB = zipf(bHalf.length, 0.9, random);
  const b = new Builder(random);
  const end = days * 86_400;
  for (;;) {
    const phase = Math.sin((2 * Math.PI * b.nowSeconds) / 86_400);
    const t = b.tick(baseRatePerSecond * (1 + 0.5 * Math.abs(phase)));
    if (t >= end) break;
    b.push(random() < 0.5 + 0.45 * phase ? a[drawA()] : bHalf[drawB()]);
  }
  return b.build('daily-cycle', 'shifting', models);
}
