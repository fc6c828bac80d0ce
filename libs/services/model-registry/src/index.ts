export { ModelRegistryServiceModule } from './lib/model-registry-service.module';
export type { ModelRegistryServiceOptions } from './lib/model-registry-service.module';
export type { RegistryDatabase } from './lib/database/registry-database';
export { registryDataSourceOptions } from './lib/database/registry-database';
export { ModelRegistryService } from './lib/model-registry.service';
