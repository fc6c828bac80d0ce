import {
  eventually,
  parsePrometheusText,
  Sample,
  sampleValue,
} from '@portfolio/testing';

import { GatewayWithPeers, predict, startInProcess } from '../gateway.testing';

/** What the gateway exports itself, and the bus's metrics every process has. */
const REQUIRED: Record<string, string> = {
  portfolio_http_requests_total: 'counter',
  portfolio_http_request_duration_seconds: 'histogram',
  portfolio_grpc_requests_total: 'counter',
  portfolio_grpc_request_duration_seconds: 'histogram',
  portfolio_cache_hits_total: 'counter',
  portfolio_cache_misses_total: 'counter',
  portfolio_predict_retries_total: 'counter',
  portfolio_gateway_in_flight_requests: 'gauge',
  portfolio_bus_request_errors_total: 'counter',
  portfolio_bus_handler_duration_seconds: 'histogram',
  portfolio_process_resident_memory_bytes: 'gauge',
};

describe('GET /metrics', () => {
  let g: GatewayWithPeers;

  beforeEach(async () => {
    g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      // /metrics stays open like health, whatever protects /admin.
      settings: { adminKey: 'pf_admin_0123456789abcdef' },
    });
  });
  afterEach(() => g.close());

  async function scrape(): Promise<{
    types: Map<string, string>;
    samples: Sample[];
  }> {
    const res = await g.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(
      /^text\/plain; version=0\.0\.4; charset=utf-8$/,
    );
    const parsed = parsePrometheusText(res.body);
    for (const [name, type] of Object.entries(REQUIRED))
      expect([name, parsed.types.get(name)]).toEqual([name, type]);
    return parsed;
  }

  it('is Prometheus text with every metric declared and prefixed, before anything happened', async () => {
    const { types } = await scrape();

    expect(
      [...types.keys()].filter((n) => !n.startsWith('portfolio_')),
    ).toEqual([]);
  });

  it("leaves loads, evictions and memory to the cache-manager's and the runtimes' own metrics", async () => {
    const { types } = await scrape();

    for (const name of [
      'portfolio_model_loads_total',
      'portfolio_model_evictions_total',
      'portfolio_runtime_memory_bytes',
      'portfolio_runtime_up',
    ])
      expect([name, types.has(name)]).toEqual([name, false]);
  });

  it('counts a miss (the request waited for a load) and then hits, per model and version', async () => {
    expect((await predict(g.app, 'm', [[1, 2, 3, 4]])).statusCode).toBe(200);
    expect((await predict(g.app, 'm', [[1, 2, 3, 4]])).statusCode).toBe(200);
    expect((await predict(g.app, 'm', [[1, 2, 3, 4]])).statusCode).toBe(200);

    const { samples } = await scrape();

    const labels = { model: 'm', version: '1' };
    expect(sampleValue(samples, 'portfolio_cache_misses_total', labels)).toBe(
      1,
    );
    expect(sampleValue(samples, 'portfolio_cache_hits_total', labels)).toBe(2);
    expect(
      sampleValue(samples, 'portfolio_http_requests_total', {
        method: 'POST',
        route: '/v1/models/:modelId/predict',
        status: '200',
      }),
    ).toBe(3);
    expect(
      sampleValue(samples, 'portfolio_http_request_duration_seconds_count', {
        route: '/v1/models/:modelId/predict',
        status: '200',
      }),
    ).toBe(3);
  });

  it('labels requests by route template, and unknown routes as unmatched', async () => {
    await g.app.inject({ method: 'GET', url: '/v1/models/nope/metadata' });
    await g.app.inject({ method: 'GET', url: '/no/such/route' });

    const { samples } = await scrape();

    expect(
      sampleValue(samples, 'portfolio_http_requests_total', {
        route: '/v1/models/:modelId/metadata',
        status: '404',
      }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'portfolio_http_requests_total', {
        route: 'unmatched',
        status: '404',
      }),
    ).toBe(1);
  });

  it("counts the bus requests that failed, by the contract's name and the error answered", async () => {
    // The registry knows no such model: its MODEL_NOT_FOUND reply is a failed request.
    await g.app.inject({ method: 'GET', url: '/v1/models/nope/metadata' });

    const { samples } = await scrape();

    const failed = samples.filter(
      (s) => s.name === 'portfolio_bus_request_errors_total',
    );
    expect(failed.length).toBeGreaterThan(0);
    for (const s of failed)
      expect(s.labels).toEqual({
        name: expect.stringMatching(/^registry\.[a-z_.]+\.v\d+$/),
        kind: 'reply',
        code: 'MODEL_NOT_FOUND',
      });
  });

  it("shows this gateway's predictions in flight on each runtime while they wait", async () => {
    g.runtimes['r1'].hold();
    const pending = predict(g.app, 'm', [[1, 2, 3, 4]]);
    const waiting = await eventually('a prediction waiting', async () => {
      const { samples } = await scrape();
      return sampleValue(samples, 'portfolio_gateway_in_flight_requests', {
        node: 'r1',
      }) === 1
        ? samples
        : null;
    });
    expect(waiting).toBeDefined();
    g.runtimes['r1'].release();
    expect((await pending).statusCode).toBe(200);

    // Nothing waits any more: the runtime's series reads 0 or is gone.
    const { samples } = await scrape();
    expect(
      sampleValue(samples, 'portfolio_gateway_in_flight_requests', {
        node: 'r1',
      }) ?? 0,
    ).toBe(0);
  });
});
