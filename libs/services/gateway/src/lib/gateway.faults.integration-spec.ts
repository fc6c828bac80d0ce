import { ConsoleLogger, Logger } from '@nestjs/common';

import { NatsBus } from '@portfolio/messaging';
import {
  eventually,
  parsePrometheusText,
  sampleValue,
  startThrowawayNats,
  testNatsUrl,
  ThrowawayNats,
  uniqueSubjectPrefix,
} from '@portfolio/testing';

import {
  GatewayWithPeers,
  predict,
  startGatewayWithPeers,
} from './gateway.testing';

/**
 * The gateway on its own NATS connection, its fake peers on another (as separate
 * processes would be): a runtime that dies or hangs under a request, and NATS itself
 * going away.
 */

async function retries(g: GatewayWithPeers, reason: string): Promise<number> {
  const res = await g.app.inject({ method: 'GET', url: '/metrics' });
  const { samples } = parsePrometheusText(res.body);
  return (
    sampleValue(samples, 'portfolio_predict_retries_total', { reason }) ?? 0
  );
}

describe('a runtime that stops answering under a request', () => {
  let gatewayBus: NatsBus;
  let peerBus: NatsBus;
  let g: GatewayWithPeers;

  beforeEach(async () => {
    gatewayBus = await NatsBus.connect({ url: testNatsUrl(), name: 'gateway' });
    peerBus = await NatsBus.connect({ url: testNatsUrl(), name: 'peers' });
    g = await startGatewayWithPeers({
      gatewayBus,
      peerBus,
      prefix: uniqueSubjectPrefix('gw'),
      models: { m: 1 },
      nodes: ['r1', 'r2'],
      // Only the liveness check can end a request early; its deadline is far away.
      settings: { requestTimeoutMs: 3_600_000 },
    });
    // r1 holds the model; a request that fails there is loaded again on r2.
    g.cacheManager.place('m', 1, ['r1']);
    g.cacheManager.loadAt = 'r2';
  });
  afterEach(async () => {
    await g.close();
    await Promise.all([gatewayBus.close(), peerBus.close()]);
  });

  /**
   * Sends a prediction that r1 receives and keeps (until release()). The response is
   * wrapped: returned bare, a thenable would be awaited by the caller's await.
   */
  async function inFlightOnR1() {
    g.runtimes['r1'].hold();
    const response = predict(g.app, 'm', [[1, 2, 3, 4]]);
    await eventually('r1 receiving the request', () =>
      g.runtimes['r1'].received === 1 ? true : null,
    );
    return { response };
  }

  it.each([
    ['dies (nothing answers on its subjects any more)', 'die'],
    ['hangs (its pings go unanswered)', 'hang'],
  ] as const)(
    'retries the request once on another runtime when it %s',
    async (_what, fault) => {
      const { response } = await inFlightOnR1();

      g.runtimes['r1'][fault]();
      const res = await response;

      expect(res.statusCode).toBe(200);
      expect(res.json().outputs).toEqual({ y: [[10]] });
      expect(g.runtimes['r2'].received).toBe(1);
      expect(g.cacheManager.ensures).toContainEqual({
        model_id: 'm',
        version: 1,
        exclude_nodes: ['r1'],
      });
      expect(await retries(g, 'runtime_lost')).toBe(1);
    },
  );

  it('waits for a slow runtime that still answers its pings', async () => {
    const { response } = await inFlightOnR1();

    // The gateway has checked on r1 while the request waited, and kept waiting.
    await eventually('a liveness ping to r1', () =>
      g.runtimes['r1'].pings > 0 ? true : null,
    );
    g.runtimes['r1'].release();
    const res = await response;

    expect(res.statusCode).toBe(200);
    expect(res.json().outputs).toEqual({ y: [[10]] });
    expect(g.runtimes['r2'].received).toBe(0);
    expect(g.cacheManager.ensures).toEqual([]);
    expect(await retries(g, 'runtime_lost')).toBe(0);
  });

  it('waits for a runtime that misses one ping and answers the next (a backlog, not a death)', async () => {
    const { response } = await inFlightOnR1();
    g.runtimes['r1'].silenceNextPings(1);

    await eventually('a second liveness ping to r1', () =>
      g.runtimes['r1'].pings >= 2 ? true : null,
    );
    g.runtimes['r1'].release();
    const res = await response;

    expect(res.statusCode).toBe(200);
    expect(g.runtimes['r2'].received).toBe(0);
    expect(g.cacheManager.ensures).toEqual([]);
    expect(await retries(g, 'runtime_lost')).toBe(0);
  });
});

describe('NATS going away under the gateway', () => {
  let nats: ThrowawayNats;
  let gatewayBus: NatsBus;
  let peerBus: NatsBus;
  let g: GatewayWithPeers;

  // Each service logs its disconnects and reconnects; here they are the point.
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(new ConsoleLogger()));

  beforeEach(async () => {
    nats = await startThrowawayNats();
    gatewayBus = await NatsBus.connect({ url: nats.url, name: 'gateway' });
    peerBus = await NatsBus.connect({ url: nats.url, name: 'peers' });
    g = await startGatewayWithPeers({
      gatewayBus,
      peerBus,
      prefix: uniqueSubjectPrefix('gw'),
      models: { m: 1 },
      nodes: ['r1'],
      settings: { requestTimeoutMs: 3_600_000 },
    });
    g.cacheManager.place('m', 1, ['r1']);
  });
  afterEach(async () => {
    await g.close();
    await Promise.all([gatewayBus.close(), peerBus.close()]);
    await nats.stop();
  });

  it('fails requests at once with 503 and Retry-After while it is down, in flight or new, and serves again once it is back', async () => {
    expect((await predict(g.app, 'm', [[1, 2, 3, 4]])).statusCode).toBe(200);
    g.runtimes['r1'].hold();
    const inFlight = predict(g.app, 'm', [[1, 2, 3, 4]]);
    await eventually('r1 receiving the request', () =>
      g.runtimes['r1'].received === 2 ? true : null,
    );

    await nats.halt();

    // Its deadline is an hour away: only the dropped connection ends it.
    const failed = await inFlight;
    expect(failed.statusCode).toBe(503);
    expect(failed.headers['retry-after']).toBe('1');
    expect(failed.json().error).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      details: { bus: 'disconnected' },
    });
    await eventually('the gateway noticing the outage', () =>
      gatewayBus.isConnected() ? null : true,
    );
    const refused = await predict(g.app, 'm', [[1, 2, 3, 4]]);
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json().error.code).toBe('SERVICE_UNAVAILABLE');

    g.runtimes['r1'].release();
    await nats.resume();

    const served = await eventually(
      'a prediction after NATS came back',
      async () => {
        const res = await predict(g.app, 'm', [[1, 2, 3, 4]]);
        return res.statusCode === 200 ? res : null;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(served.json().outputs).toEqual({ y: [[10]] });
  });
});
