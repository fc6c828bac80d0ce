export { StorageServiceModule } from './lib/storage-service.module';
export type { StorageServiceOptions } from './lib/storage-service.module';
