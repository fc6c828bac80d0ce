import {
  Attributes,
  context,
  propagation,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  TextMapGetter,
  TextMapSetter,
  trace,
} from '@opentelemetry/api';

import { recordSpanError } from './spans';
import { tracer, tracingState } from './tracing-state';

/** The W3C Trace Context header a message carries when it belongs to a trace. */
export const TRACEPARENT_HEADER = 'traceparent';

type Headers = Readonly<Record<string, string>>;

const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

const getter: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/**
 * `headers` plus the active trace's W3C context (`traceparent`, `tracestate`) when the
 * caller runs inside a recorded span; otherwise `headers` itself, untouched (tracing off,
 * or nothing being traced here: nothing is formatted or copied).
 */
export function injectTraceContext(headers?: Headers): Headers | undefined {
  if (!tracingState.active) return headers;
  const active = context.active();
  if (!trace.getSpan(active)?.isRecording()) return headers;
  const carrier: Record<string, string> = headers ? { ...headers } : {};
  propagation.inject(active, carrier, setter);
  return carrier;
}

export interface IncomingSpan {
  /** The operation: a contract's name (e.g. `cache.ensure.v1`), never an id. */
  readonly name: string;
  /** SERVER for requests that get a reply, CONSUMER for events. */
  readonly kind: SpanKind;
  readonly attributes?: Attributes;
}

/**
 * How every received message is handled inside the trace it came from: the W3C context
 * is read from its headers, and `handler` runs inside a span of that trace (child of the
 * sender's span) and in its context, so what the handler sends or logs carries the same
 * trace. The span ends when the handler settles; a rejection marks it failed.
 *
 * A message without trace context (tracing off at the sender, or sent outside any
 * trace: heartbeats, timers) gets no span, and `handler` runs as it is: only traced work
 * is recorded, and untraced messages cost one header lookup. Bus subscribers
 * (Messaging) call this; a Nest interceptor can call it with the message's headers.
 */
export function runInIncomingTraceContext<T>(
  headers: Headers,
  span: IncomingSpan,
  handler: (span: Span | undefined) => T | Promise<T>,
): T | Promise<T> {
  if (!tracingState.active || headers[TRACEPARENT_HEADER] === undefined)
    return handler(undefined);
  const parent = propagation.extract(ROOT_CONTEXT, headers, getter);
  if (!trace.getSpanContext(parent)) return handler(undefined);
  return tracer().startActiveSpan(
    span.name,
    { kind: span.kind, attributes: span.attributes },
    parent,
    async (s: Span) => {
      try {
        return await handler(s);
      } catch (e) {
        recordSpanError(s, e);
        throw e;
      } finally {
        s.end();
      }
    },
  );
}
