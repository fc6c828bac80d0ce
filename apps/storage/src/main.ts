// First: tracing starts before the modules it instruments load.
import './tracing';

import { configFromArgv, runBusService } from '@portfolio/bootstrap';
import { createStorageDriver } from '@portfolio/storage';
import {
  configuredImportSources,
  trialLoadOptions,
  StorageServiceModule,
} from '@portfolio/storage-service';

async function main(): Promise<void> {
  const config = configFromArgv();
  const driver = await createStorageDriver(config.storage);
  await runBusService('storage', config, (bus) =>
    StorageServiceModule.forRoot({
      driver,
      maxPayloadBytes: bus.maxPayloadBytes(),
      importSources: configuredImportSources(
        config.storage.importSources,
        config.storage,
      ),
      gc: {
        intervalMs: config.storage.gc.intervalMs ?? 0,
        minAgeMs: config.storage.gc.minAgeMs,
      },
      trialLoad: trialLoadOptions(config.storage, __dirname),
    }),
  );
}

void main();
