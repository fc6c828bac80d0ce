// Observability shared by every service: Prometheus metrics, OpenTelemetry tracing, structured logs.
export * from './lib/metrics';
export * from './lib/tracing';
export * from './lib/logging';
