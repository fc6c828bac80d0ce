import { INestApplicationContext } from '@nestjs/common';

import {
  CacheManager,
  ClusterStatus,
  EnsureLoadedRequest,
  EnsureLoadedResponse,
  PortfolioError,
  RoutingTable,
  Runtime,
} from '@portfolio/contracts';
import {
  createBusApp,
  InProcessBus,
  Messaging,
  MessagingModule,
} from '@portfolio/messaging';

import { CacheManagerServiceModule } from './cache-manager-service.module';
import { CacheManagerService } from './cache-manager.service';
import { CacheManagerSettings } from './cache-manager.settings';
import {
  eventually,
  FakeModel,
  FakeRegistry,
  FakeRuntime,
  FakeRuntimeOptions,
} from './fake-peers.testing';

export const DEFAULT_SETTINGS: CacheManagerSettings = {
  runtimeTimeoutMs: 10_000,
  loadTimeoutMs: 2_000,
  routingRepublishMs: 60_000,
};

/**
 * A real CacheManagerServiceModule on an in-process bus, with a fake registry and
 * fake runtimes as its peers (fake-peers.testing.ts).
 */
export class CacheManagerHarness {
  readonly tables: RoutingTable[] = [];

  private constructor(
    readonly app: INestApplicationContext,
    readonly m: Messaging,
    readonly sut: CacheManagerService,
    readonly registry: FakeRegistry,
  ) {
    m.on(CacheManager.routingChanged, (t) => void this.tables.push(t));
  }

  static async start(
    settings: Partial<CacheManagerSettings> = {},
    models: readonly FakeModel[] = [],
  ): Promise<CacheManagerHarness> {
    const app = await createBusApp(
      {
        module: class CacheManagerTestApp {},
        imports: [
          MessagingModule.forRoot({
            bus: new InProcessBus(),
            prefix: 'test',
            requestTimeoutMs: 5_000,
          }),
          CacheManagerServiceModule.forRoot({
            ...DEFAULT_SETTINGS,
            ...settings,
          }),
        ],
      },
      { logger: false },
    );
    const m = app.get(Messaging);
    return new CacheManagerHarness(
      app,
      m,
      app.get(CacheManagerService),
      new FakeRegistry(m, models),
    );
  }

  /** A runtime on the bus whose first heartbeat the cache-manager has seen. */
  async join(
    nodeId: string,
    options: FakeRuntimeOptions = {},
  ): Promise<FakeRuntime> {
    const runtime = new FakeRuntime(this.m, nodeId, options);
    await this.announce(runtime);
    return runtime;
  }

  /**
   * Sends a heartbeat and waits until the cache-manager has applied it: the bus calls
   * subscribers in the order they subscribed, and the cache-manager's (synchronous)
   * handler subscribed first, so once ours sees this heartbeat, so has it.
   */
  async announce(runtime: FakeRuntime): Promise<void> {
    const hb = runtime.heartbeatPayload();
    await new Promise<void>((resolve) => {
      const sub = this.m.on(Runtime.heartbeat, (seen) => {
        if (seen.node_id !== hb.node_id || seen.seq !== hb.seq) return;
        sub.unsubscribe();
        resolve();
      });
      this.m.emit(Runtime.heartbeat, hb);
    });
    await eventually(() =>
      this.sut
        .status()
        .runtimes.some((r) => r.node_id === runtime.nodeId && r.alive),
    );
  }

  /** Sends a heartbeat without waiting for it (background work may act on it at once). */
  beat(runtime: FakeRuntime): void {
    this.m.emit(Runtime.heartbeat, runtime.heartbeatPayload());
  }

  ensure(req: EnsureLoadedRequest): Promise<EnsureLoadedResponse> {
    return this.m.call(CacheManager.ensureLoaded, req);
  }

  status(): Promise<ClusterStatus> {
    return this.m.call(CacheManager.status, {});
  }

  close(): Promise<void> {
    return this.app.close();
  }
}

/** The PortfolioError a promise rejects with (and fails the test if it resolves). */
export function failure(p: Promise<unknown>): Promise<PortfolioError> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(PortfolioError);
      return e as PortfolioError;
    },
  );
}
