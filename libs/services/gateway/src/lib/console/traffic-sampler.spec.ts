import { GatewayWithPeers, predict, startInProcess } from '../gateway.testing';
import { LatencyHistogram, TrafficSampler } from './traffic-sampler';

describe('LatencyHistogram', () => {
  it('reads percentiles within 5% above the true ones', () => {
    const h = new LatencyHistogram();
    // 1..1000 ms: the true p50 is 500, p95 950, p99 990.
    for (let ms = 1; ms <= 1000; ms++) h.record(ms);

    for (const [q, truth] of [
      [0.5, 500],
      [0.95, 950],
      [0.99, 990],
    ]) {
      const got = h.quantile(q) ?? NaN;
      expect(got).toBeGreaterThanOrEqual(truth);
      expect(got).toBeLessThanOrEqual(truth * 1.05);
    }
    expect(h.count).toBe(1000);
  });

  it('never reads past the largest duration, and nothing when empty', () => {
    const h = new LatencyHistogram();
    expect(h.quantile(0.5)).toBeNull();

    h.record(3.3);
    expect(h.quantile(0.99)).toBe(3.3);

    h.reset();
    expect(h.count).toBe(0);
    expect(h.quantile(0.5)).toBeNull();
  });

  it('keeps durations outside its range in its first and last buckets', () => {
    const h = new LatencyHistogram();
    h.record(0);
    h.record(0.000001);
    h.record(10 * 3_600_000);
    h.record(-1);
    h.record(NaN);

    expect(h.count).toBe(3);
    expect(h.quantile(0.5)).toBeLessThanOrEqual(LatencyHistogram.MIN_MS);
    expect(h.quantile(1)).toBe(10 * 3_600_000);
  });
});

describe('TrafficSampler (GET /v1/stats)', () => {
  let g: GatewayWithPeers;
  let sampler: TrafficSampler;

  beforeEach(async () => {
    g = await startInProcess({ models: { m: 1 }, nodes: ['r1'] });
    sampler = g.app.get(TrafficSampler);
  });
  afterEach(() => g.close());

  const stats = async () => {
    const res = await g.app.inject({ method: 'GET', url: '/v1/stats' });
    expect(res.statusCode).toBe(200);
    return res.json();
  };

  it('samples predictions, their latency, hits and misses, and other requests', async () => {
    // The first prediction waits for a load (a miss), the next two find it loaded.
    for (let i = 0; i < 3; i++)
      expect((await predict(g.app, 'm', [[1, 2, 3, 4]])).statusCode).toBe(200);
    await g.app.inject({ method: 'GET', url: '/v1/models/status' });
    // A prediction the gateway refuses is still a prediction answered (not a 5xx).
    expect((await predict(g.app, 'm', [[1, 2, 3]])).statusCode).toBe(400);

    const sample = await sampler.sample();

    expect(sample).toMatchObject({
      requests: 5,
      predictions: 4,
      errors: 0,
      hits: 2,
      misses: 1,
    });
    expect(sample.hit_ratio).toBeCloseTo(2 / 3);
    expect(sample.latency_ms?.p50).toBeGreaterThan(0);
    expect(sample.latency_ms?.p99).toBeGreaterThanOrEqual(
      sample.latency_ms?.p50 ?? Infinity,
    );
    expect((await stats()).samples).toEqual([sample]);
  });

  it('starts each sample from zero, and says null where nothing happened', async () => {
    await predict(g.app, 'm', [[1, 2, 3, 4]]);
    await sampler.sample();

    const quiet = await sampler.sample();

    expect(quiet).toMatchObject({
      requests: 0,
      predictions: 0,
      latency_ms: null,
      hits: 0,
      misses: 0,
      hit_ratio: null,
    });
    const body = await stats();
    expect(body.interval_ms).toBe(5000);
    expect(body.samples).toHaveLength(2);
  });

  it('counts predictions answered with a 5xx as errors', async () => {
    // No runtime answers on r9: the prediction ends in 503 NO_RUNTIME or a timeout.
    g.runtimes['r1'].close();
    g.cacheManager.loadAt = 'r9';

    const res = await predict(g.app, 'm', [[1, 2, 3, 4]]);
    const sample = await sampler.sample();

    expect(res.statusCode).toBeGreaterThanOrEqual(500);
    expect(sample).toMatchObject({ predictions: 1, errors: 1 });
  });

  it('keeps its last 120 samples', async () => {
    for (let i = 0; i < 125; i++) await sampler.sample(1_000_000 + i * 5000);

    const samples = sampler.recent();

    expect(samples).toHaveLength(120);
    expect(samples[0].at).toBe(new Date(1_000_000 + 5 * 5000).toISOString());
  });
});
