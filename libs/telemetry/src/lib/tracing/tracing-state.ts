import { trace, Tracer } from '@opentelemetry/api';

/** The instrumentation scope every Portfolio span is created under. */
export const TRACER_NAME = '@portfolio/telemetry';

/**
 * Whether an SDK is running in this process. Every helper of this library checks it
 * first: with tracing off (the default), a helper costs one boolean test, and nothing
 * is formatted, allocated or looked up.
 */
export const tracingState: {
  active: boolean;
  tracer: Tracer | null;
  /** Set while the SDK runs; see tagHttpServerSpan. */
  tagRoute: ((route: string) => void) | null;
  shutdown: (() => Promise<void>) | null;
} = { active: false, tracer: null, tagRoute: null, shutdown: null };

export function tracer(): Tracer {
  tracingState.tracer ??= trace.getTracer(TRACER_NAME);
  return tracingState.tracer;
}

/** True while spans are recorded and exported by this process. */
export function tracingEnabled(): boolean {
  return tracingState.active;
}
