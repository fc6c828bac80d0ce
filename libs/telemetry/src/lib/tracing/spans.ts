import {
  Attributes,
  context,
  Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

import { tracer, tracingState } from './tracing-state';

/**
 * Marks a span failed: status ERROR with the error's message, `error.type` (a
 * PortfolioError's code, else the error's class), and the exception as an event.
 */
export function recordSpanError(span: Span, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown } | null)?.code;
  span.setAttribute(
    'error.type',
    typeof code === 'string' ? code : e instanceof Error ? e.name : 'Error',
  );
  span.recordException(e instanceof Error ? e : message);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** recordSpanError on the span active here, if any (a handler's, when it fails). */
export function markActiveSpanFailed(e: unknown): void {
  if (!tracingState.active) return;
  const span = trace.getActiveSpan();
  if (span?.isRecording()) recordSpanError(span, e);
}

/**
 * Runs `fn` in a new span, child of the active one (a root span where none is), and
 * ends it when `fn` settles; a rejection marks it failed. `fn` gets the span to add
 * attributes it learns on the way, or undefined when tracing is off (then this costs
 * nothing but the call).
 */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  if (!tracingState.active) return fn(undefined);
  return tracer().startActiveSpan(
    name,
    { kind, attributes },
    async (span: Span) => {
      try {
        return await fn(span);
      } catch (e) {
        recordSpanError(span, e);
        throw e;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * A span for a hot path (an inference): started only when tracing is on and the work
 * belongs to a recorded trace, so untraced work pays one boolean test and one lookup.
 * The caller ends it. It is not made active: nothing runs inside it.
 */
export function startChildSpan(
  name: string,
  attributes: Attributes,
): Span | undefined {
  if (!tracingState.active) return undefined;
  const parent = context.active();
  if (!trace.getSpan(parent)?.isRecording()) return undefined;
  return tracer().startSpan(name, { attributes }, parent);
}

/** The active span's ids, for log lines; undefined outside a recorded span. */
export function activeTraceIds():
  | { trace_id: string; span_id: string }
  | undefined {
  if (!tracingState.active) return undefined;
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/**
 * Runs `fn` outside any trace: what it starts (a periodic report, say) is not counted as
 * part of the request that happened to schedule it.
 */
export function withoutTrace<T>(fn: () => T): T {
  if (!tracingState.active) return fn();
  return context.with(trace.deleteSpan(context.active()), fn);
}
