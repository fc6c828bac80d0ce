/**
 * The OpenTelemetry SDK, loaded only when tracing is on (see startTracing): importing
 * this module costs about 100 ms of start-up, which a process that exports nothing
 * does not pay.
 */
import {
  context,
  diag,
  DiagConsoleLogger,
  DiagLogLevel,
} from '@opentelemetry/api';
import { getRPCMetadata, RPCType } from '@opentelemetry/core';
import {
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  SpanExporter,
  SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';

import type { TracingSettings } from './tracing-settings';

export interface SdkOptions {
  /** `service.name` unless OTEL_SERVICE_NAME says otherwise. */
  readonly serviceName: string;
  /** Server spans for incoming HTTP requests (the apps that serve HTTP). */
  readonly http: boolean;
  /** Spans go here, each as it ends, instead of the configured exporter (tests, embedding). */
  readonly spanExporter?: SpanExporter;
}

export interface RunningSdk {
  shutdown(): Promise<void>;
  tagRoute(route: string): void;
}

/**
 * Probes and scrapes are not traced: they would be most of the traces and tell nothing
 * (what they call on the bus is not traced either, having no parent).
 */
const UNTRACED_PATHS =
  /^\/(?:metrics|v1\/health|v2\/health\/(?:live|ready))(?:\?|$)/;

export function startSdk(
  settings: TracingSettings,
  options: SdkOptions,
): RunningSdk {
  const level = diagLevel(process.env['OTEL_LOG_LEVEL']);
  if (level !== null) diag.setLogger(new DiagConsoleLogger(), level);

  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: options.serviceName,
    'service.namespace': 'portfolio',
    'host.name': hostname(),
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
  }).merge(detectResources({ detectors: [envDetector] }));

  const processor: SpanProcessor = options.spanExporter
    ? new SimpleSpanProcessor(options.spanExporter)
    : new BatchSpanProcessor(exporterFor(settings));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [processor],
  });
  // The AsyncLocalStorage context manager and the W3C Trace Context and Baggage
  // propagators, as OTEL_PROPAGATORS' default.
  provider.register();

  if (options.http) {
    // Loaded here, before the app's modules require node:http: it patches the server.
    const { HttpInstrumentation } =
      require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req: IncomingMessage) =>
        UNTRACED_PATHS.test(req.url ?? ''),
      // Outgoing calls (object stores, the OTLP exporter itself) get spans only inside a trace.
      requireParentforOutgoingSpans: true,
    }).setTracerProvider(provider);
  }

  return {
    shutdown: () => provider.shutdown(),
    tagRoute: (route) => {
      // Read by the HTTP instrumentation when the response ends: it names the span
      // `<method> <route>` and sets http.route.
      const meta = getRPCMetadata(context.active());
      if (meta?.type === RPCType.HTTP) meta.route = route;
    },
  };
}

function exporterFor(settings: TracingSettings): SpanExporter {
  if (settings.exporter === 'console') return new ConsoleSpanExporter();
  // Each reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION.
  if (settings.protocol === 'http/json') {
    const { OTLPTraceExporter } =
      require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter();
  }
  const { OTLPTraceExporter } =
    require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter();
}

function diagLevel(raw: string | undefined): DiagLogLevel | null {
  switch (raw?.trim().toUpperCase()) {
    case 'NONE':
    case undefined:
    case '':
      return null;
    case 'ERROR':
      return DiagLogLevel.ERROR;
    case 'WARN':
      return DiagLogLevel.WARN;
    case 'INFO':
      return DiagLogLevel.INFO;
    case 'DEBUG':
      return DiagLogLevel.DEBUG;
    case 'VERBOSE':
      return DiagLogLevel.VERBOSE;
    case 'ALL':
      return DiagLogLevel.ALL;
    default:
      return DiagLogLevel.INFO;
  }
}
