import { ConsoleLogger, Logger } from '@nestjs/common';
import { PortfolioError } from '@portfolio/contracts';
import {
  eventually,
  startThrowawayNats,
  testNatsUrl,
  ThrowawayNats,
  uniqueSubjectPrefix,
} from '@portfolio/testing';

import { BusError } from './bus';
import { busContract } from './bus-contract.testing';
import { Messaging } from './messaging';
import { NatsBus } from './nats.bus';

describe(NatsBus.name, () => {
  busContract(
    () =>
      NatsBus.connect({
        url: testNatsUrl(),
        name: 'messaging-integration-test',
      }),
    () => uniqueSubjectPrefix('bus'),
  );

  it('reports the server max payload', async () => {
    const bus = await NatsBus.connect({
      url: testNatsUrl(),
      name: 'messaging-integration-test',
    });
    try {
      expect(bus.maxPayloadBytes()).toBeGreaterThanOrEqual(1024 * 1024);
      expect(() =>
        bus.publish(
          `${uniqueSubjectPrefix('big')}.x`,
          new Uint8Array(bus.maxPayloadBytes() + 1),
        ),
      ).toThrow(/max_payload/);
    } finally {
      await bus.close();
    }
  });
});

/** Outages need a server of their own to stop: a throwaway nats-server per test. */
describe(`${NatsBus.name} while NATS is down`, () => {
  let nats: ThrowawayNats;
  let responder: NatsBus;
  let caller: NatsBus;
  const p = uniqueSubjectPrefix('outage');
  const utf8 = (s: string) => Buffer.from(s, 'utf8');

  // The bus logs each disconnect and reconnect; here they are the point, not news.
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(new ConsoleLogger()));

  beforeEach(async () => {
    nats = await startThrowawayNats();
    responder = await NatsBus.connect({ url: nats.url, name: 'responder' });
    caller = await NatsBus.connect({ url: nats.url, name: 'caller' });
  });
  afterEach(async () => {
    await Promise.all([caller.close(), responder.close()]);
    await nats.stop();
  });

  /** Resolves once the bus has seen its connection drop (status events are asynchronous). */
  const disconnected = (bus: NatsBus) =>
    eventually('the bus noticing the outage', () =>
      bus.isConnected() ? null : true,
    );

  it('refuses new requests at once with DISCONNECTED, and serves them again once NATS is back', async () => {
    responder.subscribe(`${p}.echo`, (m) => ({ data: m.data }));
    await flushed(responder, p);
    await caller.request(`${p}.echo`, utf8('before'), { timeoutMs: 2000 });

    await nats.halt();
    await disconnected(caller);
    // A deadline far beyond the test's own timeout: waiting for it fails the test.
    const during = await caller
      .request(`${p}.echo`, utf8('during'), { timeoutMs: 3_600_000 })
      .catch((e: unknown) => e);
    expect(during).toBeInstanceOf(BusError);
    expect(during).toMatchObject({ code: 'DISCONNECTED' });

    await nats.resume();
    const reply = await eventually(
      'a reply after NATS came back',
      () => caller.request(`${p}.echo`, utf8('after'), { timeoutMs: 1000 }),
      { timeoutMs: 15_000 },
    );
    expect(Buffer.from(reply.data).toString('utf8')).toBe('after');
    expect(caller.isConnected()).toBe(true);
  });

  it('tells its reconnect listeners once NATS is back, and no longer those that stopped', async () => {
    let told = 0;
    let stoppedTold = 0;
    caller.onReconnect(() => told++);
    const stop = caller.onReconnect(() => stoppedTold++);
    stop();

    await nats.halt();
    await disconnected(caller);
    expect(told).toBe(0);
    await nats.resume();
    await eventually('the reconnect listener', () => (told > 0 ? true : null), {
      timeoutMs: 15_000,
    });

    expect(told).toBe(1);
    expect(stoppedTold).toBe(0);
  });

  it('fails a request still waiting for its reply when the connection drops', async () => {
    let received!: () => void;
    const arrived = new Promise<void>((resolve) => (received = resolve));
    // Never answers: only the drop can end the request before its deadline.
    responder.subscribe(`${p}.slow`, () => {
      received();
      return undefined;
    });
    await flushed(responder, p);
    const pending = caller
      .request(`${p}.slow`, utf8('x'), { timeoutMs: 3_600_000 })
      .catch((e: unknown) => e);
    await arrived;

    await nats.halt();

    expect(await pending).toMatchObject({ code: 'DISCONNECTED' });
  });

  it('is SERVICE_UNAVAILABLE (bus: disconnected) through Messaging, without naming the server', async () => {
    const m = new Messaging(caller, p, 3_600_000);
    await nats.halt();
    await disconnected(caller);

    const error = await m
      .requestRaw(`${p}.anything`, utf8('x'))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PortfolioError);
    expect(error).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      details: { bus: 'disconnected' },
    });
    expect((error as Error).message).not.toContain('127.0.0.1');
  });
});

async function flushed(bus: NatsBus, p: string): Promise<void> {
  const sub = bus.subscribe(`_flush.${p}`, () => ({ data: new Uint8Array(0) }));
  await bus.request(`_flush.${p}`, new Uint8Array(0), { timeoutMs: 2000 });
  sub.unsubscribe();
}
