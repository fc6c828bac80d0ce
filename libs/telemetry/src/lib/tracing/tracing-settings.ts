/**
 * What the standard OpenTelemetry variables ask of tracing, decided before anything of
 * the SDK is loaded: a process that exports nothing loads none of it, dials nothing and
 * logs nothing about tracing.
 *
 * - `OTEL_SDK_DISABLED=true`: off.
 * - `OTEL_TRACES_EXPORTER`: `otlp` (to the OTLP endpoint, by default
 *   http://localhost:4318), `console` (spans printed on stdout, for debugging), `none`
 *   (off). Unset: `otlp` when an endpoint is configured
 *   (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`), else off.
 * - `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`
 *   (the default) or `http/json`. gRPC is not supported: tracing stays off and says why.
 *
 * The exporters read the rest themselves (endpoint, headers, timeout), and so do the
 * SDK's parts: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`
 * (and `_ARG`), `OTEL_BSP_*`, `OTEL_LOG_LEVEL`.
 */
export type TracingExporterKind = 'otlp' | 'console';
export type OtlpHttpProtocol = 'http/protobuf' | 'http/json';

export interface TracingSettings {
  /** null: tracing is off. */
  readonly exporter: TracingExporterKind | null;
  readonly protocol: OtlpHttpProtocol;
  /** Said once on stderr at start: a setting that was not honoured, and why. */
  readonly warning: string | null;
}

type Env = Readonly<Record<string, string | undefined>>;

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

export function tracingSettingsFromEnv(
  env: Env = process.env,
): TracingSettings {
  const off = (warning: string | null = null): TracingSettings => ({
    exporter: null,
    protocol: 'http/protobuf',
    warning,
  });
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return off();

  const endpoint =
    value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ??
    value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const named = (value(env, 'OTEL_TRACES_EXPORTER') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  let exporter: TracingExporterKind | null;
  let warning: string | null = null;
  if (named.length === 0) exporter = endpoint ? 'otlp' : null;
  else if (named.includes('none')) exporter = null;
  else if (named.includes('otlp')) exporter = 'otlp';
  else if (named.includes('console')) exporter = 'console';
  else
    return off(
      `tracing is off: OTEL_TRACES_EXPORTER="${env['OTEL_TRACES_EXPORTER']}" names no exporter this build has (otlp, console, none)`,
    );
  const others = named.filter((n) => n !== exporter && n !== 'none');
  if (exporter && others.length)
    warning = `OTEL_TRACES_EXPORTER: only ${exporter} is used (${others.join(', ')} ignored)`;
  if (exporter === null) return off();

  const rawProtocol =
    value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ??
    value(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ??
    'http/protobuf';
  const protocol = rawProtocol.toLowerCase();
  if (
    exporter === 'otlp' &&
    protocol !== 'http/protobuf' &&
    protocol !== 'http/json'
  )
    return off(
      `tracing is off: OTLP protocol "${rawProtocol}" is not supported; use http/protobuf or http/json (OTEL_EXPORTER_OTLP_PROTOCOL) with the collector's HTTP port (4318)`,
    );
  return {
    exporter,
    protocol: protocol === 'http/json' ? 'http/json' : 'http/protobuf',
    warning,
  };
}
