import { INestApplicationContext } from '@nestjs/common';

import { CacheManager, PortfolioError, Registry } from '@portfolio/contracts';
import {
  createBusApp,
  InProcessBus,
  Messaging,
  MessagingModule,
} from '@portfolio/messaging';

import { CacheManagerServiceModule } from './cache-manager-service.module';
import { CacheManagerService } from './cache-manager.service';
import {
  eventually,
  FakeModel,
  FakeRegistry,
  FakeRuntime,
} from './fake-peers.testing';
import { PreloadService } from './preload.service';

/** Long enough to notice a load that should not happen; well under the service's 2 s retry tick. */
const QUIET_MS = 150;

describe(PreloadService.name, () => {
  let app: INestApplicationContext;
  let m: Messaging;
  let cache: CacheManagerService;
  let registry: FakeRegistry;

  async function start(models: readonly FakeModel[]): Promise<void> {
    const bus = new InProcessBus();
    app = await createBusApp(
      {
        module: class PreloadTestApp {},
        imports: [
          MessagingModule.forRoot({
            bus,
            prefix: 'test',
            requestTimeoutMs: 5_000,
          }),
          CacheManagerServiceModule.forRoot({
            runtimeTimeoutMs: 10_000,
            loadTimeoutMs: 2_000,
            routingRepublishMs: 60_000,
          }),
        ],
      },
      { logger: false },
    );
    m = app.get(Messaging);
    cache = app.get(CacheManagerService);
    registry = new FakeRegistry(m, models);
  }

  /** A runtime joins after the cache-manager started. */
  function join(nodeId: string): FakeRuntime {
    const runtime = new FakeRuntime(m, nodeId);
    runtime.heartbeat();
    return runtime;
  }

  const quiet = () => new Promise((r) => setTimeout(r, QUIET_MS));
  /** Resolutions of the default version: the preload's own (the cache-manager's placement names the version). */
  const resolvesOf = (modelId: string) =>
    registry.resolves.filter(
      (r) => r.model_id === modelId && r.version === undefined,
    ).length;

  afterEach(async () => {
    await app?.close();
  });

  it('loads the default version of a preload model once a runtime joins', async () => {
    await start([
      { id: 'iris', preload: true, versions: { 1: 100, 2: 200 } },
      { id: 'mnist', preload: false, versions: { 1: 100 } },
    ]);
    await quiet();
    expect(registry.resolves).toEqual([]);

    const rt = join('rt-a');

    await eventually(() => rt.loads.length > 0);
    await quiet();
    expect(rt.loads.map((l) => [l.model_id, l.version])).toEqual([['iris', 2]]);
    expect(
      cache.status().models.find((x) => x.model_id === 'iris'),
    ).toMatchObject({ version: 2, state: 'loaded', nodes: ['rt-a'] });
  });

  it('loads a preload model again once it is loaded nowhere (unloaded under pressure, say)', async () => {
    await start([{ id: 'iris', preload: true, versions: { 1: 100 } }]);
    const rt = join('rt-a');
    await eventually(() => rt.loads.length === 1);

    await m.call(CacheManager.unload, { model_id: 'iris' });
    expect(cache.isServing('iris', 1)).toBe(false);

    // The next retry tick (2 s) finds it missing.
    await eventually(() => rt.loads.length === 2, 5_000);
    expect(cache.isServing('iris', 1)).toBe(true);
  });

  it('does not load a preload model again when another runtime joins', async () => {
    await start([{ id: 'iris', preload: true, versions: { 1: 100 } }]);
    const a = join('rt-a');
    await eventually(() => a.loads.length === 1);

    const b = join('rt-b');

    await eventually(() => resolvesOf('iris') === 2);
    await quiet();
    expect(a.loads).toHaveLength(1);
    expect(b.loads).toHaveLength(0);
  });

  it('skips a preload model without a version and still loads the others', async () => {
    await start([
      { id: 'empty', preload: true, versions: {} },
      { id: 'iris', preload: true, versions: { 1: 100 } },
    ]);

    const rt = join('rt-a');

    await eventually(() => rt.loads.length > 0);
    await quiet();
    expect(resolvesOf('empty')).toBe(1);
    expect(rt.loads.map((l) => l.model_id)).toEqual(['iris']);
    expect(cache.status().models.map((x) => x.model_id)).toEqual(['iris']);
  });

  it('retries a preload model after Registry.modelChanged says it changed', async () => {
    await start([{ id: 'later', preload: true, versions: {} }]);
    const rt = join('rt-a');
    await eventually(() => resolvesOf('later') === 1);
    await quiet();
    expect(rt.loads).toHaveLength(0);

    registry.put({ id: 'later', preload: true, versions: { 1: 100 } });
    m.emit(Registry.modelChanged, {
      model_id: 'later',
      change: 'version_created',
      version: 1,
    });

    await eventually(() => rt.loads.length > 0);
    expect(rt.loads.map((l) => [l.model_id, l.version])).toEqual([
      ['later', 1],
    ]);
  });

  it('leaves a model that failed to load alone until it changes', async () => {
    await start([
      { id: 'broken', preload: true, versions: { 1: 100 } },
      { id: 'iris', preload: true, versions: { 1: 100 } },
    ]);
    const attempts: string[] = [];
    const failBroken = (rt: FakeRuntime) => {
      rt.onLoad = (req) => {
        attempts.push(req.model_id);
        if (req.model_id === 'broken')
          throw new PortfolioError('MODEL_LOAD_FAILED', 'bad graph');
        return rt.succeed(req);
      };
    };
    const a = new FakeRuntime(m, 'rt-a');
    failBroken(a);
    a.heartbeat();
    await eventually(() => attempts.includes('iris'));
    expect(attempts).toEqual(['broken', 'iris']);

    // A runtime joining makes the service look again, but not at the model that failed.
    const b = new FakeRuntime(m, 'rt-b');
    failBroken(b);
    b.heartbeat();
    await eventually(() => resolvesOf('iris') === 2);
    await quiet();
    expect(resolvesOf('broken')).toBe(1);
    expect(attempts).toEqual(['broken', 'iris']);

    m.emit(Registry.modelChanged, { model_id: 'broken', change: 'updated' });

    await eventually(() => attempts.length === 3);
    expect(attempts).toEqual(['broken', 'iris', 'broken']);
  });

  it('retries a preload that found no runtime once one joins', async () => {
    await start([{ id: 'iris', preload: true, versions: { 1: 100 } }]);
    // A change before any runtime exists: the attempt ends in NO_RUNTIME.
    m.emit(Registry.modelChanged, { model_id: 'iris', change: 'updated' });
    await eventually(() => resolvesOf('iris') === 1);
    await quiet();
    expect(
      cache.status().models.find((x) => x.model_id === 'iris'),
    ).toMatchObject({ misses: 1, loads: 0 });

    const rt = join('rt-a');

    await eventually(() => rt.loads.length === 1);
    expect(rt.loads[0]).toMatchObject({ model_id: 'iris', version: 1 });
  });
});
