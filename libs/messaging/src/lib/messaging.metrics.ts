import { Counter, Histogram, Registry } from 'prom-client';

import { OPERATION_SECONDS, SeriesCache } from '@portfolio/telemetry';

/** Why a request got no result: the bus failed it, or the service answered an error. */
export type RequestErrorKind = 'bus' | 'reply';

/**
 * The bus's metrics in every process (docs/metrics.md), labelled by the contract's name
 * (`registry.models.get.v1`, `runtime.<target>.load.v1`): never the subject itself, which
 * names node and instance ids.
 */
export class MessagingMetrics {
  private readonly errors: Counter<'name' | 'kind' | 'code'>;
  private readonly handler: Histogram<'name' | 'code'>;
  private readonly errorSeries = new SeriesCache<Counter.Internal>();
  private readonly handlerSeries = new SeriesCache<
    Histogram.Internal<'name' | 'code'>
  >();

  constructor(registry: Registry) {
    this.errors = new Counter({
      name: 'portfolio_bus_request_errors_total',
      help: 'Requests this process sent on the bus that got no result: kind "bus" (the bus failed it; code no_responders, timeout, disconnected, closed, payload_too_large) or "reply" (the service answered an error; code its error code)',
      labelNames: ['name', 'kind', 'code'],
      registers: [registry],
    });
    this.handler = new Histogram({
      name: 'portfolio_bus_handler_duration_seconds',
      help: 'Requests this process answered on the bus, from receipt to reply, by contract name and result code (OK or the error code)',
      labelNames: ['name', 'code'],
      buckets: OPERATION_SECONDS,
      registers: [registry],
    });
  }

  requestFailed(name: string, kind: RequestErrorKind, code: string): void {
    const key = `${name} ${kind} ${code}`;
    (
      this.errorSeries.get(key) ??
      this.errorSeries.add(key, this.errors.labels({ name, kind, code }))
    ).inc();
  }

  handled(name: string, code: string, seconds: number): void {
    const key = `${name} ${code}`;
    (
      this.handlerSeries.get(key) ??
      this.handlerSeries.add(key, this.handler.labels({ name, code }))
    ).observe(seconds);
  }
}
