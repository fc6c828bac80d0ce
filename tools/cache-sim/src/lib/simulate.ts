import { PolicyFactory } from './policies';
import { Trace } from './trace';

export interface SimResult {
  readonly policy: string;
  readonly hit_ratio: number;
  /** Bytes of the models that had to be loaded, over the bytes of all models asked for. */
  readonly byte_miss_ratio: number;
  /** Total load time of every miss, seconds: the cost the policy minimizes. */
  readonly reload_seconds: number;
  /** Part of `reload_seconds` spent on first loads, which no policy avoids. */
  readonly cold_reload_seconds: number;
  readonly peak_bytes: number;
  readonly capacity_bytes: number;
}

/**
 * Replays a trace through one policy on one cache of `capacityBytes`: a hit needs
 * nothing, a miss loads the model (its load time is the cost) after evicting what the
 * policy names until it fits. Memory never exceeds the capacity: a policy that frees
 * too little is an error, as is a model larger than the whole cache.
 */
export function simulate(
  trace: Trace,
  capacityBytes: number,
  factory: PolicyFactory,
): SimResult {
  const policy = factory(trace);
  const { timeMs, model } = trace.requests;
  const cached = new Set<number>();
  const seen = new Uint8Array(trace.models.length);
  let used = 0;
  let peak = 0;
  let hits = 0;
  let bytesAsked = 0;
  let bytesMissed = 0;
  let reloadMs = 0;
  let coldMs = 0;
  for (let i = 0; i < model.length; i++) {
    const m = model[i];
    const { bytes, loadMs } = trace.models[m];
    if (bytes > capacityBytes)
      throw new Error(
        `${trace.models[m].key} (${bytes} bytes) is larger than the cache (${capacityBytes})`,
      );
    const hit = cached.has(m);
    policy.request(m, i, timeMs[i], hit);
    bytesAsked += bytes;
    if (hit) {
      hits++;
      continue;
    }
    bytesMissed += bytes;
    reloadMs += loadMs;
    if (!seen[m]) {
      seen[m] = 1;
      coldMs += loadMs;
    }
    const needed = used + bytes - capacityBytes;
    if (needed > 0) {
      for (const v of policy.victims(cached, m, needed, timeMs[i])) {
        if (v === m || !cached.delete(v))
          throw new Error(
            `${policy.name} named ${trace.models[v].key}, which it cannot evict`,
          );
        used -= trace.models[v].bytes;
        policy.evicted(v);
      }
      if (used + bytes > capacityBytes)
        throw new Error(
          `${policy.name} freed too little for ${trace.models[m].key}`,
        );
    }
    cached.add(m);
    used += bytes;
    peak = Math.max(peak, used);
  }
  return {
    policy: policy.name,
    hit_ratio: hits / model.length,
    byte_miss_ratio: bytesMissed / bytesAsked,
    reload_seconds: reloadMs / 1000,
    cold_reload_seconds: coldMs / 1000,
    peak_bytes: peak,
    capacity_bytes: capacityBytes,
  };
}

/** The capacity the synthetic experiments use: a tenth of all the models' bytes. */
export function tenthOfCatalogue(trace: Trace): number {
  return Math.round(trace.models.reduce((n, m) => n + m.bytes, 0) / 10);
}
