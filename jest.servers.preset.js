const path = require('path');
const unit = require('./jest.preset.js');

/**
 * The preset of tests against real servers: integration tests
 * (`*.integration-spec.ts`, this preset's default) and the end-to-end tests of
 * apps/e2e (which set their own testMatch). The global setup provisions
 * PostgreSQL and NATS once per jest invocation, however many projects use it
 * (see libs/testing/src/jest/global-setup.ts); each test then makes its own
 * database and its own subject prefix, so nothing depends on an earlier run.
 */
module.exports = {
  ...unit,
  testMatch: ['**/*.integration-spec.ts'],
  globalSetup: path.join(__dirname, 'libs/testing/src/jest/global-setup.ts'),
  globalTeardown: path.join(
    __dirname,
    'libs/testing/src/jest/global-teardown.ts',
  ),
};
