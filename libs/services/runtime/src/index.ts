export { RuntimeServiceModule } from './lib/runtime-service.module';
export type { RuntimeServiceOptions } from './lib/runtime-service.module';
export type { RuntimeSettings } from './lib/runtime.settings';
export type { WorkerScript } from './lib/worker/worker-pool';
export { ModelHostService } from './lib/model-host.service';
export { runtimeSettings } from './lib/runtime-settings.factory';
