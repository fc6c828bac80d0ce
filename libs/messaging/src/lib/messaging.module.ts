import { DynamicModule, Global, Module } from '@nestjs/common';

import { MessageBus } from './bus';
import { Messaging } from './messaging';

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
      providers: [
        {
          provide: Messaging,
          useValue: new Messaging(
            options.bus,
            options.prefix,
            options.requestTimeoutMs,
          ),
        },
      ],
      exports: [Messaging],
    };
  }
}
