import { collectDefaultMetrics, Registry } from 'prom-client';

/** Every metric of the project starts with this (docs/metrics.md). */
export const METRIC_PREFIX = 'portfolio_';

export interface MetricsRegistryOptions {
  /**
   * prom-client's process metrics (CPU, memory, event loop lag, garbage collection),
   * named `portfolio_process_*` and `portfolio_nodejs_*`. Default true; tests that make
   * throwaway registries turn them off.
   */
  readonly processMetrics?: boolean;
}

/**
 * The Prometheus registry of one Nest app: every service module of the app registers its
 * metrics here (MetricsModule provides one per app). In a service's own process that is
 * its metrics; in the standalone app it is every service's, so the names must not clash:
 * registering a name twice throws, as prom-client does, rather than counting one series
 * from two places.
 */
export class MetricsRegistry extends Registry {
  constructor(options: MetricsRegistryOptions = {}) {
    super();
    if (options.processMetrics !== false)
      collectDefaultMetrics({ register: this, prefix: METRIC_PREFIX });
  }
}
