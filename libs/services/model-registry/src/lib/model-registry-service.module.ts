import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { ApiKeysHandlers } from './api-keys.handlers';
import { ApiKeysService } from './api-keys.service';
import { DbGate } from './database/db-gate';
import {
  RegistryDatabase,
  registryDataSourceOptions,
} from './database/registry-database';
import { RegistryMigrator } from './database/registry-migrator';
import { ModelRegistryHandlers } from './model-registry.handlers';
import { DB_GATE, ModelRegistryService } from './model-registry.service';

export interface ModelRegistryServiceOptions {
  readonly database: RegistryDatabase;
}

/** Needs MessagingModule in the app. Migrates on start, then answers on the bus. */
@Module({})
export class ModelRegistryServiceModule {
  static forRoot(options: ModelRegistryServiceOptions): DynamicModule {
    return {
      module: ModelRegistryServiceModule,
      imports: [
        TypeOrmModule.forRoot({
          ...registryDataSourceOptions(options.database),
          // A database that is not up yet (compose start order) is waited for.
          retryAttempts: 20,
          retryDelay: 3000,
        }),
      ],
      providers: [
        {
          provide: DB_GATE,
          useValue: new DbGate(options.database.kind === 'pglite'),
        },
        ModelRegistryService,
        RegistryMigrator,
        ModelRegistryHandlers,
        ApiKeysService,
        ApiKeysHandlers,
      ],
      exports: [ModelRegistryService],
    };
  }
}
