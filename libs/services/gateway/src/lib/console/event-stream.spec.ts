import { EventEmitter } from 'node:events';
import { get } from 'node:http';
import { connect } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { CacheManager, CacheModelEvent } from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

import { ADMIN_KEY, FakeKeys } from '../auth/fake-keys.testing';
import { GatewayWithPeers, startInProcess } from '../gateway.testing';
import {
  MAX_EVENT_STREAMS,
  MAX_UNREAD_BYTES,
  ModelEventStreams,
  sseMessage,
} from './event-stream';
import { MODEL_EVENTS_KEPT, ModelEventLog } from './model-event-log';

const event = (over: Partial<CacheModelEvent> = {}): CacheModelEvent => ({
  kind: 'loaded',
  model_id: 'm',
  version: 1,
  node_id: 'r1',
  bytes: 1024,
  load_ms: 12.5,
  reason: 'admin',
  at: '2026-01-01T00:00:00.000Z',
  ...over,
});

describe('sseMessage', () => {
  it('writes id, event and data, ended by a blank line', () => {
    expect(sseMessage({ id: 'a-1', event: 'model', data: '{"x":1}' })).toBe(
      'id: a-1\nevent: model\ndata: {"x":1}\n\n',
    );
    expect(sseMessage({ data: '' })).toBe('data: \n\n');
  });

  it('splits data on every kind of line break, so no line can end the message early', () => {
    expect(sseMessage({ data: 'a\nb\r\nc\rd' })).toBe(
      'data: a\ndata: b\ndata: c\ndata: d\n\n',
    );
  });

  it.each(['a\nb', 'a\rb', 'a\0b'])(
    'refuses an id or event name holding %p',
    (bad) => {
      expect(() => sseMessage({ id: bad, data: '' })).toThrow(RangeError);
      expect(() => sseMessage({ event: bad, data: '' })).toThrow(RangeError);
    },
  );
});

/** A `text/event-stream` read as messages: `{ id, event, data }` each (comments kept apart). */
class StreamReader {
  private text = '';
  private readonly decoder = new TextDecoder();
  readonly messages: Record<string, string>[] = [];
  comments = 0;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
  ) {}

  static of(res: Response): StreamReader {
    if (!res.body) throw new Error(`no body (status ${res.status})`);
    return new StreamReader(res.body.getReader());
  }

  /** Reads until `count` messages (retry and comments aside) have come. */
  async until(count: number): Promise<Record<string, string>[]> {
    while (this.messages.length < count) {
      const { done, value } = await this.reader.read();
      if (done)
        throw new Error(
          `the stream ended after ${this.messages.length} messages`,
        );
      this.text += this.decoder.decode(value, { stream: true });
      let end: number;
      while ((end = this.text.indexOf('\n\n')) >= 0) {
        const block = this.text.slice(0, end);
        this.text = this.text.slice(end + 2);
        if (block.startsWith(':')) {
          this.comments++;
          continue;
        }
        const fields: Record<string, string> = {};
        for (const line of block.split('\n')) {
          const at = line.indexOf(': ');
          fields[line.slice(0, at)] = line.slice(at + 2);
        }
        if (!('retry' in fields)) this.messages.push(fields);
      }
    }
    return this.messages;
  }

  /** Resolves when the server ends the stream. */
  async ended(): Promise<void> {
    for (;;) if ((await this.reader.read()).done) return;
  }
}

