import {
  CacheManager,
  CacheModelEvent,
  PortfolioError,
  Registry,
} from '@portfolio/contracts';

import { CacheManagerHarness, failure } from './cache-manager.testing';
import { eventually, FakeModel } from './fake-peers.testing';

/**
 * The cache at work, on fake runtimes: what is unloaded, when, and why. Each model's
 * memory is its declared estimate (the fake runtimes "measure" the estimate).
 */
const MODELS: FakeModel[] = [
  { id: 'a', memoryEstimateBytes: 400, versions: { 1: 10 } },
  { id: 'b', memoryEstimateBytes: 400, versions: { 1: 10 } },
  { id: 'c', memoryEstimateBytes: 400, versions: { 1: 10 } },
  { id: 'pin', memoryEstimateBytes: 400, pinned: true, versions: { 1: 10 } },
  { id: 'idle', memoryEstimateBytes: 100, ttlMs: 50, versions: { 1: 10 } },
  {
    id: 'red1',
    memoryEstimateBytes: 300,
    labels: { team: 'red' },
    versions: { 1: 10 },
  },
  {
    id: 'red2',
    memoryEstimateBytes: 300,
    labels: { team: 'red' },
    versions: { 1: 10 },
  },
  {
    id: 'blue',
    memoryEstimateBytes: 300,
    labels: { team: 'blue' },
    versions: { 1: 10 },
  },
];

/** Background work never runs in these tests unless a test asks for it. */
const QUIET = { maintenanceIntervalMs: 3_600_000, warmupMs: 0 };

