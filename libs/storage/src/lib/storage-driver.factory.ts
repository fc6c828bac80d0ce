import { mkdirSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

import { AzureBlobStorageDriver } from './azure/azure-blob.driver';
import { GcsStorageDriver } from './gcs/gcs.driver';
import { LocalStorageDriver } from './local/local.driver';
import { S3StorageDriver } from './s3/s3.driver';
import { StorageDriver, StorageError } from './storage-driver';

/**
 * The `storage` section of the configuration (`StorageConfig` of @portfolio/config,
 * structurally): the driver, and the settings of each driver. Only the chosen driver's
 * section is used.
 */
export interface StorageSettings {
  readonly driver: 'local' | 's3' | 'gcs' | 'azure';
  /** Node-local directory of the cloud drivers; null: `<os tmpdir>/portfolio-storage-<user>`. */
  readonly workDir: string | null;
  readonly local: { readonly root: string };
  readonly s3: {
    readonly bucket: string | null;
    readonly prefix: string;
    readonly region: string | null;
    readonly endpoint: string | null;
    readonly forcePathStyle: boolean;
  };
  readonly gcs: {
    readonly bucket: string | null;
    readonly prefix: string;
    readonly projectId: string | null;
    readonly endpoint: string | null;
  };
  readonly azure: {
    readonly container: string | null;
    readonly prefix: string;
    readonly accountUrl: string | null;
  };
}

/**
 * The configured driver, ready to use (its work directory made, its settings checked).
 * Stores are not contacted: a store that is down at start is reported by the first
 * operation, as it would be later. Bad settings reject with a StorageError (`CONFIG`)
 * naming the setting.
 */
export async function createStorageDriver(
  settings: StorageSettings,
): Promise<StorageDriver> {
  switch (settings.driver) {
    case 'local': {
      const driver = new LocalStorageDriver(settings.local.root);
      await driver.init();
      return driver;
    }
    case 's3': {
      const { bucket, prefix, region, endpoint, forcePathStyle } = settings.s3;
      const driver = new S3StorageDriver({
        bucket: required(
          bucket,
          'storage.s3.bucket',
          'PORTFOLIO_STORAGE_S3_BUCKET',
        ),
        prefix,
        workDir: workDir(settings),
        ...(region ? { region } : {}),
        ...(endpoint ? { endpoint } : {}),
        forcePathStyle,
      });
      await driver.init();
      return driver;
    }
    case 'gcs': {
      const { bucket, prefix, projectId, endpoint } = settings.gcs;
      const driver = new GcsStorageDriver({
        bucket: required(
          bucket,
          'storage.gcs.bucket',
          'PORTFOLIO_STORAGE_GCS_BUCKET',
        ),
        prefix,
        workDir: workDir(settings),
        ...(projectId ? { projectId } : {}),
        ...(endpoint ? { endpoint } : {}),
      });
      await driver.init();
      return driver;
    }
    case 'azure': {
      const { container, prefix, accountUrl } = settings.azure;
      const driver = new AzureBlobStorageDriver({
        container: required(
          container,
          'storage.azure.container',
          'PORTFOLIO_STORAGE_AZURE_CONTAINER',
        ),
        prefix,
        workDir: workDir(settings),
        ...(accountUrl ? { accountUrl } : {}),
      });
      await driver.init();
      return driver;
    }
  }
}

function required(value: string | null, setting: string, env: string): string {
  if (value) return value;
  throw new StorageError(
    'CONFIG',
    `${setting} (${env}) is required with this storage driver`,
  );
}

/**
 * The configured work directory, or one of this user's under the OS's temporary
 * directory. Downloads there are trusted by later calls (a content-addressed file that
 * exists is returned as is), so a default directory someone else owns is refused.
 */
function workDir(settings: StorageSettings): string {
  if (settings.workDir) return settings.workDir;
  const user = userInfo();
  const dir = join(tmpdir(), `portfolio-storage-${user.username}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (user.uid >= 0 && statSync(dir).uid !== user.uid)
    throw new StorageError(
      'CONFIG',
      `${dir} belongs to another user; set storage.work_dir (PORTFOLIO_STORAGE_WORK_DIR)`,
    );
  return dir;
}
