import { TestEnv } from '../lib/services/env';
import {
  provisionServices,
  ProvisionedServices,
} from '../lib/services/provision';

/** Where setup leaves what teardown must stop: both run in jest's main process, in separately loaded modules. */
export const PROVISIONED_KEY = Symbol.for(
  'portfolio.testing.provisionedServices',
);

type GlobalWithServices = typeof globalThis & {
  [PROVISIONED_KEY]?: ProvisionedServices;
};

/**
 * Provisions PostgreSQL and NATS for one jest invocation and publishes them as
 * PORTFOLIO_TEST_PG_URL / PORTFOLIO_TEST_NATS_URL. Test files read those from
 * process.env: jest forks its workers after global setup and copies the main
 * process's environment into them (verified with real multi-worker runs), and
 * in-band runs share the process itself, so no side channel is needed.
 *
 * Idempotent: when both variables are already set (another project's global
 * setup in a multi-project run, or a caller who set them) it does nothing.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env[TestEnv.testPgUrl] && process.env[TestEnv.testNatsUrl])
    return;
  const startedAt = Date.now();
  const services = await provisionServices();
  process.env[TestEnv.testPgUrl] = services.pgUrl;
  process.env[TestEnv.testNatsUrl] = services.natsUrl;
  (globalThis as GlobalWithServices)[PROVISIONED_KEY] = services;
  const started = [
    services.started.postgres && 'PostgreSQL',
    services.started.nats && 'NATS',
  ].filter(Boolean);
  if (started.length > 0) {
    process.stderr.write(
      `\n[portfolio tests] started throwaway ${started.join(' and ')} in ${Date.now() - startedAt} ms ` +
        `(set ${TestEnv.databaseUrl} / ${TestEnv.natsUrl} to use running servers)\n`,
    );
  }
}
