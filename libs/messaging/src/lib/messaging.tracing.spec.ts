import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';

import { event, PortfolioError, serviceRpc } from '@portfolio/contracts';
import {
  injectTraceContext,
  startTracing,
  stopTracing,
} from '@portfolio/telemetry';

import { BusMessage } from './bus';
import { InProcessBus } from './in-process.bus';
import { Messaging } from './messaging';

const Echo = serviceRpc(
  'test.echo.v1',
  'test',
  z.object({ text: z.string() }),
  z.object({ text: z.string() }),
);
const Fail = serviceRpc('test.fail.v1', 'test', z.object({}), z.object({}));
const Happened = event('test.happened.v1', z.object({ n: z.number() }));

const exporter = new InMemorySpanExporter();
const tracer = () => trace.getTracer('test');

/** Runs `fn` inside a root span named `caller`, and returns that span's ids. */
async function inCaller(
  fn: () => Promise<unknown>,
): Promise<{ traceId: string; spanId: string }> {
  return tracer().startActiveSpan('caller', async (span) => {
    try {
      await fn();
      return span.spanContext();
    } finally {
      span.end();
    }
  });
}

function spanNamed(name: string): ReadableSpan {
  const found = exporter.getFinishedSpans().filter((s) => s.name === name);
  expect(found).toHaveLength(1);
  return found[0];
}

/** Waits for the in-process bus to deliver (next macrotask) and handlers to settle. */
const delivered = () => new Promise((r) => setTimeout(r, 20));

describe('Messaging without tracing', () => {
  it('sends no trace headers and hands the headers object on untouched', async () => {
    const headers = { a: 'b' };
    expect(injectTraceContext(headers)).toBe(headers);
    expect(injectTraceContext()).toBeUndefined();

    const m = new Messaging(new InProcessBus(), 'pf', 1000);
    let seen: BusMessage | null = null;
    m.serveRaw('pf.raw', (msg) => {
      seen = msg;
      return { data: new Uint8Array(0) };
    });
    await m.requestRaw('pf.raw', new Uint8Array(0), { headers });
    expect((seen as BusMessage | null)?.headers).toEqual({ a: 'b' });
  });
});

describe('Messaging with tracing (W3C context in bus headers)', () => {
  let m: Messaging;

  beforeAll(() => {
    startTracing({ service: 'test', spanExporter: exporter });
  });
  afterAll(() => stopTracing());
  beforeEach(() => {
    exporter.reset();
    m = new Messaging(new InProcessBus(), 'pf', 1000);
  });

  it("continues the caller's trace in a server span named after the contract, where the handler runs", async () => {
    let headers: Readonly<Record<string, string>> = {};
    let handlerSpan: string | undefined;
    m.serve(Echo, (req, message) => {
      headers = message.headers;
      handlerSpan = trace.getActiveSpan()?.spanContext().spanId;
      return req;
    });

    const caller = await inCaller(() => m.call(Echo, { text: 'hi' }));

    expect(headers['traceparent']).toBe(
      `00-${caller.traceId}-${caller.spanId}-01`,
    );
    const server = spanNamed('test.echo.v1');
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.spanContext().traceId).toBe(caller.traceId);
    expect(server.parentSpanContext?.spanId).toBe(caller.spanId);
    expect(handlerSpan).toBe(server.spanContext().spanId);
    expect(server.attributes).toMatchObject({
      'messaging.system': 'portfolio.in_process',
      'messaging.destination.name': 'pf.test.echo.v1',
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': 'test',
    });
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('carries the context on raw requests (the inference path), named as the caller says', async () => {
    m.serveRaw('pf.runtime.n1.infer.v1', () => ({ data: new Uint8Array(0) }), {
      name: 'runtime.<target>.infer.v1',
    });
    const caller = await inCaller(() =>
      m.requestRaw('pf.runtime.n1.infer.v1', new Uint8Array(0), {
        attachment: { any: 1 },
      }),
    );
    const server = spanNamed('runtime.<target>.infer.v1');
    expect(server.spanContext().traceId).toBe(caller.traceId);
    expect(server.parentSpanContext?.spanId).toBe(caller.spanId);
  });

  it('chains across hops: a handler that calls on keeps the trace', async () => {
    m.serve(Echo, (req) => req);
    m.serveRaw('pf.outer', async () => {
      await m.call(Echo, { text: 'inner' });
      return { data: new Uint8Array(0) };
    });
    const caller = await inCaller(() =>
      m.requestRaw('pf.outer', new Uint8Array(0)),
    );
    const outer = spanNamed('pf.outer');
    const inner = spanNamed('test.echo.v1');
    expect(outer.parentSpanContext?.spanId).toBe(caller.spanId);
    expect(inner.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(inner.spanContext().traceId).toBe(caller.traceId);
  });

  it('continues the trace in a consumer span for events', async () => {
    const got: number[] = [];
    m.on(Happened, (e) => void got.push(e.n));
    const caller = await inCaller(async () => {
      m.emit(Happened, { n: 1 });
    });
    await delivered();
    expect(got).toEqual([1]);
    const consumer = spanNamed('test.happened.v1');
    expect(consumer.kind).toBe(SpanKind.CONSUMER);
    expect(consumer.parentSpanContext?.spanId).toBe(caller.spanId);
  });

  it('marks the server span failed with the error code when the handler fails', async () => {
    m.serve(Fail, () => {
      throw new PortfolioError('MODEL_NOT_FOUND', 'no model "x"');
    });
    await inCaller(() =>
      expect(m.call(Fail, {})).rejects.toMatchObject({
        code: 'MODEL_NOT_FOUND',
      }),
    );
    const server = spanNamed('test.fail.v1');
    expect(server.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'no model "x"',
    });
    expect(server.attributes['error.type']).toBe('MODEL_NOT_FOUND');
    expect(server.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('records no span and sends no headers for what is sent outside any trace', async () => {
    let headers: Readonly<Record<string, string>> | null = null;
    m.serve(Echo, (req, message) => {
      headers = message.headers;
      return req;
    });
    const got: number[] = [];
    m.on(Happened, (e) => void got.push(e.n));

    await expect(m.call(Echo, { text: 'x' })).resolves.toEqual({ text: 'x' });
    m.emit(Happened, { n: 2 });
    await delivered();

    expect(headers).toEqual({});
    expect(got).toEqual([2]);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
