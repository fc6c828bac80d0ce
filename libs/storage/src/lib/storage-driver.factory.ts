import { LocalStorageDriver } from './local/local.driver';
import { StorageDriver } from './storage-driver';

export interface StorageSettings {
  readonly driver: 'local';
  readonly local: { readonly root: string };
}

export async function createStorageDriver(
  settings: StorageSettings,
): Promise<StorageDriver> {
  switch (settings.driver) {
    case 'local': {
      const driver = new LocalStorageDriver(settings.local.root);
      await driver.init();
      return driver;
    }
  }
}
