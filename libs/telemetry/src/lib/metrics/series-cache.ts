/**
 * Children of labelled metrics kept by a key of the caller's (a model's `id@version`,
 * say): code that runs per request finds its series with one map lookup, where
 * prom-client would hash a fresh label object each time. Use it as
 * `cache.get(key) ?? cache.add(key, make())`, so nothing is allocated once the series
 * exists. The keys must be as bounded as the labels they stand for.
 */
export class SeriesCache<T> {
  private readonly series = new Map<string, T>();

  get(key: string): T | undefined {
    return this.series.get(key);
  }

  add(key: string, series: T): T {
    this.series.set(key, series);
    return series;
  }

  get size(): number {
    return this.series.size;
  }
}
