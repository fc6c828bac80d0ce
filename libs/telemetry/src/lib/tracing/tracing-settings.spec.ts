import { tracingSettingsFromEnv } from './tracing-settings';

describe('tracingSettingsFromEnv', () => {
  it('is off with no OTEL_* variable: nothing to export to', () => {
    expect(tracingSettingsFromEnv({})).toEqual({
      exporter: null,
      protocol: 'http/protobuf',
      warning: null,
    });
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'http://collector:4318'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'http://collector:4318/v1/traces'],
  ])('exports OTLP over HTTP (protobuf) when %s is set', (name, value) => {
    expect(tracingSettingsFromEnv({ [name]: value })).toEqual({
      exporter: 'otlp',
      protocol: 'http/protobuf',
      warning: null,
    });
  });

  it('exports OTLP to the default endpoint when OTEL_TRACES_EXPORTER=otlp says so', () => {
    expect(
      tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: 'otlp' }).exporter,
    ).toBe('otlp');
  });

  it('takes http/json from the traces protocol before the general one', () => {
    expect(
      tracingSettingsFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      }).protocol,
    ).toBe('http/json');
  });

  it.each([
    [
      {
        OTEL_SDK_DISABLED: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      },
    ],
    [
      {
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      },
    ],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }],
  ])('is off for %j', (env) => {
    expect(tracingSettingsFromEnv(env)).toEqual({
      exporter: null,
      protocol: 'http/protobuf',
      warning: null,
    });
  });

  it('prints spans with OTEL_TRACES_EXPORTER=console', () => {
    expect(
      tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: 'console' }).exporter,
    ).toBe('console');
  });

  it('stays off, saying why, for gRPC (this build exports over HTTP only)', () => {
    const settings = tracingSettingsFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    });
    expect(settings.exporter).toBeNull();
    expect(settings.warning).toBe(
      'tracing is off: OTLP protocol "grpc" is not supported; use http/protobuf or http/json (OTEL_EXPORTER_OTLP_PROTOCOL) with the collector\'s HTTP port (4318)',
    );
  });

  it('stays off, saying why, for an exporter it does not have', () => {
    const settings = tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin' });
    expect(settings.exporter).toBeNull();
    expect(settings.warning).toContain('OTEL_TRACES_EXPORTER="zipkin"');
  });

  it('uses the one exporter it has among several named, saying which were ignored', () => {
    expect(
      tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin,otlp' }),
    ).toEqual({
      exporter: 'otlp',
      protocol: 'http/protobuf',
      warning: 'OTEL_TRACES_EXPORTER: only otlp is used (zipkin ignored)',
    });
  });
});
