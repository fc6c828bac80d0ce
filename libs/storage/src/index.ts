export type { ArtifactWriter, StorageDriver } from './lib/storage-driver';
export { StorageError } from './lib/storage-driver';
export { LocalStorageDriver } from './lib/local/local.driver';
export { createStorageDriver } from './lib/storage-driver.factory';
