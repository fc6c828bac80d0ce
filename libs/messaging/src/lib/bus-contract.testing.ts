import { z } from 'zod';

import { PortfolioError, serviceRpc, targetedRpc } from '@portfolio/contracts';

import { BusError, MessageBus } from './bus';
import { decodeJson, encodeJson } from './json.util';
import { Messaging } from './messaging';

const Echo = serviceRpc(
  'test.echo.v1',
  'echo',
  z.object({ text: z.string() }),
  z.object({ text: z.string(), by: z.string() }),
);
const Hello = targetedRpc(
  'node',
  'hello.v1',
  z.object({}),
  z.object({ node: z.string() }),
);

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const text = (d: Uint8Array) => Buffer.from(d).toString('utf8');

/**
 * The behaviour both buses must share (see MessageBus). Run against the in-process
 * bus by a unit test and against a real NATS server by an integration test.
 */
export function busContract(
  makeBus: () => Promise<MessageBus>,
  prefix: () => string,
): void {
  let bus: MessageBus;
  let p: string;

  beforeEach(async () => {
    bus = await makeBus();
    p = prefix();
  });
  afterEach(async () => {
    await bus.close();
  });

  it('answers a request with the first reply', async () => {
    bus.subscribe(`${p}.a`, (m) => ({
      data: utf8(`got ${text(m.data)}`),
      headers: { 'X-Seen': m.headers['X-In'] ?? '' },
    }));
    const reply = await bus.request(`${p}.a`, utf8('ping'), {
      timeoutMs: 2000,
      headers: { 'X-In': 'yes' },
    });
    expect(text(reply.data)).toBe('got ping');
    expect(reply.headers['X-Seen']).toBe('yes');
  });

  it('rejects at once with NO_RESPONDERS when nobody listens', async () => {
    // A deadline far beyond the test's own timeout: waiting for it fails the test.
    await expect(
      bus.request(`${p}.nobody`, utf8('x'), { timeoutMs: 3_600_000 }),
    ).rejects.toMatchObject({
      code: 'NO_RESPONDERS',
    });
  });

  it('rejects with TIMEOUT when the handler never replies', async () => {
    bus.subscribe(`${p}.silent`, () => undefined);
    const error = await bus
      .request(`${p}.silent`, utf8('x'), { timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BusError);
    expect((error as BusError).code).toBe('TIMEOUT');
  });

  it('splits a queue group: each message reaches one member', async () => {
    const seen: string[] = [];
    for (const member of ['m1', 'm2']) {
      bus.subscribe(
        `${p}.q`,
        () => {
          seen.push(member);
          return { data: utf8(member) };
        },
        { queue: 'workers' },
      );
    }
    for (let i = 0; i < 20; i++)
      await bus.request(`${p}.q`, utf8('x'), { timeoutMs: 2000 });
    expect(seen).toHaveLength(20);
    expect(new Set(seen)).toEqual(new Set(['m1', 'm2']));
  });

  it('fans published events out to every plain subscriber, with wildcards', async () => {
    const got: string[] = [];
    const done = new Promise<void>((resolve) => {
      const record = (who: string) => () => {
        got.push(who);
        if (got.length === 3) resolve();
      };
      bus.subscribe(`${p}.ev.one`, record('exact'));
      bus.subscribe(`${p}.ev.*`, record('star'));
      bus.subscribe(`${p}.>`, record('tail'));
      bus.subscribe(`${p}.other`, record('never'));
    });
    await flush(bus, p);
    bus.publish(`${p}.ev.one`, utf8('hi'));
    await done;
    expect(got.sort()).toEqual(['exact', 'star', 'tail']);
  });

  it('stops delivering after unsubscribe', async () => {
    const sub = bus.subscribe(`${p}.gone`, () => ({ data: utf8('x') }));
    await bus.request(`${p}.gone`, utf8('x'), { timeoutMs: 2000 });
    sub.unsubscribe();
    await flush(bus, p);
    await expect(
      bus.request(`${p}.gone`, utf8('x'), { timeoutMs: 1000 }),
    ).rejects.toMatchObject({
      code: 'NO_RESPONDERS',
    });
  });

  it('says it is connected while open, and refuses requests once closed', async () => {
    expect(bus.isConnected()).toBe(true);
    bus.subscribe(`${p}.open`, () => ({ data: utf8('x') }));
    await bus.close();
    expect(bus.isConnected()).toBe(false);
    await expect(
      bus.request(`${p}.open`, utf8('x'), { timeoutMs: 3_600_000 }),
    ).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('refuses invalid subjects', () => {
    expect(() => bus.publish(`${p}.bad subject`, utf8('x'))).toThrow(BusError);
    expect(() => bus.subscribe(`${p}.>.x`, () => undefined)).toThrow(BusError);
  });

  describe('Messaging on top of it', () => {
    it('validates requests and replies and carries PortfolioError codes', async () => {
      const m = new Messaging(bus, p, 2000);
      m.serve(Echo, (req) => {
        if (req.text === 'boom')
          throw new PortfolioError('MODEL_NOT_FOUND', 'no model "boom"', {
            id: 'boom',
          });
        if (req.text === 'crash') throw new Error('unexpected');
        return { text: req.text, by: 'echo' };
      });
      await flush(bus, p);
      await expect(m.call(Echo, { text: 'hi' })).resolves.toEqual({
        text: 'hi',
        by: 'echo',
      });

      const notFound = await m
        .call(Echo, { text: 'boom' })
        .catch((e: unknown) => e);
      expect(notFound).toBeInstanceOf(PortfolioError);
      expect(notFound).toMatchObject({
        code: 'MODEL_NOT_FOUND',
        message: 'no model "boom"',
        details: { id: 'boom' },
      });

      await expect(m.call(Echo, { text: 'crash' })).rejects.toMatchObject({
        code: 'INTERNAL',
        message: 'unexpected',
      });

      // A request that does not match the schema never reaches the handler.
      const raw = await m
        .requestRaw(`${p}.test.echo.v1`, encodeJson({ text: 42 }))
        .catch((e: unknown) => e);
      expect(raw).toMatchObject({ code: 'INVALID_REQUEST' });
      expect((raw as Error).message).toContain('text');
    });

    it('addresses targeted definitions to one instance', async () => {
      const m = new Messaging(bus, p, 2000);
      for (const node of ['n1', 'n2'])
        m.serve(Hello, () => ({ node }), { target: node });
      await flush(bus, p);
      await expect(m.call(Hello, {}, { target: 'n2' })).resolves.toEqual({
        node: 'n2',
      });
      await expect(m.call(Hello, {}, { target: 'n3' })).rejects.toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        details: { bus: 'no_responders' },
      });
    });

    it('hands an event to one member of a queue group, and to every plain subscriber', async () => {
      const m = new Messaging(bus, p, 2000);
      const ev = {
        kind: 'event' as const,
        name: 'test.counted.v1',
        subject: (x: string) => `${x}.test.counted.v1`,
        payload: z.object({ n: z.number() }),
      };
      const counted: string[] = [];
      const plain: number[] = [];
      for (const member of ['g1', 'g2'])
        m.on(ev, () => void counted.push(member), { queue: 'counters' });
      const all = new Promise<void>((resolve) =>
        m.on(ev, (e) => {
          plain.push(e.n);
          if (plain.length === 10) resolve();
        }),
      );
      await flush(bus, p);
      for (let n = 0; n < 10; n++) m.emit(ev, { n });
      await all;
      await flush(bus, p);
      expect(plain.sort((a, b) => a - b)).toEqual([
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
      ]);
      expect(counted).toHaveLength(10);
    });

    it('drops malformed events instead of passing them on', async () => {
      const m = new Messaging(bus, p, 2000);
      const ev = {
        kind: 'event' as const,
        name: 'test.ev.v1',
        subject: (x: string) => `${x}.test.ev.v1`,
        payload: z.object({ n: z.number() }),
      };
      const got: number[] = [];
      const arrived = new Promise<void>((resolve) =>
        m.on(ev, (e) => {
          got.push(e.n);
          resolve();
        }),
      );
      await flush(bus, p);
      bus.publish(`${p}.test.ev.v1`, encodeJson({ n: 'not a number' }));
      m.emit(ev, { n: 7 });
      await arrived;
      expect(got).toEqual([7]);
      expect(decodeJson(encodeJson({ a: 1 }))).toEqual({ a: 1 });
    });
  });
}

/** Subscriptions on NATS take a round trip to reach the server; a request through it proves they have. */
async function flush(bus: MessageBus, p: string): Promise<void> {
  const sub = bus.subscribe(`_flush.${p}`, () => ({ data: new Uint8Array(0) }));
  await bus.request(`_flush.${p}`, new Uint8Array(0), { timeoutMs: 2000 });
  sub.unsubscribe();
}
