import { DynamicModule, Module } from '@nestjs/common';

import { StorageDriver } from '@portfolio/storage';
import { MetricsModule } from '@portfolio/telemetry';

import { ModelHostService } from './model-host.service';
import { RUNTIME_NODE_ID, RuntimeController } from './runtime.controller';
import { RuntimeMetrics } from './runtime.metrics';
import {
  RUNTIME_SETTINGS,
  RUNTIME_STORAGE,
  RuntimeSettings,
} from './runtime.settings';

export interface RuntimeServiceOptions {
  readonly settings: RuntimeSettings;
  /** Where artifacts are read from (the same backend the storage service writes). */
  readonly storage: StorageDriver;
}

/** Needs MessagingModule in the app; its controller answers once the app listens on the bus. */
@Module({})
export class RuntimeServiceModule {
  static forRoot(options: RuntimeServiceOptions): DynamicModule {
    return {
      module: RuntimeServiceModule,
      imports: [MetricsModule],
      controllers: [RuntimeController],
      providers: [
        { provide: RUNTIME_SETTINGS, useValue: options.settings },
        { provide: RUNTIME_STORAGE, useValue: options.storage },
        { provide: RUNTIME_NODE_ID, useValue: options.settings.nodeId },
        RuntimeMetrics,
        ModelHostService,
      ],
      exports: [ModelHostService],
    };
  }
}
