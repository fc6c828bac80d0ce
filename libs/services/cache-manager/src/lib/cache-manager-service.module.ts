import { DynamicModule, Module } from '@nestjs/common';

import { MetricsModule } from '@portfolio/telemetry';

import { CacheManagerController } from './cache-manager.controller';
import { CacheManagerMetrics } from './cache-manager.metrics';
import { CacheManagerService } from './cache-manager.service';
import {
  CACHE_MANAGER_SETTINGS,
  CacheManagerSettings,
} from './cache-manager.settings';
import { PreloadService } from './preload.service';

/** Needs MessagingModule in the app; its controller answers once the app listens on the bus. */
@Module({})
export class CacheManagerServiceModule {
  static forRoot(settings: CacheManagerSettings): DynamicModule {
    return {
      module: CacheManagerServiceModule,
      imports: [MetricsModule],
      controllers: [CacheManagerController],
      providers: [
        { provide: CACHE_MANAGER_SETTINGS, useValue: settings },
        CacheManagerService,
        CacheManagerMetrics,
        PreloadService,
      ],
      exports: [CacheManagerService],
    };
  }
}
