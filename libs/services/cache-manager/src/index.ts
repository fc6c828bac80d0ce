export { CacheManagerServiceModule } from './lib/cache-manager-service.module';
export type { CacheManagerSettings } from './lib/cache-manager.settings';
export { CacheManagerService } from './lib/cache-manager.service';
