import { DynamicModule, INestApplicationContext, Logger } from '@nestjs/common';

import type { PortfolioConfig } from '@portfolio/config';
import {
  MetricsRegistry,
  serveMetrics,
  stopTracing,
} from '@portfolio/telemetry';
import {
  createBusApp,
  MessageBus,
  MessagingModule,
  NatsBus,
} from '@portfolio/messaging';

import { exitOnStartupError, StartupError } from './startup-error';
import { useStructuredLogs } from './structured-logs';

export function messagingModule(
  config: PortfolioConfig,
  bus: MessageBus,
): DynamicModule {
  return MessagingModule.forRoot({
    bus,
    prefix: config.nats.subjectPrefix,
    requestTimeoutMs: config.nats.requestTimeoutMs,
  });
}

export function connectNats(
  config: PortfolioConfig,
  service: string,
): Promise<NatsBus> {
  useStructuredLogs(config, service);
  new Logger(service).log(
    `connecting to NATS at ${config.nats.url} (subject prefix "${config.nats.subjectPrefix}")`,
  );
  return NatsBus.connect({
    url: config.nats.url,
    name: `portfolio-${service}`,
  });
}

/**
 * Runs until SIGTERM or SIGINT, then shuts down in order: Nest's hooks first (services
 * stop taking work and say goodbye on the bus), the bus last.
 */
export function closeOnSignals(
  app: INestApplicationContext,
  bus: MessageBus,
  service: string,
): void {
  const logger = new Logger(service);
  let closing = false;
  const close = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.log(`${signal}: shutting down`);
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    void app
      .close()
      .then(() => bus.close())
      // The spans of the last requests, still in the exporter's batch.
      .then(() => stopTracing())
      .then(
        () => process.exit(0),
        (e: unknown) => {
          logger.error(
            `shutdown failed: ${e instanceof Error ? e.message : String(e)}`,
            e instanceof Error ? e.stack : undefined,
          );
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => close('SIGTERM'));
  process.once('SIGINT', () => close('SIGINT'));
}

/** A service without HTTP: its module answers on the bus (a Nest microservice over it). */
export async function runBusService(
  service: string,
  config: PortfolioConfig,
  feature: (bus: MessageBus) => DynamicModule | Promise<DynamicModule>,
): Promise<INestApplicationContext> {
  const bus = await connectNats(config, service);
  // Bus controllers (@BusRpc / @BusEvent) listen once every module's bootstrap hook ran.
  const app = await createBusApp(
    {
      module: class ServiceRoot {},
      imports: [messagingModule(config, bus), await feature(bus)],
    },
    { logger: useStructuredLogs(config, service) },
  ).catch(exitOnStartupError);
  await serveServiceMetrics(app, config, service);
  closeOnSignals(app, bus, service);
  announceReady(service);
  return app;
}

/**
 * `GET /metrics` of a service without HTTP, on `metrics.port` and every interface
 * (docs/metrics.md); nothing with port 0. A port that cannot be had stops the start
 * (exit code 2, naming the setting). It lives as long as the process.
 */
async function serveServiceMetrics(
  app: INestApplicationContext,
  config: PortfolioConfig,
  service: string,
): Promise<void> {
  if (config.metrics.port === 0) return;
  const server = await serveMetrics(app.get(MetricsRegistry), {
    port: config.metrics.port,
  }).catch((e: unknown) =>
    exitOnStartupError(
      new StartupError(e instanceof Error ? e.message : String(e)),
    ),
  );
  new Logger(service).log(
    `serving GET /metrics on port ${server.port} (every interface)`,
  );
}

/**
 * `<service> ready` on stdout whatever the log level: the line orchestration and the
 * test harness wait for.
 */
export function announceReady(service: string): void {
  process.stdout.write(`${service} ready\n`);
}
