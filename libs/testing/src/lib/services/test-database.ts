import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { testPgUrl } from './env';

export interface TestDatabase {
  /** Connection URL of the new database (same server and credentials as the run's PostgreSQL). */
  url: string;
  name: string;
  /** Terminates remaining connections to the database and drops it. */
  drop(): Promise<void>;
}

/** PostgreSQL identifiers are at most 63 bytes. */
const MAX_IDENTIFIER = 63;

/**
 * Creates `portfolio_test_<label>_<random>` on this run's server, so each test
 * owns an empty database and nothing depends on an earlier run. The label is
 * lower-cased and reduced to [a-z0-9_].
 */
export async function createTestDatabase(
  label = 'db',
  serverUrl = testPgUrl(),
): Promise<TestDatabase> {
  const suffix = randomBytes(4).toString('hex');
  const prefix = 'portfolio_test_';
  const safeLabel =
    label
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '') || 'db';
  const name = `${prefix}${safeLabel.slice(0, MAX_IDENTIFIER - prefix.length - suffix.length - 1)}_${suffix}`;

  await withClient(serverUrl, (client) =>
    client.query(`CREATE DATABASE ${quoteIdent(name)}`),
  );

  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await withClient(serverUrl, async (client) => {
        // Pools in the code under test may still hold connections; DROP DATABASE fails while any exist.
        await client.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [name],
        );
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
      });
    },
  };
}

async function withClient<T>(
  url: string,
  use: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

function quoteIdent(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
