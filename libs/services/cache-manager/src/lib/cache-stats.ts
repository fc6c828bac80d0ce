import { EvictionReason } from '@portfolio/contracts';

/** Counters of one (model, version) that the runtimes do not keep: they live in the cache-manager. */
export interface ModelStats {
  misses: number;
  loads: number;
  evictions: Partial<Record<EvictionReason, number>>;
  loadMs: number | null;
  /** Why the last load failed; cleared by the next success. */
  failure: string | null;
}

export class CacheStats {
  private readonly stats = new Map<string, ModelStats>();

  for(k: string): ModelStats {
    let s = this.stats.get(k);
    if (!s) {
      s = { misses: 0, loads: 0, evictions: {}, loadMs: null, failure: null };
      this.stats.set(k, s);
    }
    return s;
  }

  get(k: string): ModelStats | undefined {
    return this.stats.get(k);
  }

  keys(): IterableIterator<string> {
    return this.stats.keys();
  }

  evicted(k: string, reason: EvictionReason): void {
    const e = this.for(k).evictions;
    e[reason] = (e[reason] ?? 0) + 1;
  }
}

export function totalEvictions(s: ModelStats | undefined): number {
  return Object.values(s?.evictions ?? {}).reduce((n, x) => n + (x ?? 0), 0);
}
