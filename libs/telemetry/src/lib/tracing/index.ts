export { tagHttpServerSpan } from './http-server';
export {
  injectTraceContext,
  runInIncomingTraceContext,
  TRACEPARENT_HEADER,
} from './propagation';
export type { IncomingSpan } from './propagation';
export {
  activeTraceIds,
  inSpan,
  markActiveSpanFailed,
  recordSpanError,
  startChildSpan,
  withoutTrace,
} from './spans';
export { startTracing, stopTracing } from './start-tracing';
export type { StartTracingOptions } from './start-tracing';
export { tracingSettingsFromEnv } from './tracing-settings';
export type { TracingSettings } from './tracing-settings';
export { tracingEnabled } from './tracing-state';
