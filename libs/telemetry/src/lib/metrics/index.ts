export * from './buckets';
export { METRIC_PREFIX, MetricsRegistry } from './metrics-registry';
export type { MetricsRegistryOptions } from './metrics-registry';
export { MetricsModule } from './metrics.module';
export { serveMetrics } from './metrics-server';
export type { MetricsServer } from './metrics-server';
export { SeriesCache } from './series-cache';
