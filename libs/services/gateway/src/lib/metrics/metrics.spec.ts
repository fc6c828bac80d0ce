import { CacheManager, CacheModelEvent } from '@portfolio/contracts';
import { eventually } from '@portfolio/testing';

import { sampleStatus } from '../fake-peers.testing';
import { GatewayWithPeers, predict, startInProcess } from '../gateway.testing';
import {
  parsePrometheusText,
  Sample,
  sampleValue,
} from './prometheus-text.testing';

const REQUIRED: Record<string, string> = {
  portfolio_http_requests_total: 'counter',
  portfolio_http_request_duration_seconds: 'histogram',
  portfolio_cache_hits_total: 'counter',
  portfolio_cache_misses_total: 'counter',
  portfolio_model_loads_total: 'counter',
  portfolio_model_load_duration_seconds: 'histogram',
  portfolio_model_evictions_total: 'counter',
  portfolio_runtime_memory_bytes: 'gauge',
  portfolio_predict_retries_total: 'counter',
};

function event(overrides: Partial<CacheModelEvent>): CacheModelEvent {
  return {
    kind: 'loaded',
    model_id: 'm',
    version: 1,
    node_id: 'r1',
    bytes: 1000,
    load_ms: 1500,
    reason: 'miss',
    at: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

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

  async function scrape(): Promise<Sample[]> {
    const res = await g.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(
      /^text\/plain; version=0\.0\.4; charset=utf-8$/,
    );
    const { types, samples } = parsePrometheusText(res.body);
    for (const [name, type] of Object.entries(REQUIRED))
      expect([name, types.get(name)]).toEqual([name, type]);
    return samples;
  }

  it('is Prometheus text with every metric declared, before anything happened', async () => {
    const samples = await scrape();

    expect(sampleValue(samples, 'portfolio_cache_manager_up')).toBe(1);
  });

  it('counts a miss (the request waited for a load) and then hits, per model and version', async () => {
    expect((await predict(g.app, 'm', [[1, 2, 3, 4]])).statusCode).toBe(200);
    expect((await predict(g.app, 'm', [[1, 2, 3, 4]])).statusCode).toBe(200);
    expect((await predict(g.app, 'm', [[1, 2, 3, 4]])).statusCode).toBe(200);

    const samples = await scrape();

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

    const samples = await scrape();

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

  it("counts the cache-manager's loads, load times, evictions and failed loads from its events", async () => {
    const emit = (e: Partial<CacheModelEvent>) =>
      g.peers.emit(CacheManager.modelEvent, event(e));
    emit({ load_ms: 1500 });
    emit({ load_ms: 40, node_id: 'r2', reason: 'hot_copy' });
    emit({ kind: 'unloaded', load_ms: null, reason: 'capacity' });
    emit({ kind: 'unloaded', load_ms: null, reason: 'capacity' });
    emit({ kind: 'unloaded', load_ms: null, reason: 'ttl' });
    emit({
      kind: 'load_failed',
      load_ms: null,
      bytes: null,
      reason: 'm@1 failed to load: not a valid ONNX model',
    });

    const samples = await eventually('the events counted', async () => {
      const s = await scrape();
      return sampleValue(s, 'portfolio_model_load_failures_total') === 1
        ? s
        : null;
    });

    const m = { model: 'm', version: '1' };
    expect(
      sampleValue(samples, 'portfolio_model_loads_total', {
        ...m,
        node: 'r1',
        reason: 'miss',
      }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'portfolio_model_loads_total', {
        ...m,
        node: 'r2',
        reason: 'hot_copy',
      }),
    ).toBe(1);
    const bucket = (le: string) =>
      sampleValue(samples, 'portfolio_model_load_duration_seconds_bucket', {
        ...m,
        le,
      });
    expect([
      bucket('0.05'),
      bucket('1'),
      bucket('2.5'),
      bucket('+Inf'),
    ]).toEqual([1, 1, 2, 2]);
    expect(
      sampleValue(samples, 'portfolio_model_load_duration_seconds_sum', m),
    ).toBeCloseTo(1.54);
    expect(
      sampleValue(samples, 'portfolio_model_evictions_total', {
        ...m,
        reason: 'capacity',
      }),
    ).toBe(2);
    expect(
      sampleValue(samples, 'portfolio_model_evictions_total', {
        ...m,
        reason: 'ttl',
      }),
    ).toBe(1);
    // The failure's sentence is no label.
    expect(
      samples.some((s) =>
        Object.values(s.labels).some((v) => v.includes('ONNX')),
      ),
    ).toBe(false);
  });

  it("shows each runtime's memory, copies and quotas from the cache-manager's status", async () => {
    g.cacheManager.status = sampleStatus();

    const samples = await scrape();

    const memory = (kind: string) =>
      sampleValue(samples, 'portfolio_runtime_memory_bytes', {
        node: 'r1',
        kind,
      });
    expect(
      ['used', 'capacity', 'soft_limit', 'rss', 'base'].map(memory),
    ).toEqual([600, 1000, 900, 8000, 7000]);
    expect(sampleValue(samples, 'portfolio_runtime_up', { node: 'r1' })).toBe(
      1,
    );
    expect(
      sampleValue(samples, 'portfolio_model_copies', {
        model: 'm',
        version: '1',
      }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'portfolio_quota_bytes', {
        label: 'team',
        value: 'red',
        kind: 'limit',
      }),
    ).toBe(2000);
  });

  it('still answers without the cache-manager, saying so and leaving its gauges out', async () => {
    g.cacheManager.close();

    const samples = await scrape();

    expect(sampleValue(samples, 'portfolio_cache_manager_up')).toBe(0);
    expect(
      samples.filter((s) => s.name === 'portfolio_runtime_memory_bytes'),
    ).toEqual([]);
  });
});
