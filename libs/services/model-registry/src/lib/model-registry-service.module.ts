import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { MetricsModule, MetricsRegistry } from '@portfolio/telemetry';

import { ApiKeysController } from './api-keys.controller';
import { ApiKeysService } from './api-keys.service';
import { DbGate } from './database/db-gate';
import {
  RegistryDatabase,
  registryDataSourceOptions,
} from './database/registry-database';
import { RegistryMigrator } from './database/registry-migrator';
import { ModelRegistryController } from './model-registry.controller';
import { DB_GATE, ModelRegistryService } from './model-registry.service';
import { RegistryMetrics } from './registry.metrics';

export interface ModelRegistryServiceOptions {
  readonly database: RegistryDatabase;
}

/**
 * Needs MessagingModule in the app. Migrates on start; its controllers answer on the bus
 * once the app listens there (createBusApp, or listenOnBus for an HTTP app).
 */
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
        MetricsModule,
      ],
      controllers: [ModelRegistryController, ApiKeysController],
      providers: [
        {
          provide: DB_GATE,
          useFactory: (registry: MetricsRegistry) =>
            new DbGate(
              options.database.kind === 'pglite',
              new RegistryMetrics(registry),
            ),
          inject: [MetricsRegistry],
        },
        ModelRegistryService,
        RegistryMigrator,
        ApiKeysService,
      ],
      exports: [ModelRegistryService],
    };
  }
}
