export {
  StorageServiceModule,
  trialLoadOptions,
} from './lib/storage-service.module';
export type { StorageServiceOptions } from './lib/storage-service.module';
export { configuredImportSources } from './lib/import/import-sources';
export type { ImportSources } from './lib/import/import-sources';
