import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';

import { CacheManager } from '@portfolio/contracts';
import {
  InProcessBus,
  MessageBus,
  Messaging,
  MessagingModule,
} from '@portfolio/messaging';

import {
  FakeCacheManager,
  FakeStorage,
  FakeRegistry,
  FakeRuntime,
} from './fake-peers.testing';
import { GatewayServiceModule } from './gateway-service.module';
import { GatewaySettings } from './gateway.settings';
import { createGatewayAdapter } from './http/gateway-http';
import { setUpOpenApi } from './openapi/openapi-setup';

export const TEST_SETTINGS: GatewaySettings = {
  // The auth specs turn it on; the others test what lies behind it.
  authEnabled: false,
  adminKey: null,
  bodyLimitBytes: 1024 * 1024,
  uploadLimitBytes: 4 * 1024 * 1024,
  requestTimeoutMs: 10_000,
  loadTimeoutMs: 10_000,
  configuredModels: [],
};

/**
 * The real gateway (GatewayServiceModule on the real Fastify adapter) on the given bus,
 * answering in-process HTTP requests (`app.inject`, no port).
 */
export async function startGateway(
  bus: MessageBus,
  prefix: string,
  settings: Partial<GatewaySettings> = {},
): Promise<NestFastifyApplication> {
  Logger.overrideLogger(false);
  const all = { ...TEST_SETTINGS, ...settings };
  const app = await NestFactory.create<NestFastifyApplication>(
    {
      module: class GatewayTestApp {},
      imports: [
        MessagingModule.forRoot({ bus, prefix, requestTimeoutMs: 5000 }),
        GatewayServiceModule.forRoot(all),
      ],
    },
    createGatewayAdapter(all.bodyLimitBytes),
    { logger: false },
  );
  // As the apps do, so that the tests see every route they serve.
  setUpOpenApi(app);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

/** A prediction of `x` (rows of 4) as a client sends it. */
export function predict(
  app: NestFastifyApplication,
  modelId: string,
  rows: number[][],
) {
  return app.inject({
    method: 'POST',
    url: `/v1/models/${modelId}/predict`,
    payload: { inputs: { x: rows } },
  });
}

export interface GatewayWithPeers {
  readonly app: NestFastifyApplication;
  /** The peers' side of the bus (their own Messaging: another process, as it were). */
  readonly peers: Messaging;
  readonly registry: FakeRegistry;
  readonly cacheManager: FakeCacheManager;
  readonly storage: FakeStorage;
  readonly runtimes: Record<string, FakeRuntime>;
  close(): Promise<void>;
}

/**
 * The gateway on `gatewayBus`, and a fake registry (`models`: id -> number of
 * versions), cache-manager and runtimes (`nodes`) on `peerBus` (the same bus, or another
 * connection to the same NATS).
 */
export async function startGatewayWithPeers(options: {
  gatewayBus: MessageBus;
  peerBus: MessageBus;
  prefix: string;
  models: Record<string, number>;
  nodes: string[];
  settings?: Partial<GatewaySettings>;
}): Promise<GatewayWithPeers> {
  const peers = new Messaging(options.peerBus, options.prefix, 5000);
  const registry = new FakeRegistry(peers, options.models);
  const cacheManager = new FakeCacheManager(peers);
  const storage = new FakeStorage(peers);
  const runtimes = Object.fromEntries(
    options.nodes.map((n) => [n, new FakeRuntime(peers, n)]),
  );
  // On NATS a subscription takes a round trip to reach the server: the reply to this
  // request, sent after all of them, proves every peer's subscription is in place.
  await peers.call(CacheManager.ping, {});
  const app = await startGateway(
    options.gatewayBus,
    options.prefix,
    options.settings,
  );
  // Settled before a test takes the cache-manager away, so no request waits on it.
  await cacheManager.routingAsked;
  return {
    app,
    peers,
    registry,
    cacheManager,
    storage,
    runtimes,
    close: async () => {
      await app.close();
      for (const r of Object.values(runtimes)) r.close();
      storage.close();
      cacheManager.close();
      registry.close();
    },
  };
}

/** The gateway and its fake peers on one in-process bus (as in the standalone app). */
export function startInProcess(options: {
  models: Record<string, number>;
  nodes: string[];
  settings?: Partial<GatewaySettings>;
}): Promise<GatewayWithPeers> {
  const bus = new InProcessBus();
  return startGatewayWithPeers({
    ...options,
    gatewayBus: bus,
    peerBus: bus,
    prefix: 'unit',
  });
}
