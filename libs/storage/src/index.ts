export type {
  ArtifactDigest,
  ArtifactStat,
  ArtifactWriter,
  ByteRange,
  ListedArtifact,
  PutOptions,
  PutResult,
  StorageDriver,
  StorageErrorCode,
} from './lib/storage-driver';
export { StorageError } from './lib/storage-driver';
export { artifactFolderOf } from './lib/artifact-key.util';
export { LocalStorageDriver } from './lib/local/local.driver';
export { ObjectStoreDriver } from './lib/remote/object-store.driver';
export type { ObjectStoreOptions } from './lib/remote/object-store.driver';
export { S3StorageDriver } from './lib/s3/s3.driver';
export type { S3DriverOptions } from './lib/s3/s3.driver';
export { GcsStorageDriver } from './lib/gcs/gcs.driver';
export type { GcsDriverOptions } from './lib/gcs/gcs.driver';
export { AzureBlobStorageDriver } from './lib/azure/azure-blob.driver';
export type { AzureBlobDriverOptions } from './lib/azure/azure-blob.driver';
export { createStorageDriver } from './lib/storage-driver.factory';
export type { StorageSettings } from './lib/storage-driver.factory';
export {
  artifactDigest,
  artifactManifestDigest,
  fileSha256,
} from './lib/artifact-manifest';
export type { ManifestFile } from './lib/artifact-manifest';
export { ArtifactCache } from './lib/cache/artifact-cache';
export type {
  ArtifactCacheLogger,
  ArtifactCacheOptions,
  ArtifactCacheStats,
  ArtifactLease,
  CachedArtifactRef,
} from './lib/cache/artifact-cache';
