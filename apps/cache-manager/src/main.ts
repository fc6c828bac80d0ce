// First: tracing starts before the modules it instruments load.
import './tracing';

import { configFromArgv, runBusService } from '@portfolio/bootstrap';
import { CacheManagerServiceModule } from '@portfolio/cache-manager-service';

async function main(): Promise<void> {
  const config = configFromArgv();
  await runBusService('cache-manager', config, () =>
    CacheManagerServiceModule.forRoot({
      runtimeTimeoutMs: config.cache.runtimeTimeoutMs,
      loadTimeoutMs: config.runtime.loadTimeoutMs,
      routingRepublishMs: 5000,
      ttlMs: config.cache.ttlMs,
      maxCopies: config.cache.maxCopies,
      predictivePreload: config.cache.predictivePreload,
      quotas: config.cache.quotas,
    }),
  );
}

void main();
