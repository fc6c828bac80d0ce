import {
  bursts,
  dailyCycle,
  MAX_MODEL_BYTES,
  MIN_MODEL_BYTES,
  newHotModels,
  stationaryZipf,
  zipf,
  mulberry32,
} from './synthetic';

describe('synthetic traces', () => {
  it('are the same for the same seed, and differ for another', () => {
    const a = stationaryZipf({ seed: 1, skew: 0.8, requests: 1000 });
    const b = stationaryZipf({ seed: 1, skew: 0.8, requests: 1000 });
    const c = stationaryZipf({ seed: 2, skew: 0.8, requests: 1000 });
    expect(a).toEqual(b);
    expect(c.requests.model).not.toEqual(a.requests.model);
  });

  it('draw model sizes between 20 MB and 2 GB with load time growing with size', () => {
    const t = stationaryZipf({ seed: 5, skew: 1, requests: 10 });
    for (const m of t.models) {
      expect(m.bytes).toBeGreaterThanOrEqual(MIN_MODEL_BYTES);
      expect(m.bytes).toBeLessThanOrEqual(MAX_MODEL_BYTES);
    }
    const small = t.models.filter((m) => m.bytes < 50e6);
    const large = t.models.filter((m) => m.bytes > 1e9);
    const mean = (xs: typeof small) =>
      xs.reduce((n, m) => n + m.loadMs, 0) / xs.length;
    expect(mean(large)).toBeGreaterThan(5 * mean(small));
  });

  it('follow Zipf: rank 1 is asked for about 2^skew times as often as rank 2', () => {
    const draw = zipf(100, 1, mulberry32(3));
    const counts = new Array(100).fill(0);
    for (let i = 0; i < 200_000; i++) counts[draw()]++;
    expect(counts[0] / counts[1]).toBeGreaterThan(1.9);
    expect(counts[0] / counts[1]).toBeLessThan(2.1);
  });

  it('shift: the most asked-for models of the first and last hour differ', () => {
    for (const t of [
      newHotModels(1, 100_000),
      bursts(1, 100_000),
      dailyCycle(1, 1),
    ]) {
      const { timeMs, model } = t.requests;
      const top = (from: number, to: number) => {
        const counts = new Map<number, number>();
        for (let i = 0; i < model.length; i++)
          if (timeMs[i] >= from && timeMs[i] < to)
            counts.set(model[i], (counts.get(model[i]) ?? 0) + 1);
        return [...counts.entries()]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([m]) => m);
      };
      const end = timeMs[timeMs.length - 1];
      expect({ name: t.name, top: top(end - 3_600_000, end) }).not.toEqual({
        name: t.name,
        top: top(0, 3_600_000),
      });
      expect(t.kind).toBe('shifting');
    }
  });
});
