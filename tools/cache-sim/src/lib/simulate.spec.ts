import { belady, gdsf, lru, oracleRate, portfolio } from './policies';
import { simulate, tenthOfCatalogue } from './simulate';
import { stationaryZipf, syntheticModels, mulberry32 } from './synthetic';
import { fromRecords, Trace } from './trace';

const trace = (
  sequence: string,
  bytes: Record<string, number>,
  loadMs: Record<string, number> = {},
): Trace =>
  fromRecords(
    [...sequence].map((m, i) => ({
      time_ms: i * 1000,
      model_id: m,
      version: 1,
      size_bytes: bytes[m] ?? 1,
      load_ms: loadMs[m] ?? 1,
    })),
    'test',
    'recorded',
  );

describe(simulate.name, () => {
  it('counts hits, misses, reload time and first loads', () => {
    const r = simulate(
      trace('abab', { a: 1, b: 1 }, { a: 100, b: 300 }),
      2,
      lru,
    );
    expect(r).toEqual({
      policy: 'lru',
      hit_ratio: 0.5,
      byte_miss_ratio: 0.5,
      reload_seconds: 0.4,
      cold_reload_seconds: 0.4,
      peak_bytes: 2,
      capacity_bytes: 2,
    });
  });

  it('evicts the least recently used under LRU and the farthest next use under Belady', () => {
    // capacity 2: after "a b", c arrives; a is used again next, b much later.
    const t = trace('abcab', { a: 1, b: 1, c: 1 });
    expect(simulate(t, 2, lru).hit_ratio).toBe(0); // evicts a, then b, then c...
    expect(simulate(t, 2, belady).hit_ratio).toBe(0.2); // evicts b, keeps a
  });

  it('refuses a model larger than the cache', () => {
    expect(() => simulate(trace('a', { a: 10 }), 5, lru)).toThrow(
      'a@1 (10 bytes) is larger than the cache (5)',
    );
  });

  it('keeps every policy within capacity, and Belady ahead of the online policies in hits for equal sizes', () => {
    const random = mulberry32(9);
    const models = syntheticModels(40, random);
    const zipfTrace = stationaryZipf({
      seed: 9,
      skew: 0.9,
      models: 40,
      requests: 5000,
    });
    const equal: Trace = {
      ...zipfTrace,
      models: models.map((m) => ({ ...m, bytes: 1000, loadMs: 1 })),
    };
    const capacity = 8000;
    const results = [lru, gdsf, belady, portfolio(), oracleRate].map((p) =>
      simulate(equal, capacity, p),
    );
    for (const r of results) expect(r.peak_bytes).toBeLessThanOrEqual(capacity);
    const [l, g, b, p] = results;
    expect(b.hit_ratio).toBeGreaterThan(l.hit_ratio);
    expect(b.hit_ratio).toBeGreaterThan(g.hit_ratio);
    expect(b.hit_ratio).toBeGreaterThan(p.hit_ratio);
  });

  it("spends less reload time than LRU with Portfolio's policy on a skewed trace", () => {
    const t = stationaryZipf({ seed: 3, skew: 1.0, requests: 20_000 });
    const capacity = tenthOfCatalogue(t);
    expect(simulate(t, capacity, portfolio()).reload_seconds).toBeLessThan(
      0.9 * simulate(t, capacity, lru).reload_seconds,
    );
  });
});
