import { DynamicModule, Module } from '@nestjs/common';

import { StorageDriver } from '@portfolio/storage';

import { ModelHostService } from './model-host.service';
import { RuntimeHandlers } from './runtime.handlers';
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

/** Needs MessagingModule in the app. */
@Module({})
export class RuntimeServiceModule {
  static forRoot(options: RuntimeServiceOptions): DynamicModule {
    return {
      module: RuntimeServiceModule,
      providers: [
        { provide: RUNTIME_SETTINGS, useValue: options.settings },
        { provide: RUNTIME_STORAGE, useValue: options.storage },
        ModelHostService,
        RuntimeHandlers,
      ],
      exports: [ModelHostService],
    };
  }
}
