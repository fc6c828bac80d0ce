import { DynamicModule, Global, Module } from '@nestjs/common';

import { MetricsModule, MetricsRegistry } from '@portfolio/telemetry';

import { MessageBus } from './bus';
import { Messaging } from './messaging';
import { MessagingMetrics } from './messaging.metrics';

export interface MessagingModuleOptions {
  readonly bus: MessageBus;
  readonly prefix: string;
  readonly requestTimeoutMs: number;
}

/**
 * Provides `Messaging` to every module of an app. The bus is created (and closed) by
 * the app's bootstrap, not here: in the standalone mode one bus serves all services,
 * and it must outlive their shutdown hooks (a runtime announces it is leaving).
 */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(options: MessagingModuleOptions): DynamicModule {
    return {
      module: MessagingModule,
      imports: [MetricsModule],
      providers: [
        {
          provide: Messaging,
          // The app's registry: the bus's metrics are the app's (docs/metrics.md).
          useFactory: (registry: MetricsRegistry) =>
            new Messaging(
              options.bus,
              options.prefix,
              options.requestTimeoutMs,
              new MessagingMetrics(registry),
            ),
          inject: [MetricsRegistry],
        },
      ],
      exports: [Messaging],
    };
  }
}
