import { ConsoleLogger, Logger } from '@nestjs/common';

import { Registry } from '@portfolio/contracts';
import { Messaging, NatsBus } from '@portfolio/messaging';
import {
  eventually,
  startThrowawayNats,
  ThrowawayNats,
  uniqueSubjectPrefix,
} from '@portfolio/testing';

import { modelRecord, versionRecord } from '../fake-peers.testing';
import { ModelCatalogService } from './model-catalog.service';

/**
 * The gateway's cached registry view over a real NATS of its own: a change whose event
 * the gateway missed while its connection was down is read again once it is back.
 */
describe(`${ModelCatalogService.name} across a NATS outage`, () => {
  let nats: ThrowawayNats;
  let gatewayBus: NatsBus;
  let registryBus: NatsBus;
  let catalog: ModelCatalogService;
  /** What the registry answers as m's default version. */
  let current = 1;

  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(new ConsoleLogger()));

  beforeEach(async () => {
    nats = await startThrowawayNats();
    const prefix = uniqueSubjectPrefix('catalog');
    gatewayBus = await NatsBus.connect({ url: nats.url, name: 'gateway' });
    registryBus = await NatsBus.connect({ url: nats.url, name: 'registry' });
    new Messaging(registryBus, prefix, 2000).serve(
      Registry.resolveVersion,
      (req) => ({
        model: modelRecord(req.model_id),
        version: versionRecord(req.model_id, req.version ?? current),
        aliases: {},
      }),
    );
    catalog = new ModelCatalogService(new Messaging(gatewayBus, prefix, 2000));
    catalog.onApplicationBootstrap();
    current = 1;
  });
  afterEach(async () => {
    catalog.onModuleDestroy();
    await Promise.all([gatewayBus.close(), registryBus.close()]);
    await nats.stop();
  });

  const defaultVersion = async () =>
    (await catalog.resolve('m')).version.version;

  it('keeps its view while nothing is announced, and reads it again after a reconnect', async () => {
    // The registry's subscription reaches the server asynchronously: until it has, the
    // request finds no responder (and nothing is cached).
    expect(
      await eventually('the registry serving', () =>
        defaultVersion().catch(() => null),
      ),
    ).toBe(1);
    // Changed with no event reaching the gateway (as if announced while it was away).
    current = 2;
    expect(await defaultVersion()).toBe(1);

    await nats.halt();
    await eventually('the gateway noticing the outage', () =>
      gatewayBus.isConnected() ? null : true,
    );
    await nats.resume();

    const after = await eventually(
      'the view read again after the reconnect',
      async () => {
        const v = await defaultVersion().catch(() => null);
        return v === 2 ? v : null;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(after).toBe(2);
  });
});
