// First: tracing starts before the modules it instruments load.
import './tracing';

import { Logger } from '@nestjs/common';
import { join } from 'node:path';

import {
  configFromArgv,
  runBusService,
  useStructuredLogs,
} from '@portfolio/bootstrap';
import {
  runtimeSettings,
  RuntimeServiceModule,
} from '@portfolio/runtime-service';
import { createStorageDriver } from '@portfolio/storage';

async function main(): Promise<void> {
  const config = configFromArgv();
  useStructuredLogs(config, 'runtime');
  if (!process.env['MALLOC_MMAP_THRESHOLD_']) {
    new Logger('runtime').warn(
      'MALLOC_MMAP_THRESHOLD_ is not set: freed model memory may not return to the OS and measurements run high (start with MALLOC_MMAP_THRESHOLD_=131072)',
    );
  }
  const storage = await createStorageDriver(config.storage);
  await runBusService('runtime', config, () =>
    RuntimeServiceModule.forRoot({
      settings: runtimeSettings(config, {
        path: join(__dirname, 'inference-worker.js'),
      }),
      storage,
    }),
  );
}

void main();
