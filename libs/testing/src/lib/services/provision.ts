import { connect } from 'nats';
import { Client } from 'pg';
import { redactUrl, TestEnv } from './env';
import { startThrowawayNats } from './nats-server';
import { startThrowawayPostgres } from './postgres-server';

export interface ProvisionedServices {
  /** A PostgreSQL server URL; tests create their own databases on it. */
  pgUrl: string;
  natsUrl: string;
  /** Which servers were started here (and are stopped by stop()); the others came from the environment. */
  started: { postgres: boolean; nats: boolean };
  /** Stops only what was started here; safe to call more than once. */
  stop(): Promise<void>;
}

interface Started {
  url: string;
  stop(): Promise<void>;
}

/**
 * PostgreSQL from PORTFOLIO_DATABASE_URL and NATS from PORTFOLIO_NATS_URL
 * when set (checked reachable, so a wrong URL fails once here rather than in
 * every test), otherwise throwaway servers started in parallel. If one start
 * fails the other server is stopped before the error is rethrown.
 */
export async function provisionServices(
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProvisionedServices> {
  const givenPg = env[TestEnv.databaseUrl];
  const givenNats = env[TestEnv.natsUrl];
  const [pg, nats] = await Promise.allSettled([
    givenPg
      ? checkPostgres(givenPg).then(() => external(givenPg))
      : startThrowawayPostgres(),
    givenNats
      ? checkNats(givenNats).then(() => external(givenNats))
      : startThrowawayNats(),
  ]);
  if (pg.status === 'fulfilled' && nats.status === 'fulfilled') {
    return {
      pgUrl: pg.value.url,
      natsUrl: nats.value.url,
      started: { postgres: !givenPg, nats: !givenNats },
      stop: async () => {
        const results = await Promise.allSettled([
          pg.value.stop(),
          nats.value.stop(),
        ]);
        const failure = results.find(isRejected);
        if (failure) throw failure.reason;
      },
    };
  }
  await Promise.allSettled(
    [pg, nats].map((r) =>
      r.status === 'fulfilled' ? r.value.stop() : undefined,
    ),
  );
  throw [pg, nats].find(isRejected)?.reason;
}

function isRejected<T>(
  result: PromiseSettledResult<T>,
): result is PromiseRejectedResult {
  return result.status === 'rejected';
}

function external(url: string): Started {
  return { url, stop: async () => undefined };
}

async function checkPostgres(url: string): Promise<void> {
  const client = new Client({
    connectionString: url,
    connectionTimeoutMillis: 5_000,
  });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(
      `${TestEnv.databaseUrl} (${redactUrl(url)}) is not usable: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function checkNats(url: string): Promise<void> {
  try {
    const nc = await connect({
      servers: url,
      timeout: 5_000,
      reconnect: false,
    });
    await nc.close();
  } catch (error) {
    throw new Error(
      `${TestEnv.natsUrl} (${redactUrl(url)}) is not reachable: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
