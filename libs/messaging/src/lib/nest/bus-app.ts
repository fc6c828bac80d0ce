import {
  INestApplication,
  INestMicroservice,
  LoggerService,
  LogLevel,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { BusServer } from './bus.server';

export interface BusAppOptions {
  readonly logger?: LoggerService | LogLevel[] | false;
}

/**
 * A Nest app without HTTP whose `@BusRpc` / `@BusEvent` controllers answer on the bus
 * that `module` provides through MessagingModule. Returns once every module has run its
 * bootstrap hooks and the handlers listen. `close()` unsubscribes them first, then runs
 * the shutdown hooks.
 */
export async function createBusApp(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  module: any,
  options: BusAppOptions = {},
): Promise<INestMicroservice> {
  const server = new BusServer();
  const app = await NestFactory.createMicroservice(module, {
    strategy: server,
    // Errors of start-up reach the caller (which prints a StartupError and exits 2)
    // instead of Nest ending the process itself.
    abortOnError: false,
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });
  server.attach(app);
  await app.listen();
  return app;
}

/**
 * Lets the bus controllers of an HTTP app (the gateway, the standalone app) answer:
 * a microservice of the app over its own Messaging. Each bus handler maps its errors
 * with BusExceptionFilter (see BusRpc), not with the HTTP app's filters; the app's
 * global guards and interceptors do apply, and must let non-HTTP contexts through.
 *
 * Call it before `app.init()` / `app.listen()`: the controllers then answer before
 * any module's bootstrap hook runs, as they must in the standalone app, where those
 * hooks call other services of the same process (the gateway's catalog asks the
 * registry). Init hooks (the registry's migrations) have not run yet either, and no
 * module calls the bus from one. The app's `close()` unsubscribes them after the
 * destroy hooks and before the shutdown hooks (which close the registry's database).
 */
export async function listenOnBus(app: INestApplication): Promise<void> {
  app.connectMicroservice(
    { strategy: new BusServer().attach(app) },
    { inheritAppConfig: false },
  );
  await app.startAllMicroservices();
}
