/**
 * Environment variables of the test services. The first two are inputs a
 * developer or CI sets to reuse running servers; the last two are what the
 * jest global setup publishes to test files (whichever way it got them).
 */
export const TestEnv = {
  /** A PostgreSQL server to use instead of a throwaway one (tests create their own databases on it). */
  databaseUrl: 'PORTFOLIO_DATABASE_URL',
  /** A NATS server to use instead of a throwaway one. */
  natsUrl: 'PORTFOLIO_NATS_URL',
  testPgUrl: 'PORTFOLIO_TEST_PG_URL',
  testNatsUrl: 'PORTFOLIO_TEST_NATS_URL',
} as const;

function published(name: string, what: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: ${what} is provisioned by the global setup of jest.servers.preset.js, which unit tests do not run. ` +
        `Run tests through jest from an integration config (*.integration-spec.ts, e.g. npx nx run <project>:test-integration) or apps/e2e.`,
    );
  }
  return value;
}

/** URL of the NATS server for this test run. */
export function testNatsUrl(): string {
  return published(TestEnv.testNatsUrl, 'NATS');
}

/** URL of the PostgreSQL server for this test run (its maintenance database; use createTestDatabase for a database of your own). */
export function testPgUrl(): string {
  return published(TestEnv.testPgUrl, 'PostgreSQL');
}

/** The URL with any password replaced, for error messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}
