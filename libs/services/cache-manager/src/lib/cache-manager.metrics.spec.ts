import { PortfolioError } from '@portfolio/contracts';
import { MetricsRegistry } from '@portfolio/telemetry';
import { scrapedValue } from '@portfolio/testing';

import { CacheManagerHarness, failure } from './cache-manager.testing';
import { FakeModel } from './fake-peers.testing';

const MODELS: FakeModel[] = [
  { id: 'a', memoryEstimateBytes: 400, versions: { 1: 10 } },
  { id: 'b', memoryEstimateBytes: 400, versions: { 1: 10 } },
  { id: 'c', memoryEstimateBytes: 400, versions: { 1: 10 } },
  { id: 'bad', memoryEstimateBytes: 100, versions: { 1: 10 } },
];

/** Background work never runs in these tests. */
const QUIET = { maintenanceIntervalMs: 3_600_000, warmupMs: 0 };

describe('CacheManagerService: metrics', () => {
  let h: CacheManagerHarness;
  let registry: MetricsRegistry;

  beforeEach(async () => {
    h = await CacheManagerHarness.start(QUIET, MODELS);
    registry = h.app.get(MetricsRegistry);
  });
  afterEach(() => h.close());

  it('counts loads by reason, evictions by reason, lookups and placement decisions', async () => {
    // 400-byte models need 800 while they load: c needs the room of the least used.
    const rt = await h.join('rt-1', { capacityBytes: 1400 });
    await h.ensure({ model_id: 'a', version: 1 });
    await h.ensure({ model_id: 'b', version: 1 });
    const minuteAgo = new Date(Date.now() - 60_000).toISOString();
    rt.hold('a', 1, { memory_bytes: 400, requests: 50, loaded_at: minuteAgo });
    rt.hold('b', 1, { memory_bytes: 400, requests: 0, loaded_at: minuteAgo });
    rt.usedBytes = 800;
    await h.announce(rt);
    await h.ensure({ model_id: 'c', version: 1 });
    // Held already: answered from the view, no placement.
    await h.ensure({ model_id: 'a', version: 1 });

    const loads = (model: string) =>
      scrapedValue(registry, 'portfolio_model_loads_total', {
        model,
        version: '1',
        node: 'rt-1',
        reason: 'miss',
      });
    expect([await loads('a'), await loads('b'), await loads('c')]).toEqual([
      1, 1, 1,
    ]);
    expect(
      await scrapedValue(registry, 'portfolio_model_evictions_total', {
        model: 'b',
        reason: 'capacity',
      }),
    ).toBe(1);
    expect(
      await scrapedValue(registry, 'portfolio_model_evictions_total', {
        model: 'a',
      }),
    ).toBeUndefined();
    expect(
      await scrapedValue(registry, 'portfolio_cache_manager_lookups_total', {
        result: 'placed',
      }),
    ).toBe(3);
    expect(
      await scrapedValue(registry, 'portfolio_cache_manager_lookups_total', {
        result: 'loaded',
      }),
    ).toBe(1);
    expect(
      await scrapedValue(
        registry,
        'portfolio_placement_decision_duration_seconds_count',
        { result: 'place' },
      ),
    ).toBe(3);
  });

  it('counts a failed load without its reason as a label', async () => {
    const rt = await h.join('rt-1');
    rt.onLoad = () => {
      throw new PortfolioError(
        'MODEL_LOAD_FAILED',
        'bad@1 failed to load: not a valid ONNX model',
      );
    };

    await failure(h.ensure({ model_id: 'bad', version: 1 }));

    expect(
      await scrapedValue(registry, 'portfolio_model_load_failures_total', {
        model: 'bad',
        version: '1',
        node: 'rt-1',
      }),
    ).toBe(1);
    expect(
      await scrapedValue(registry, 'portfolio_model_loads_total', {
        model: 'bad',
      }),
    ).toBeUndefined();
  });

  it("reports the cluster as of each scrape: runtimes up, each model's copies and memory", async () => {
    const rt = await h.join('rt-1');
    rt.hold('a', 1, { memory_bytes: 400 });
    await h.announce(rt);

    const text = await registry.metrics();

    expect(text).toContain('\nportfolio_runtime_up{node="rt-1"} 1\n');
    expect(text).toContain(
      '\nportfolio_model_copies{model="a",version="1"} 1\n',
    );
    expect(text).toContain(
      '\nportfolio_model_memory_bytes{model="a",version="1"} 400\n',
    );
  });
});
