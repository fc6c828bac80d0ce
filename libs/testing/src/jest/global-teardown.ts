import { TestEnv } from '../lib/services/env';
import { PROVISIONED_KEY } from './global-setup';
import type { ProvisionedServices } from '../lib/services/provision';

type GlobalWithServices = typeof globalThis & {
  [PROVISIONED_KEY]?: ProvisionedServices;
};

/**
 * Stops what this process's global setup started, once (later calls in a
 * multi-project run find nothing), and withdraws the variables so that the
 * next run in the same process (watch mode) provisions again.
 */
export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as GlobalWithServices;
  const services = holder[PROVISIONED_KEY];
  if (!services) return;
  delete holder[PROVISIONED_KEY];
  delete process.env[TestEnv.testPgUrl];
  delete process.env[TestEnv.testNatsUrl];
  await services.stop();
}
