import {
  DynamicModule,
  INestApplicationContext,
  Logger,
  LogLevel,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import type { PortfolioConfig } from '@portfolio/config';
import { MessageBus, MessagingModule, NatsBus } from '@portfolio/messaging';

import { exitOnStartupError } from './startup-error';

const LEVELS: Record<PortfolioConfig['log']['level'], LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  verbose: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

export function logLevels(config: PortfolioConfig): LogLevel[] {
  return LEVELS[config.log.level];
}

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
      .then(
        () => process.exit(0),
        (e: unknown) => {
          logger.error(
            `shutdown failed: ${e instanceof Error ? e.stack : String(e)}`,
          );
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => close('SIGTERM'));
  process.once('SIGINT', () => close('SIGINT'));
}

/** A service without HTTP: its module answers on the bus. */
export async function runBusService(
  service: string,
  config: PortfolioConfig,
  feature: (bus: MessageBus) => DynamicModule | Promise<DynamicModule>,
): Promise<INestApplicationContext> {
  const bus = await connectNats(config, service);
  const app = await NestFactory.createApplicationContext(
    {
      module: class ServiceRoot {},
      imports: [messagingModule(config, bus), await feature(bus)],
    },
    { logger: logLevels(config) },
  ).catch(exitOnStartupError);
  await app.init();
  closeOnSignals(app, bus, service);
  announceReady(service);
  return app;
}

/**
 * `<service> ready` on stdout whatever the log level: the line orchestration and the
 * test harness wait for.
 */
export function announceReady(service: string): void {
  process.stdout.write(`${service} ready\n`);
}