describe('GET /v1/models/events', () => {
  let g: GatewayWithPeers;
  let url: string;
  let keys: FakeKeys;
  let log: ModelEventLog;
  let streams: ModelEventStreams;

  beforeEach(async () => {
    g = await startInProcess({
      models: { m: 1 },
      nodes: ['r1'],
      settings: { authEnabled: true, adminKey: ADMIN_KEY },
    });
    keys = new FakeKeys(g.peers);
    log = g.app.get(ModelEventLog);
    streams = g.app.get(ModelEventStreams);
    // A real socket: the stream never ends on its own, which app.inject waits for.
    await g.app.listen(0, '127.0.0.1');
    const address = g.app.getHttpServer().address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterEach(() => g.close());

  /** The cache-manager's event, through the bus, once the gateway has it. */
  async function emit(peers: Messaging, e: CacheModelEvent): Promise<void> {
    const before = log.since().length;
    peers.emit(CacheManager.modelEvent, e);
    for (let i = 0; i < 100 && log.since().length === before; i++)
      await new Promise((r) => setTimeout(r, 5));
  }

  const open = (key: string, headers: Record<string, string> = {}) => {
    const controller = new AbortController();
    const response = fetch(`${url}/v1/models/events`, {
      headers: {
        authorization: `Bearer ${key}`,
        accept: 'text/event-stream',
        ...headers,
      },
      signal: controller.signal,
    });
    return { response, abort: () => controller.abort() };
  };

  it('answers the events it holds as JSON, oldest first, each with its id', async () => {
    await emit(g.peers, event());
    await emit(
      g.peers,
      event({
        kind: 'unloaded',
        reason: 'capacity',
        bytes: 1024,
        load_ms: null,
      }),
    );

    const res = await fetch(`${url}/v1/models/events`, {
      headers: { authorization: `Bearer ${keys.add(['read'])}` },
    });
    const body = (await res.json()) as {
      gateway: string;
      capacity: number;
      events: unknown[];
    };

    expect(res.status).toBe(200);
    expect(body.gateway).toBe(log.instance);
    expect(body.capacity).toBe(MODEL_EVENTS_KEPT);
    expect(body.events).toEqual([
      { id: `${log.instance}-1`, ...event() },
      expect.objectContaining({
        id: `${log.instance}-2`,
        kind: 'unloaded',
        reason: 'capacity',
      }),
    ]);
  });

  it('streams what it holds, then each new event, to a read key', async () => {
    await emit(g.peers, event());
    const { response, abort } = open(keys.add(['read']));
    const res = await response;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(
      'text/event-stream; charset=utf-8',
    );
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    const reader = StreamReader.of(res);

    const [first] = await reader.until(1);
    await emit(
      g.peers,
      event({
        kind: 'load_failed',
        reason: 'the model does not load: <b>bad</b>',
        bytes: null,
        load_ms: null,
      }),
    );
    const [, second] = await reader.until(2);

    expect(first).toEqual({
      id: `${log.instance}-1`,
      event: 'model',
      data: JSON.stringify({ id: `${log.instance}-1`, ...event() }),
    });
    expect(JSON.parse(second.data)).toMatchObject({
      kind: 'load_failed',
      reason: 'the model does not load: <b>bad</b>',
    });
    expect(second.id).toBe(`${log.instance}-2`);
    abort();
  });

  it('resumes after Last-Event-ID, and gives everything for an id of another gateway', async () => {
    for (let v = 1; v <= 3; v++) await emit(g.peers, event({ version: v }));
    const key = keys.add(['read']);

    const resumed = open(key, { 'last-event-id': `${log.instance}-2` });
    const other = open(key, { 'last-event-id': 'ffffffff-2' });
    const resumedReader = StreamReader.of(await resumed.response);
    const otherReader = StreamReader.of(await other.response);
    await emit(g.peers, event({ version: 4 }));

    expect((await resumedReader.until(2)).map((m) => m.id)).toEqual([
      `${log.instance}-3`,
      `${log.instance}-4`,
    ]);
    expect(
      (await otherReader.until(4)).map((m) => JSON.parse(m.data).version),
    ).toEqual([1, 2, 3, 4]);
    resumed.abort();
    other.abort();
  });

  it('keeps the last 500 events', async () => {
    for (let i = 0; i < MODEL_EVENTS_KEPT + 20; i++)
      log.add(event({ version: i + 1 }));

    const held = log.since();

    expect(held).toHaveLength(MODEL_EVENTS_KEPT);
    expect(held[0].version).toBe(21);
  });

  it('refuses a key without the read scope, and no key', async () => {
    const predictOnly = (await (
      await open(keys.add(['predict'])).response
    ).json()) as { error: unknown };
    const none = await fetch(`${url}/v1/models/events`, {
      headers: { accept: 'text/event-stream' },
    });

    expect(predictOnly.error).toMatchObject({
      code: 'FORBIDDEN',
      details: { needed_scope: 'read' },
    });
    expect(none.status).toBe(401);
    expect(streams.count).toBe(0);
  });

  it('lets go of a stream whose client goes away: no listener, no timer, no connection left', async () => {
    const server = g.app.getHttpServer();
    const connections = () =>
      new Promise<number>((resolve) =>
        server.getConnections((_e: unknown, n: number) => resolve(n)),
      );
    // One connection of its own (fetch's pool may open more than it uses).
    const request = get(`${url}/v1/models/events`, {
      agent: false,
      headers: {
        authorization: `Bearer ${keys.add(['read'])}`,
        accept: 'text/event-stream',
      },
    });
    request.on('error', () => undefined);
    await new Promise((resolve) => request.once('response', resolve));
    expect(streams.count).toBe(1);
    expect(log.listening).toBe(1);

    request.destroy();
    for (
      let i = 0;
      i < 200 && (streams.count > 0 || (await connections()) > 0);
      i++
    )
      await new Promise((r) => setTimeout(r, 5));

    expect(streams.count).toBe(0);
    expect(log.listening).toBe(0);
    expect(await connections()).toBe(0);
  });

  it('lets go of a client that only half closes its connection', async () => {
    const server = g.app.getHttpServer();
    const connections = () =>
      new Promise<number>((resolve) =>
        server.getConnections((_e: unknown, n: number) => resolve(n)),
      );
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `GET /v1/models/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${keys.add(['read'])}\r\nAccept: text/event-stream\r\n\r\n`,
    );
    await new Promise((resolve) => socket.once('data', resolve));
    expect(streams.count).toBe(1);

    // FIN only: the client sends no more, and may still read.
    socket.end();
    for (
      let i = 0;
      i < 200 && (streams.count > 0 || (await connections()) > 0);
      i++
    )
      await new Promise((r) => setTimeout(r, 5));

    expect(streams.count).toBe(0);
    expect(await connections()).toBe(0);
    socket.destroy();
  });

  it(`serves at most ${MAX_EVENT_STREAMS} streams at once (503 past them)`, async () => {
    const key = keys.add(['read']);
    const opened = [];
    for (let i = 0; i < MAX_EVENT_STREAMS; i++) {
      const s = open(key);
      expect((await s.response).status).toBe(200);
      opened.push(s);
    }

    const refused = (await (await open(key).response).json()) as {
      error: { code: string };
    };

    expect(refused.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(streams.count).toBe(MAX_EVENT_STREAMS);
    for (const s of opened) s.abort();
  });

  it('ends its streams when the gateway closes, so that it can stop', async () => {
    const { response } = open(keys.add(['read']));
    const reader = StreamReader.of(await response);

    await g.app.close();

    await reader.ended();
    expect(streams.count).toBe(0);
  });
});

describe('ModelEventStreams with a client that does not read', () => {
  it(`closes its stream once ${MAX_UNREAD_BYTES} bytes wait unread`, () => {
    const log = new ModelEventLog({} as Messaging);
    const streams = new ModelEventStreams(log);
    const reply = {
      raw: new EventEmitter(),
      header() {
        return this;
      },
    };
    const body = streams.start(
      { headers: {} } as FastifyRequest,
      reply as unknown as FastifyReply,
    );
    const reason = 'x'.repeat(10_000);

    // Nothing reads `body`: every event waits in it.
    let sent = 0;
    while (streams.count > 0 && sent < 1000) {
      log.add(event({ reason }));
      sent++;
    }

    expect(streams.count).toBe(0);
    expect(log.listening).toBe(0);
    expect(body.writableEnded).toBe(true);
    // Each message is the reason and some 200 bytes more.
    expect(sent).toBeGreaterThanOrEqual(
      Math.floor(MAX_UNREAD_BYTES / (reason.length + 400)),
    );
    expect(sent).toBeLessThanOrEqual(
      Math.ceil(MAX_UNREAD_BYTES / reason.length) + 1,
    );
  });
});
