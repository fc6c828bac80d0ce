import { Module } from '@nestjs/common';

import { MetricsRegistry } from './metrics-registry';

/**
 * Provides the app's MetricsRegistry. Every service module imports it: Nest makes one
 * instance of a module per app, so the modules of one app (all of them, in the
 * standalone app) share one registry, and each app (each test's) has its own.
 */
@Module({
  providers: [
    { provide: MetricsRegistry, useFactory: () => new MetricsRegistry() },
  ],
  exports: [MetricsRegistry],
})
export class MetricsModule {}