describe('CacheManagerService: eviction', () => {
  let h: CacheManagerHarness;

  afterEach(async () => {
    await h?.close();
  });

  describe('hard limit', () => {
    it('unloads the least valuable model first, then loads, and counts the eviction', async () => {
      h = await CacheManagerHarness.start(QUIET, MODELS);
      const events: CacheModelEvent[] = [];
      h.m.on(CacheManager.modelEvent, (e) => void events.push(e));
      // 400-byte models need 800 while they load: a, b, then c needs b's room.
      const rt = await h.join('rt-1', { capacityBytes: 1400 });
      await h.ensure({ model_id: 'a', version: 1 });
      await h.ensure({ model_id: 'b', version: 1 });
      // "a" gets requests (a hit at the runtime), "b" does not.
      const minuteAgo = new Date(Date.now() - 60_000).toISOString();
      rt.hold('a', 1, {
        memory_bytes: 400,
        requests: 50,
        loaded_at: minuteAgo,
      });
      rt.hold('b', 1, { memory_bytes: 400, requests: 0, loaded_at: minuteAgo });
      rt.usedBytes = 800;
      await h.announce(rt);

      const res = await h.ensure({ model_id: 'c', version: 1 });

      expect(res).toEqual({ node_id: 'rt-1', loaded_now: true });
      expect(rt.unloads).toEqual([
        { model_id: 'b', version: 1, reason: 'capacity' },
      ]);
      await eventually(() => events.length >= 4);
      expect(events.map((e) => [e.kind, e.model_id, e.reason])).toEqual([
        ['loaded', 'a', 'miss'],
        ['loaded', 'b', 'miss'],
        ['unloaded', 'b', 'capacity'],
        ['loaded', 'c', 'miss'],
      ]);
      expect(rt.loads.map((l) => l.model_id)).toEqual(['a', 'b', 'c']);
      const status = await h.status();
      expect(status.models.find((x) => x.model_id === 'b')).toMatchObject({
        state: 'unloaded',
        evictions: 1,
        evictions_by_reason: { capacity: 1 },
      });
    });

    it('never unloads a pinned model or one with requests in flight, and says so with 507', async () => {
      h = await CacheManagerHarness.start(QUIET, MODELS);
      const rt = await h.join('rt-1', { capacityBytes: 1000 });
      rt.hold('pin', 1, { memory_bytes: 400 });
      rt.hold('a', 1, { memory_bytes: 400, in_flight: 3 });
      await h.announce(rt);

      const e = await failure(h.ensure({ model_id: 'c', version: 1 }));

      expect(e.code).toBe('INSUFFICIENT_MEMORY');
      expect(e.message).toContain(
        'c@1 needs about 400 bytes (800 while it loads)',
      );
      expect(e.message).toContain('pinned: pin@1');
      expect(e.message).toContain('in use: a@1');
      expect(e.details).toMatchObject({
        runtimes: [
          {
            node_id: 'rt-1',
            free_bytes: 200,
            pinned: ['pin@1'],
            in_use: ['a@1'],
          },
        ],
      });
      expect(rt.unloads).toEqual([]);
      expect(rt.loads).toEqual([]);
    });

    it('takes no model off the routing table before deciding, and the victim off it before unloading', async () => {
      h = await CacheManagerHarness.start(QUIET, MODELS);
      const rt = await h.join('rt-1', { capacityBytes: 900 });
      await h.ensure({ model_id: 'a', version: 1 });
      const routesWhenUnloading: string[][] = [];
      const originalUnload = rt.unloads.push.bind(rt.unloads);
      rt.unloads.push = (...items) => {
        const last = h.tables[h.tables.length - 1];
        routesWhenUnloading.push(last.routes.map((r) => r.model_id));
        return originalUnload(...items);
      };

      await h.ensure({ model_id: 'b', version: 1 });

      expect(routesWhenUnloading).toEqual([[]]);
      await eventually(
        () =>
          h.tables[h.tables.length - 1].routes.map((r) => r.model_id).join() ===
          'b',
      );
    });
  });

  it('waits for room held by a load in progress rather than refusing', async () => {
    h = await CacheManagerHarness.start(QUIET, MODELS);
    const rt = await h.join('rt-1', { capacityBytes: 1000 });
    rt.onLoad = async (req) => {
      await new Promise((r) => setTimeout(r, 200));
      return rt.succeed(req);
    };

    const [a, b] = await Promise.all([
      h.ensure({ model_id: 'a', version: 1 }),
      h.ensure({ model_id: 'b', version: 1 }),
    ]);

    expect([a.loaded_now, b.loaded_now]).toEqual([true, true]);
    expect(rt.loads.map((l) => l.model_id)).toEqual(['a', 'b']);
  });

  describe('quotas', () => {
    it('unloads from the over-quota group, not from another tenant', async () => {
      h = await CacheManagerHarness.start(
        { ...QUIET, quotas: { label: 'team', limitsBytes: { red: 500 } } },
        MODELS,
      );
      const rt = await h.join('rt-1', { capacityBytes: 10_000 });
      await h.ensure({ model_id: 'red1', version: 1 });
      await h.ensure({ model_id: 'blue', version: 1 });
      expect((await h.status()).quotas).toEqual([
        { label: 'team', value: 'red', limit_bytes: 500, used_bytes: 300 },
      ]);

      await h.ensure({ model_id: 'red2', version: 1 });

      // The runtime had room for all three; red's quota did not.
      expect(rt.unloads).toEqual([
        { model_id: 'red1', version: 1, reason: 'quota' },
      ]);
      expect((await h.status()).quotas).toEqual([
        { label: 'team', value: 'red', limit_bytes: 500, used_bytes: 300 },
      ]);
    });

    it('refuses with 507 naming the group when its models cannot make room', async () => {
      h = await CacheManagerHarness.start(
        { ...QUIET, quotas: { label: 'team', limitsBytes: { red: 500 } } },
        MODELS,
      );
      const rt = await h.join('rt-1', { capacityBytes: 10_000 });
      rt.hold('red1', 1, { memory_bytes: 300, in_flight: 1 });
      await h.announce(rt);

      const e = await failure(h.ensure({ model_id: 'red2', version: 1 }));

      expect(e.code).toBe('INSUFFICIENT_MEMORY');
      expect(e.message).toContain(
        'quota group "red" holds 300 of its 500 bytes',
      );
      expect(rt.loads).toEqual([]);
    });
  });

  describe('background work', () => {
    it('unloads the coldest models of a runtime over its soft limit, down to the limit', async () => {
      h = await CacheManagerHarness.start(
        {
          maintenanceIntervalMs: 20,
          warmupMs: 0,
          policy: { minResidencyMs: 0 },
        },
        MODELS,
      );
      const rt = await h.join('rt-1', { capacityBytes: 1000 });
      rt.hold('a', 1, {
        memory_bytes: 400,
        requests: 100,
        loaded_at: '2026-01-01T00:00:00.000Z',
      });
      rt.hold('b', 1, {
        memory_bytes: 400,
        requests: 1,
        loaded_at: '2026-01-01T00:00:00.000Z',
      });
      rt.hold('c', 1, {
        memory_bytes: 150,
        requests: 10,
        loaded_at: '2026-01-01T00:00:00.000Z',
      });
      h.beat(rt); // used 950 > soft limit 900

      await eventually(() => rt.unloads.length > 0);
      expect(rt.unloads).toEqual([
        { model_id: 'b', version: 1, reason: 'soft_limit' },
      ]);
    });

    it('unloads a model idle past its ttl, and never a pinned one', async () => {
      h = await CacheManagerHarness.start(
        { maintenanceIntervalMs: 20, warmupMs: 0, ttlMs: 50 },
        MODELS,
      );
      const rt = await h.join('rt-1', { capacityBytes: 10_000 });
      const old = new Date(Date.now() - 60_000).toISOString();
      rt.hold('idle', 1, { memory_bytes: 100, last_used_at: old });
      rt.hold('pin', 1, { memory_bytes: 100, last_used_at: old });
      h.beat(rt);

      await eventually(() => rt.unloads.length > 0);
      await new Promise((r) => setTimeout(r, 100));
      expect(rt.unloads).toEqual([
        { model_id: 'idle', version: 1, reason: 'ttl' },
      ]);
    });

    it('unloads nothing before its view is warm (a restarted cache-manager)', async () => {
      h = await CacheManagerHarness.start(
        { maintenanceIntervalMs: 20, warmupMs: 60_000, ttlMs: 1 },
        MODELS,
      );
      const rt = await h.join('rt-1', { capacityBytes: 1000 });
      rt.hold('a', 1, {
        memory_bytes: 500,
        last_used_at: '2026-01-01T00:00:00.000Z',
      });
      rt.hold('b', 1, {
        memory_bytes: 450,
        last_used_at: '2026-01-01T00:00:00.000Z',
      });
      await h.announce(rt);

      await new Promise((r) => setTimeout(r, 200));
      expect(rt.unloads).toEqual([]);
      expect(
        (await h.status()).models.filter((x) => x.state === 'loaded'),
      ).toHaveLength(2);
    });

    it('adds a copy of a model whose copy is busy, on another runtime', async () => {
      h = await CacheManagerHarness.start(
        { maintenanceIntervalMs: 20, warmupMs: 0 },
        MODELS,
      );
      const one = await h.join('rt-1', { capacityBytes: 10_000 });
      const two = await h.join('rt-2', { capacityBytes: 10_000 });
      await h.ensure({ model_id: 'a', version: 1 });
      const holder = one.loads.length ? one : two;
      const other = holder === one ? two : one;
      // Two reports 100 ms apart with 95 ms of compute between them: 95% busy.
      holder.hold('a', 1, { memory_bytes: 400, requests: 10, busy_ms: 0 });
      await h.announce(holder);
      await new Promise((r) => setTimeout(r, 100));
      holder.hold('a', 1, { memory_bytes: 400, requests: 110, busy_ms: 95 });
      await h.announce(holder);

      await eventually(() => other.loads.length > 0);
      expect(other.loads.map((l) => l.model_id)).toEqual(['a']);
    });
  });

  describe('memory estimates', () => {
    const ESTIMATES: FakeModel[] = [
      {
        id: 'declared',
        memoryEstimateBytes: 300,
        measured: { 1: 700 },
        versions: { 1: 10 },
      },
      {
        id: 'sure',
        memoryEstimateBytes: 300,
        authoritative: true,
        measured: { 1: 700 },
        versions: { 1: 10 },
      },
      { id: 'file', memoryEstimateBytes: null, versions: { 1: 1000 } },
    ];

    it("reserves the registry's measurement over the declaration, the declaration when authoritative, else the file plus a margin", async () => {
      h = await CacheManagerHarness.start(QUIET, ESTIMATES);
      const rt = await h.join('rt-1', { capacityBytes: 100_000 });
      for (const id of ['declared', 'sure', 'file'])
        await h.ensure({ model_id: id, version: 1 });
      expect(
        rt.loads.map((l) => [l.model_id, l.memory_estimate_bytes]),
      ).toEqual([
        ['declared', 700],
        ['sure', 300],
        ['file', 1200],
      ]);
    });

    it('tells the registry what each load measured', async () => {
      h = await CacheManagerHarness.start(QUIET, ESTIMATES);
      const seen: unknown[] = [];
      h.m.on(Registry.versionMeasured, (e) => void seen.push(e));
      await h.join('rt-1', { capacityBytes: 100_000 });
      await h.ensure({ model_id: 'file', version: 1 });
      await eventually(() => seen.length > 0);
      expect(seen).toEqual([
        expect.objectContaining({
          model_id: 'file',
          version: 1,
          memory_bytes: 1200,
          load_ms: 3,
          node_id: 'rt-1',
        }),
      ]);
    });
  });

  describe('load peaks', () => {
    it('makes room for the peak a load was measured at, once it has been', async () => {
      h = await CacheManagerHarness.start(QUIET, MODELS);
      const rt = await h.join('rt-1', { capacityBytes: 10_000 });
      rt.onLoad = (req) => ({
        ...rt.succeed(req),
        peak_bytes: Math.ceil(req.memory_estimate_bytes * 1.25),
      });
      await h.ensure({ model_id: 'a', version: 1 });
      await h.m.call(CacheManager.unload, { model_id: 'a' });
      const reserved: number[] = [];
      rt.onLoad = (req) => {
        reserved.push(h.sut.status().runtimes[0].memory.loading_bytes);
        return rt.succeed(req);
      };

      await h.ensure({ model_id: 'a', version: 1 });

      // 400 measured, peak 500: the second load reserves 500, not twice 400.
      expect(reserved).toEqual([500]);
    });

    it('plans for what a refusing runtime says is missing, and evicts for it', async () => {
      h = await CacheManagerHarness.start(QUIET, MODELS);
      const rt = await h.join('rt-1', { capacityBytes: 2_000 });
      await h.ensure({ model_id: 'b', version: 1 });
      let refused = false;
      rt.onLoad = (req) => {
        if (req.model_id === 'c' && !refused) {
          refused = true;
          // Its process holds more than its books say: 900 bytes short.
          throw new PortfolioError(
            'INSUFFICIENT_MEMORY',
            'rt-1 cannot load c@1: its RSS is too high',
            {
              node_id: 'rt-1',
              needed_bytes: 400,
              peak_bytes: 800,
              rss_bytes: 11_100,
              limit_bytes: 11_000,
            },
          );
        }
        return rt.succeed(req);
      };

      const res = await h.ensure({ model_id: 'c', version: 1 });

      expect(res).toEqual({ node_id: 'rt-1', loaded_now: true });
      expect(rt.unloads).toEqual([
        { model_id: 'b', version: 1, reason: 'capacity' },
      ]);
      expect(rt.loads.map((l) => l.model_id)).toEqual(['b', 'c', 'c']);
    });
  });

  it('does not wait out the load timeout for a victim whose runtime died with the unload in hand', async () => {
    // Far beyond this test's own timeout: only noticing the death can finish it.
    h = await CacheManagerHarness.start(
      { ...QUIET, loadTimeoutMs: 120_000 },
      MODELS,
    );
    const rt = await h.join('rt-1', { capacityBytes: 1_000 });
    await h.ensure({ model_id: 'a', version: 1 });
    await h.ensure({ model_id: 'b', version: 1 });
    rt.onUnload = () => {
      rt.close();
      return new Promise<never>(() => undefined);
    };

    const e = await h.ensure({ model_id: 'c', version: 1 }).catch((x) => x);

    expect(rt.unloads.length).toBeGreaterThanOrEqual(1);
    expect(e).toBeInstanceOf(PortfolioError);
    expect((h.sut.status().runtimes[0] ?? { alive: false }).alive).toBe(false);
  });

  it('evicts more when a refusing runtime is still short after the first victims are gone', async () => {
    h = await CacheManagerHarness.start(QUIET, MODELS);
    const rt = await h.join('rt-1', { capacityBytes: 2_000 });
    await h.ensure({ model_id: 'a', version: 1 });
    await h.ensure({ model_id: 'b', version: 1 });
    let refusals = 0;
    rt.onLoad = (req) => {
      // Its RSS falls by less than an unload frees (heap kept after a burst): it refuses
      // c twice, each time 300 bytes short (past the first victim, a second must go).
      if (req.model_id === 'c' && refusals < 2) {
        refusals++;
        throw new PortfolioError(
          'INSUFFICIENT_MEMORY',
          'rt-1 cannot load c@1: its RSS is too high',
          {
            node_id: 'rt-1',
            needed_bytes: 400,
            peak_bytes: 800,
            rss_bytes: 10_500,
            limit_bytes: 11_000,
          },
        );
      }
      return rt.succeed(req);
    };

    const res = await h.ensure({ model_id: 'c', version: 1 });

    expect(res).toEqual({ node_id: 'rt-1', loaded_now: true });
    expect(refusals).toBe(2);
    expect(rt.unloads.map((u) => u.model_id).sort()).toEqual(['a', 'b']);
  });

  it('plans again for what a model measured once loaded, when the runtime found it too large', async () => {
    h = await CacheManagerHarness.start(QUIET, MODELS);
    const rt = await h.join('rt-1', { capacityBytes: 2_900 });
    await h.ensure({ model_id: 'b', version: 1 });
    let refused = false;
    rt.onLoad = (req) => {
      if (req.model_id === 'c' && !refused) {
        refused = true;
        throw new PortfolioError(
          'INSUFFICIENT_MEMORY',
          'c@1 measured 1300 bytes once loaded, more than the 1000 bytes free on rt-1',
          {
            node_id: 'rt-1',
            measured_bytes: 1_300,
          },
        );
      }
      return rt.succeed(req);
    };

    await h.ensure({ model_id: 'c', version: 1 });

    // 1,300 bytes (2,600 while loading) next to b's 400 needs b gone.
    expect(rt.unloads).toEqual([
      { model_id: 'b', version: 1, reason: 'capacity' },
    ]);
    expect(rt.loads.map((l) => [l.model_id, l.memory_estimate_bytes])).toEqual([
      ['b', 400],
      ['c', 400],
      ['c', 1_300],
    ]);
  });

  describe('a runtime lost', () => {
    it('reloads the models it held that are in demand on another runtime at once, and only those', async () => {
      h = await CacheManagerHarness.start(
        { ...QUIET, runtimeTimeoutMs: 300 },
        MODELS,
      );
      const dying = await h.join('rt-1', { capacityBytes: 10_000 });
      const other = await h.join('rt-2', { capacityBytes: 10_000 });
      const minuteAgo = new Date(Date.now() - 60_000).toISOString();
      dying.hold('a', 1, {
        memory_bytes: 400,
        requests: 600,
        loaded_at: minuteAgo,
      });
      dying.hold('b', 1, {
        memory_bytes: 400,
        requests: 0,
        loaded_at: minuteAgo,
      });
      await h.announce(dying);
      // rt-2 keeps reporting; rt-1 falls silent.
      const beats = setInterval(() => h.beat(other), 100);
      try {
        await eventually(() => other.loads.length > 0, 3_000);
        await new Promise((r) => setTimeout(r, 300));
        expect(other.loads.map((l) => l.model_id)).toEqual(['a']);
      } finally {
        clearInterval(beats);
      }
    });
  });

  it('places the model elsewhere when its runtime dies during the load', async () => {
    h = await CacheManagerHarness.start(QUIET, MODELS);
    const dying = await h.join('rt-1', { capacityBytes: 100_000 });
    const other = await h.join('rt-2', { capacityBytes: 10_000 });
    // rt-1 has more room, so it is chosen; it never answers the load, then dies.
    dying.onLoad = () => {
      setTimeout(() => dying.close(), 50);
      return new Promise(() => undefined);
    };

    const res = await h.ensure({ model_id: 'a', version: 1 });

    expect(res).toEqual({ node_id: 'rt-2', loaded_now: true });
    expect(dying.loads).toHaveLength(1);
    expect(other.loads.map((l) => l.model_id)).toEqual(['a']);
    expect(
      (await h.status()).runtimes.find((r) => r.node_id === 'rt-1')?.alive,
    ).toBe(false);
  });

  describe('admin', () => {
    it('loads the copies asked for, each on its own runtime, and unloads them all', async () => {
      h = await CacheManagerHarness.start(QUIET, MODELS);
      const runtimes = [
        await h.join('rt-1', { capacityBytes: 10_000 }),
        await h.join('rt-2', { capacityBytes: 10_000 }),
        await h.join('rt-3', { capacityBytes: 10_000 }),
      ];

      const loaded = await h.m.call(CacheManager.load, {
        model_id: 'a',
        version: 1,
        copies: 2,
      });
      expect(loaded.nodes).toHaveLength(2);
      expect(new Set(loaded.nodes).size).toBe(2);

      const unloaded = await h.m.call(CacheManager.unload, { model_id: 'a' });
      expect(unloaded.unloaded.map((u) => u.node_id).sort()).toEqual(
        [...loaded.nodes].sort(),
      );
      expect(runtimes.flatMap((r) => r.unloads.map((u) => u.reason))).toEqual([
        'admin',
        'admin',
      ]);
      expect(h.tables[h.tables.length - 1].routes).toEqual([]);
    });

    it('leaves a hot model an operator unloaded to the next request, not to predictive preloading', async () => {
      h = await CacheManagerHarness.start(
        { maintenanceIntervalMs: 50, warmupMs: 0 },
        MODELS,
      );
      const rt = await h.join('rt-1', { capacityBytes: 10_000 });
      await h.ensure({ model_id: 'a', version: 1 });
      rt.hold('a', 1, {
        memory_bytes: 400,
        requests: 600,
        loaded_at: new Date(Date.now() - 60_000).toISOString(),
      });
      await h.announce(rt);

      await h.m.call(CacheManager.unload, { model_id: 'a', version: 1 });
      const beats = setInterval(() => h.beat(rt), 50);
      try {
        // Several maintenance rounds, each of which would preload a model this hot.
        await new Promise((r) => setTimeout(r, 600));
        expect(rt.loads.map((l) => l.model_id)).toEqual(['a']);
        await h.ensure({ model_id: 'a', version: 1 });
        expect(rt.loads.map((l) => l.model_id)).toEqual(['a', 'a']);
      } finally {
        clearInterval(beats);
      }
    });
  });
});
