/**
 * How often a model is asked for, as decayed request counts: one count per half-life
 * in `UsageParams.halfLivesMs`. A short half-life follows bursts and new hot models
 * within minutes; a long one remembers steady popularity across quiet spells. The rate
 * estimate is the larger of the two, so a model is judged by whichever view says it is
 * busier. Usage is kept for models that are not loaded too (it is what makes a model's
 * second load smarter than its first), and it is a plain value: no clock of its own,
 * every function takes `nowMs`.
 */
export interface Usage {
  /** Decayed counts, one per half-life, as of `atMs`. */
  readonly counts: readonly number[];
  readonly atMs: number;
  readonly lastUsedMs: number;
  /** Requests ever recorded (not decayed). */
  readonly requests: number;
}

export interface UsageParams {
  readonly halfLivesMs: readonly number[];
}

/**
 * Records `n` requests at `nowMs` (n > 1 when requests are reported in batches, as
 * runtimes do in their heartbeats). Returns a new value; `usage` is not changed.
 */
export function recordRequests(
  usage: Usage | undefined,
  nowMs: number,
  params: UsageParams,
  n = 1,
): Usage {
  const counts = params.halfLivesMs.map(
    (h, i) => decay(usage?.counts[i] ?? 0, usage?.atMs ?? nowMs, nowMs, h) + n,
  );
  return {
    counts,
    atMs: Math.max(nowMs, usage?.atMs ?? nowMs),
    lastUsedMs: Math.max(nowMs, usage?.lastUsedMs ?? nowMs),
    requests: (usage?.requests ?? 0) + n,
  };
}

/**
 * Estimated requests per second at `nowMs`: for a steady stream of r requests per
 * second, each decayed count converges to r * h / ln 2, so count * ln 2 / h recovers r.
 * Unknown usage is zero.
 */
export function requestRate(
  usage: Usage | undefined,
  nowMs: number,
  params: UsageParams,
): number {
  if (!usage) return 0;
  // On every eviction decision for every resident model: a plain loop, no closures.
  const elapsed = nowMs > usage.atMs ? nowMs - usage.atMs : 0;
  const halfLives = params.halfLivesMs;
  let best = 0;
  for (let i = 0; i < halfLives.length; i++) {
    const h = halfLives[i];
    const rate =
      ((usage.counts[i] ?? 0) *
        Math.exp((-elapsed * Math.LN2) / h) *
        Math.LN2 *
        1000) /
      h;
    if (rate > best) best = rate;
  }
  return best;
}

function decay(
  count: number,
  fromMs: number,
  toMs: number,
  halfLifeMs: number,
): number {
  if (toMs <= fromMs) return count;
  return count * Math.pow(2, -(toMs - fromMs) / halfLifeMs);
}
