import { DynamicModule, Module } from '@nestjs/common';

import { CacheManagerHandlers } from './cache-manager.handlers';
import { CacheManagerService } from './cache-manager.service';
import {
  CACHE_MANAGER_SETTINGS,
  CacheManagerSettings,
} from './cache-manager.settings';
import { PreloadService } from './preload.service';

/** Needs MessagingModule in the app. */
@Module({})
export class CacheManagerServiceModule {
  static forRoot(settings: CacheManagerSettings): DynamicModule {
    return {
      module: CacheManagerServiceModule,
      providers: [
        { provide: CACHE_MANAGER_SETTINGS, useValue: settings },
        CacheManagerService,
        CacheManagerHandlers,
        PreloadService,
      ],
      exports: [CacheManagerService],
    };
  }
}
