import { DataSourceOptions } from 'typeorm';
import { PGliteDriver } from 'typeorm-pglite';

import { ModelVersionEntity } from '../entities/model-version.entity';
import { ModelEntity } from '../entities/model.entity';
import { VersionMeasurementEntity } from '../entities/version-measurement.entity';
import { ApiKeyEntity } from '../entities/api-key.entity';
import { REGISTRY_MIGRATIONS } from '../migrations';

/** A PostgreSQL server (distributed mode), or PGlite embedded in a data folder (standalone). */
export type RegistryDatabase =
  | { kind: 'postgres'; url: string }
  | { kind: 'pglite'; dataDir: string };

export const REGISTRY_ENTITIES = [
  ModelEntity,
  ModelVersionEntity,
  VersionMeasurementEntity,
  ApiKeyEntity,
];

export function registryDataSourceOptions(
  db: RegistryDatabase,
): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    entities: REGISTRY_ENTITIES,
    migrations: REGISTRY_MIGRATIONS,
    // Migrations run at start under an advisory lock (see RegistryMigrator), never synchronize.
    migrationsRun: false,
    synchronize: false,
    // The default uuid-ossp extension crashes PGlite; PG 13+ has gen_random_uuid().
    uuidExtension: 'pgcrypto' as const,
    installExtensions: false,
    logging: ['error' as const, 'warn' as const, 'migration' as const],
  };
  if (db.kind === 'postgres') {
    return {
      ...common,
      url: db.url,
      extra: { max: 10, connectionTimeoutMillis: 5000 },
    };
  }
  return {
    ...common,
    driver: new PGliteDriver({ dataDir: db.dataDir }).driver,
  };
}
