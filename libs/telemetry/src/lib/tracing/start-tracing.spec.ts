import { trace } from '@opentelemetry/api';

describe('startTracing without a collector configured', () => {
  afterEach(() => jest.resetModules());

  it.each([
    [{}],
    [
      {
        OTEL_SDK_DISABLED: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      },
    ],
    [{ OTEL_TRACES_EXPORTER: 'none' }],
  ])('loads no SDK, exports nothing and records nothing for %j', (env) => {
    jest.isolateModules(() => {
      // The SDK module must not even be loaded: loading it is what costs start-up.
      jest.doMock('./sdk', () => {
        throw new Error('the SDK was loaded');
      });
      const started =
        require('./start-tracing') as typeof import('./start-tracing');
      const state =
        require('./tracing-state') as typeof import('./tracing-state');
      const propagation =
        require('./propagation') as typeof import('./propagation');

      expect(started.startTracing({ service: 'gateway', env })).toBe(false);
      expect(state.tracingEnabled()).toBe(false);
      const headers = { a: 'b' };
      trace.getTracer('t').startActiveSpan('s', (span) => {
        expect(span.isRecording()).toBe(false);
        expect(propagation.injectTraceContext(headers)).toBe(headers);
        span.end();
      });
    });
  });
});
