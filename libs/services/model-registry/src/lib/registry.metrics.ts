import { Histogram, Registry } from 'prom-client';

import { OPERATION_SECONDS, SeriesCache } from '@portfolio/telemetry';

/**
 * The model registry's own metric (docs/metrics.md): how long its database operations
 * take, by operation (`get_model`, `create_version`, ...: a transaction or a read, each
 * one of the registry's methods) and result. Its request latency per bus method is the
 * bus's `portfolio_bus_handler_duration_seconds`, which every service exports.
 */
export class RegistryMetrics {
  private readonly duration: Histogram<'operation' | 'result'>;
  private readonly series = new SeriesCache<
    Histogram.Internal<'operation' | 'result'>
  >();

  constructor(registry: Registry) {
    this.duration = new Histogram({
      name: 'portfolio_registry_db_duration_seconds',
      help: "The registry's database operations (a transaction or a read), by operation and result: ok or error",
      labelNames: ['operation', 'result'],
      buckets: OPERATION_SECONDS,
      registers: [registry],
    });
  }

  observe(operation: string, ok: boolean, seconds: number): void {
    const key = `${operation} ${ok}`;
    (
      this.series.get(key) ??
      this.series.add(
        key,
        this.duration.labels({ operation, result: ok ? 'ok' : 'error' }),
      )
    ).observe(seconds);
  }
}
