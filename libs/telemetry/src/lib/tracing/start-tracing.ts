import { context, propagation, trace } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

import type { RunningSdk, SdkOptions } from './sdk';
import { tracingSettingsFromEnv } from './tracing-settings';
import { tracingState } from './tracing-state';

export interface StartTracingOptions {
  /** The app: gateway, model-registry, storage, cache-manager, runtime, portfolio. */
  readonly service: string;
  /** Server spans for incoming HTTP requests (the gateway, the standalone app). */
  readonly http?: boolean;
  /**
   * Spans go to this exporter, each as it ends, whatever the variables say (tests). Without
   * it, the standard OTEL_* variables decide (see tracingSettingsFromEnv).
   */
  readonly spanExporter?: SpanExporter;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Starts tracing for this process when the OTEL_* variables ask for it (or a test gives
 * an exporter), else does nothing at all. Must run before the app's other modules are
 * loaded (each app's main.ts imports its `tracing.ts` first): the HTTP server is
 * instrumented as node:http is loaded. Returns whether tracing is on. Once per process.
 *
 * `service.name` is `portfolio-<service>` (`portfolio` for the standalone app) unless
 * OTEL_SERVICE_NAME names another.
 */
export function startTracing(options: StartTracingOptions): boolean {
  if (tracingState.active) return true;
  const settings = tracingSettingsFromEnv(options.env ?? process.env);
  if (settings.warning) process.stderr.write(`${settings.warning}\n`);
  if (!options.spanExporter && settings.exporter === null) return false;
  const { startSdk } = require('./sdk') as typeof import('./sdk');
  const sdkOptions: SdkOptions = {
    serviceName:
      options.service === 'portfolio'
        ? 'portfolio'
        : `portfolio-${options.service}`,
    http: options.http ?? false,
    spanExporter: options.spanExporter,
  };
  const sdk: RunningSdk = startSdk(settings, sdkOptions);
  tracingState.active = true;
  tracingState.tracer = null;
  tracingState.tagRoute = sdk.tagRoute;
  tracingState.shutdown = sdk.shutdown;
  return true;
}

/**
 * Exports the spans still buffered and stops tracing (at shutdown: the last spans of a
 * process that exits are otherwise lost). Waits at most `timeoutMs`.
 */
export async function stopTracing(timeoutMs = 5000): Promise<void> {
  const shutdown = tracingState.shutdown;
  if (!tracingState.active || !shutdown) return;
  tracingState.active = false;
  tracingState.tagRoute = null;
  tracingState.shutdown = null;
  tracingState.tracer = null;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    shutdown().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  trace.disable();
  context.disable();
  propagation.disable();
}
