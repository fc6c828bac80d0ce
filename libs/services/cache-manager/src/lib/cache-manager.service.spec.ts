import {
  CacheManager,
  ClusterStatus,
  EnsureLoadedRequest,
  EnsureLoadedResponse,
  PortfolioError,
  RoutingTable,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

import { CacheManagerService } from './cache-manager.service';
import { CacheManagerHarness, failure } from './cache-manager.testing';
import { CacheManagerSettings } from './cache-manager.settings';
import {
  artifactUri,
  eventually,
  FakeRegistry,
  FakeRuntime,
  FakeRuntimeOptions,
} from './fake-peers.testing';

const MODELS = [
  { id: 'iris', memoryEstimateBytes: 500, versions: { 1: 1_000 } },
  { id: 'plain', memoryEstimateBytes: null, versions: { 1: 1_001 } },
  { id: 'huge', memoryEstimateBytes: 5_000_000, versions: { 1: 10 } },
  {
    id: 'batched',
    memoryEstimateBytes: 500,
    versions: { 1: 1_000 },
    maxBatchSize: 8,
    maxQueueDelayMs: 2,
  },
];

describe(CacheManagerService.name, () => {
  let h: CacheManagerHarness | undefined;
  let m: Messaging;
  let sut: CacheManagerService;
  let registry: FakeRegistry;
  let tables: RoutingTable[];

  async function start(
    settings: Partial<CacheManagerSettings> = {},
  ): Promise<void> {
    h = await CacheManagerHarness.start(settings, MODELS);
    ({ m, sut, registry, tables } = h);
  }

  const harness = (): CacheManagerHarness => {
    if (!h) throw new Error('start() first');
    return h;
  };
  const join = (nodeId: string, options: FakeRuntimeOptions = {}) =>
    harness().join(nodeId, options);
  const announce = (runtime: FakeRuntime) => harness().announce(runtime);
  const ensure = (req: EnsureLoadedRequest): Promise<EnsureLoadedResponse> =>
    harness().ensure(req);
  const status = (): Promise<ClusterStatus> => harness().status();

  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  describe('ensure', () => {
    beforeEach(() => start());

    it('answers NO_RUNTIME when no runtime has reported', async () => {
      const e = await failure(ensure({ model_id: 'iris', version: 1 }));

      expect(e.code).toBe('NO_RUNTIME');
      expect(e.message).toContain('iris@1');
    });

    it('loads on the only runtime with the artifact and the declared memory estimate, then routes to it', async () => {
      const rt = await join('rt-a');

      const res = await ensure({ model_id: 'iris', version: 1 });

      expect(res).toEqual({ node_id: 'rt-a', loaded_now: true });
      expect(registry.resolves).toEqual([{ model_id: 'iris', version: 1 }]);
      expect(rt.loads).toEqual([
        {
          model_id: 'iris',
          version: 1,
          format: 'onnx',
          artifact_uri: artifactUri('iris', 1),
          sha256: (1).toString(16).padStart(64, '0'),
          size_bytes: 1_000,
          memory_estimate_bytes: 500,
          // Room for the first load's peak: twice its size.
          expected_peak_bytes: 1_000,
        },
      ]);
      const table = await eventually(() =>
        tables.find((t) => t.routes.length > 0),
      );
      expect(table.routes).toEqual([
        { model_id: 'iris', version: 1, nodes: ['rt-a'] },
      ]);
      expect(table.instance).toBe(sut.instance);
      expect(table.epoch).toBeGreaterThan(
        Math.max(
          0,
          ...tables.filter((t) => t.routes.length === 0).map((t) => t.epoch),
        ),
      );
      expect((await m.call(CacheManager.getRouting, {})).routes).toEqual(
        table.routes,
      );
    });

    it("passes a model's batching settings on to the runtime that loads it", async () => {
      const rt = await join('rt-a');

      await ensure({ model_id: 'batched', version: 1 });
      await ensure({ model_id: 'plain', version: 1 });

      expect(
        rt.loads.map((l) => [l.model_id, l.max_batch, l.max_queue_delay_ms]),
      ).toEqual([
        ['batched', 8, 2],
        ['plain', undefined, undefined],
      ]);
    });

    it('estimates 1.2 times the artifact size for a model without a declared estimate', async () => {
      const rt = await join('rt-a');

      await ensure({ model_id: 'plain', version: 1 });

      expect(rt.loads.map((l) => l.memory_estimate_bytes)).toEqual([
        Math.ceil(1_001 * 1.2),
      ]);
      expect(rt.loads[0].memory_estimate_bytes).toBe(1_202);
    });

    it('estimates a model it loaded before by its measured memory', async () => {
      const rt = await join('rt-a');
      rt.onLoad = (req) => rt.succeed(req, 4_321);
      await ensure({ model_id: 'plain', version: 1 });
      rt.stopping();
      await eventually(() => sut.status().runtimes.length === 0);
      const other = await join('rt-b');

      await ensure({ model_id: 'plain', version: 1 });

      expect(other.loads.map((l) => l.memory_estimate_bytes)).toEqual([4_321]);
    });

    it('shares one load among concurrent misses for the same model (single flight)', async () => {
      const rt = await join('rt-a');
      rt.onLoad = async (req) => {
        await new Promise((r) => setTimeout(r, 50));
        return rt.succeed(req);
      };

      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          ensure({ model_id: 'iris', version: 1 }),
        ),
      );

      expect(rt.loads).toHaveLength(1);
      expect(results.map((r) => r.node_id)).toEqual(Array(10).fill('rt-a'));
      const iris = (await status()).models.find((x) => x.model_id === 'iris');
      expect(iris).toMatchObject({ misses: 1, loads: 1 });
    });

    it('answers from its view once the model is loaded, without loading again', async () => {
      const rt = await join('rt-a');
      await ensure({ model_id: 'iris', version: 1 });

      const again = await ensure({ model_id: 'iris', version: 1 });

      expect(again).toEqual({ node_id: 'rt-a', loaded_now: false });
      expect(rt.loads).toHaveLength(1);
      expect(
        (await status()).models.find((x) => x.model_id === 'iris'),
      ).toMatchObject({ misses: 1, loads: 1 });
    });

    it('answers from its view for a model a runtime reported, without loading', async () => {
      const rt = new FakeRuntime(m, 'rt-a');
      rt.hold('iris', 1);
      await announce(rt);

      expect(await ensure({ model_id: 'iris', version: 1 })).toEqual({
        node_id: 'rt-a',
        loaded_now: false,
      });
      expect(rt.loads).toHaveLength(0);
    });

    it('refuses with INSUFFICIENT_MEMORY a model larger than every runtime', async () => {
      const a = await join('rt-a', { capacityBytes: 1_000_000 });
      const b = await join('rt-b', { capacityBytes: 2_000_000 });

      const e = await failure(ensure({ model_id: 'huge', version: 1 }));

      expect(e.code).toBe('INSUFFICIENT_MEMORY');
      expect(e.message).toMatch(/more than any runtime's capacity/);
      expect(e.message).toContain('2000000');
      expect(e.details).toMatchObject({ needed_bytes: 5_000_000 });
      expect([...a.loads, ...b.loads]).toEqual([]);
    });

    it('refuses with INSUFFICIENT_MEMORY a model that fits a runtime but not its free memory', async () => {
      const rt = await join('rt-a', { capacityBytes: 1_000, usedBytes: 900 });

      const e = await failure(ensure({ model_id: 'iris', version: 1 }));

      expect(e.code).toBe('INSUFFICIENT_MEMORY');
      expect(e.message).toMatch(
        /no runtime can make that much room \(most free: 100\)/,
      );
      expect(rt.loads).toEqual([]);
    });

    it('places the model on the runtime with more free memory', async () => {
      const fuller = await join('rt-a', {
        capacityBytes: 10_000,
        usedBytes: 8_000,
      });
      const emptier = await join('rt-b', {
        capacityBytes: 10_000,
        usedBytes: 1_000,
      });

      const res = await ensure({ model_id: 'iris', version: 1 });

      expect(res.node_id).toBe('rt-b');
      expect(fuller.loads).toHaveLength(0);
      expect(emptier.loads).toHaveLength(1);
    });

    it('counts a load in progress as used, so the next model goes to the other runtime', async () => {
      const a = await join('rt-a', { capacityBytes: 10_000 });
      const b = await join('rt-b', { capacityBytes: 9_800 });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      a.onLoad = async (req) => {
        await gate;
        return a.succeed(req);
      };

      const first = ensure({ model_id: 'iris', version: 1 });
      await eventually(() => a.loads.length === 1);
      const second = await ensure({ model_id: 'plain', version: 1 });
      release();

      expect((await first).node_id).toBe('rt-a');
      expect(second.node_id).toBe('rt-b');
      expect(b.loads.map((l) => l.model_id)).toEqual(['plain']);
    });

    it('tries another runtime when the chosen one refuses with INSUFFICIENT_MEMORY', async () => {
      const a = await join('rt-a', { capacityBytes: 20_000 });
      const b = await join('rt-b', { capacityBytes: 10_000 });
      a.onLoad = () => {
        throw new PortfolioError('INSUFFICIENT_MEMORY', 'over the hard limit');
      };

      const res = await ensure({ model_id: 'iris', version: 1 });

      expect(res).toEqual({ node_id: 'rt-b', loaded_now: true });
      expect(a.loads).toHaveLength(1);
      expect(b.loads).toHaveLength(1);
      expect(sut.status().runtimes.map((r) => r.node_id)).toEqual([
        'rt-a',
        'rt-b',
      ]);
    });

    it('passes on the runtime refusal when no other runtime is left to try', async () => {
      const a = await join('rt-a');
      a.onLoad = () => {
        throw new PortfolioError('INSUFFICIENT_MEMORY', 'over the hard limit');
      };

      const e = await failure(ensure({ model_id: 'iris', version: 1 }));

      expect(e.code).toBe('INSUFFICIENT_MEMORY');
      expect(e.message).toBe('over the hard limit');
    });

    it('drops a runtime that no longer answers and loads on another one', async () => {
      const silent = await join('rt-a', {
        capacityBytes: 20_000,
        responsive: false,
      });
      const b = await join('rt-b', { capacityBytes: 10_000 });

      const res = await ensure({ model_id: 'iris', version: 1 });

      expect(res).toEqual({ node_id: 'rt-b', loaded_now: true });
      expect(silent.loads).toHaveLength(0);
      expect(b.loads).toHaveLength(1);
      const after = await status();
      expect(after.runtimes.map((r) => [r.node_id, r.alive])).toEqual([
        ['rt-a', false],
        ['rt-b', true],
      ]);
      expect(after.totals.runtimes_alive).toBe(1);
    });

    it('passes MODEL_LOAD_FAILED to the caller, tries no other runtime, and shows the model failed', async () => {
      const a = await join('rt-a', { capacityBytes: 20_000 });
      const b = await join('rt-b', { capacityBytes: 10_000 });
      a.onLoad = () => {
        throw new PortfolioError(
          'MODEL_LOAD_FAILED',
          'onnxruntime: node MatMul_0 has mismatched shapes',
        );
      };

      const e = await failure(ensure({ model_id: 'iris', version: 1 }));

      expect(e.code).toBe('MODEL_LOAD_FAILED');
      expect(e.message).toBe(
        'onnxruntime: node MatMul_0 has mismatched shapes',
      );
      expect(b.loads).toHaveLength(0);
      const iris = (await status()).models.find((x) => x.model_id === 'iris');
      expect(iris).toMatchObject({
        state: 'failed',
        reason: 'onnxruntime: node MatMul_0 has mismatched shapes',
        nodes: [],
        misses: 1,
        loads: 0,
      });
    });

    it('clears the failure once a later load succeeds', async () => {
      const a = await join('rt-a');
      a.onLoad = () => {
        throw new PortfolioError('MODEL_LOAD_FAILED', 'broken');
      };
      await failure(ensure({ model_id: 'iris', version: 1 }));
      a.onLoad = (req) => a.succeed(req);

      await ensure({ model_id: 'iris', version: 1 });

      expect(
        (await status()).models.find((x) => x.model_id === 'iris'),
      ).toMatchObject({ state: 'loaded', reason: null, nodes: ['rt-a'] });
    });

    it('loads another copy elsewhere when the caller excludes the node holding the model', async () => {
      const a = new FakeRuntime(m, 'rt-a');
      a.hold('iris', 1);
      await announce(a);
      const b = await join('rt-b');

      const res = await ensure({
        model_id: 'iris',
        version: 1,
        exclude_nodes: ['rt-a'],
      });

      expect(res).toEqual({ node_id: 'rt-b', loaded_now: true });
      expect(a.loads).toHaveLength(0);
      expect(b.loads).toHaveLength(1);
    });

    it('keeps an excluded runtime that still answers a ping', async () => {
      const a = new FakeRuntime(m, 'rt-a');
      a.hold('iris', 1);
      await announce(a);
      await join('rt-b');

      await ensure({ model_id: 'iris', version: 1, exclude_nodes: ['rt-a'] });

      expect(a.pings).toBe(1);
      expect((await status()).runtimes.map((r) => r.node_id)).toEqual([
        'rt-a',
        'rt-b',
      ]);
      expect((await m.call(CacheManager.getRouting, {})).routes).toEqual([
        { model_id: 'iris', version: 1, nodes: ['rt-a', 'rt-b'] },
      ]);
    });

    it('drops an excluded runtime that does not answer a ping, with its routes', async () => {
      const a = new FakeRuntime(m, 'rt-a');
      a.hold('iris', 1);
      a.hold('mnist', 1);
      await announce(a);
      const b = await join('rt-b');
      a.close();

      const res = await ensure({
        model_id: 'iris',
        version: 1,
        exclude_nodes: ['rt-a'],
      });

      expect(res).toEqual({ node_id: 'rt-b', loaded_now: true });
      expect(b.loads).toHaveLength(1);
      expect(
        (await status()).runtimes.map((r) => [r.node_id, r.alive]),
      ).toEqual([
        ['rt-a', false],
        ['rt-b', true],
      ]);
      expect((await m.call(CacheManager.getRouting, {})).routes).toEqual([
        { model_id: 'iris', version: 1, nodes: ['rt-b'] },
      ]);
      const latest = await eventually(() =>
        tables.find(
          (t) => t.routes.length === 1 && t.routes[0].nodes[0] === 'rt-b',
        ),
      );
      expect(latest.routes.some((r) => r.model_id === 'mnist')).toBe(false);
    });

    it('answers NO_RUNTIME when every runtime is excluded and none answers a ping', async () => {
      const a = await join('rt-a');
      a.close();

      const e = await failure(
        ensure({ model_id: 'iris', version: 1, exclude_nodes: ['rt-a'] }),
      );

      expect(e.code).toBe('NO_RUNTIME');
      expect(a.loads).toHaveLength(0);
    });

    it('loads on an excluded runtime that answers a ping when no other runtime can', async () => {
      // A gateway whose request and ping timed out on a busy runtime excludes it.
      const a = await join('rt-a');

      const res = await ensure({
        model_id: 'iris',
        version: 1,
        exclude_nodes: ['rt-a'],
      });

      expect(res).toEqual({ node_id: 'rt-a', loaded_now: true });
      expect(a.pings).toBe(1);
      expect(a.loads).toHaveLength(1);
      expect(
        (await status()).models.find((x) => x.model_id === 'iris')?.misses,
      ).toBe(1);
    });

    it('answers with the copy on an excluded runtime that answers a ping when no other runtime can load it', async () => {
      const a = new FakeRuntime(m, 'rt-a');
      a.hold('iris', 1);
      await announce(a);

      const res = await ensure({
        model_id: 'iris',
        version: 1,
        exclude_nodes: ['rt-a'],
      });

      expect(res).toEqual({ node_id: 'rt-a', loaded_now: false });
      expect(a.loads).toHaveLength(0);
    });

    it('forgets the model on a stale node and loads it there anew', async () => {
      const a = new FakeRuntime(m, 'rt-a');
      a.hold('iris', 1);
      await announce(a);
      expect(await ensure({ model_id: 'iris', version: 1 })).toEqual({
        node_id: 'rt-a',
        loaded_now: false,
      });
      expect(a.loads).toHaveLength(0);
      // The runtime lost it (a worker crashed) and answered MODEL_NOT_LOADED to the gateway.
      a.drop('iris', 1);

      const res = await ensure({
        model_id: 'iris',
        version: 1,
        stale_nodes: ['rt-a'],
      });

      expect(res).toEqual({ node_id: 'rt-a', loaded_now: true });
      expect(a.loads).toHaveLength(1);
    });
  });

  describe('runtimes leaving', () => {
    it('drops the routes of a runtime silent for longer than runtimeTimeoutMs', async () => {
      await start({ runtimeTimeoutMs: 300 });
      const alive = await join('rt-b');
      const keepAlive = setInterval(() => alive.heartbeat(), 50);
      try {
        const silent = new FakeRuntime(m, 'rt-a');
        silent.hold('iris', 1);
        const lastHeard = Date.now();
        silent.heartbeat();
        await eventually(() =>
          tables.find((t) => t.routes.some((r) => r.model_id === 'iris')),
        );

        const dropped = await eventually(() =>
          tables.find(
            (t, i) =>
              i > 0 && tables[i - 1].routes.length > 0 && t.routes.length === 0,
          ),
        );

        expect(Date.now() - lastHeard).toBeGreaterThanOrEqual(300);
        expect(dropped.routes).toEqual([]);
        const after = await status();
        expect(after.runtimes.map((r) => [r.node_id, r.alive])).toEqual([
          ['rt-a', false],
          ['rt-b', true],
        ]);
        expect(after.totals).toMatchObject({
          runtimes_alive: 1,
          capacity_bytes: after.runtimes[1].capacity_bytes,
        });

        // Back with a heartbeat, it counts again.
        silent.heartbeat();
        await eventually(async () =>
          (await status()).runtimes.every((r) => r.alive),
        );
      } finally {
        clearInterval(keepAlive);
      }
    });

    it('removes a runtime that says it is stopping at once, without reporting it lost', async () => {
      await start();
      const a = new FakeRuntime(m, 'rt-a');
      a.hold('iris', 1);
      await announce(a);
      const before = await eventually(() =>
        tables.find((t) => t.routes.length === 1),
      );

      a.stopping();

      // Within eventually's 3 s, far below runtimeTimeoutMs (10 s): the message did it.
      const after = await eventually(() =>
        tables.find((t) => t.epoch > before.epoch),
      );
      expect(after.routes).toEqual([]);
      expect((await status()).runtimes).toEqual([]);
      const e = await failure(ensure({ model_id: 'iris', version: 1 }));
      expect(e.code).toBe('NO_RUNTIME');
    });

    it('re-publishes the routing table periodically with the same epoch when nothing changed', async () => {
      await start({ routingRepublishMs: 50 });

      await eventually(() => tables.length >= 3);

      const epochs = new Set(tables.map((t) => t.epoch));
      expect(epochs.size).toBe(1);
      expect(new Set(tables.map((t) => t.instance))).toEqual(
        new Set([sut.instance]),
      );
    });
  });

  describe('status', () => {
    beforeEach(() => start());

    it('sums capacities, used memory and per-model hits over the runtimes, with misses and loads', async () => {
      const a = new FakeRuntime(m, 'rt-a', { capacityBytes: 1_000 });
      a.hold('plain', 1, {
        requests: 5,
        memory_bytes: 100,
        last_used_at: '2026-01-01T00:00:05.000Z',
      });
      await announce(a);
      const b = new FakeRuntime(m, 'rt-b', { capacityBytes: 2_000 });
      b.hold('plain', 1, {
        requests: 7,
        memory_bytes: 100,
        last_used_at: '2026-01-01T00:00:09.000Z',
      });
      b.hold('mnist', 3, { requests: 1, memory_bytes: 100 });
      await announce(b);

      await ensure({ model_id: 'iris', version: 1 }); // 500 bytes declared, placed on rt-b (most free)
      const s = await status();

      expect(s.totals).toEqual({
        runtimes_alive: 2,
        capacity_bytes: 3_000,
        used_bytes: 100 + 700,
        models_loaded: 3,
      });
      expect(
        s.runtimes.map((r) => [r.node_id, r.used_bytes, r.models_loaded]),
      ).toEqual([
        ['rt-a', 100, 1],
        ['rt-b', 700, 3],
      ]);
      expect(s.models).toEqual([
        expect.objectContaining({
          model_id: 'iris',
          version: 1,
          state: 'loaded',
          nodes: ['rt-b'],
          hits: 0,
          misses: 1,
          loads: 1,
          memory_bytes: 500,
        }),
        expect.objectContaining({
          model_id: 'mnist',
          version: 3,
          state: 'loaded',
          nodes: ['rt-b'],
          hits: 1,
          misses: 0,
          loads: 0,
        }),
        expect.objectContaining({
          model_id: 'plain',
          version: 1,
          state: 'loaded',
          nodes: ['rt-a', 'rt-b'],
          hits: 12,
          misses: 0,
          loads: 0,
          last_used_at: '2026-01-01T00:00:09.000Z',
        }),
      ]);
    });
  });
});
