const path = require('path');
const nxPreset = require('@nx/jest/preset').default;

/**
 * The preset of unit tests (`*.spec.ts`, colocated, no I/O beyond temp files):
 * every project's jest.config.cts uses it, and it starts no server, so
 * `npx jest <file>` needs neither PostgreSQL nor NATS.
 *
 * Tests that do need them live in files of their own, run by jest projects of
 * their own that use jest.servers.preset.js:
 *   *.integration-spec.ts  a project's jest.integration.config.cts (Nx target test-integration)
 *   *.e2e-spec.ts          apps/e2e, against real processes started from the built apps
 * jest runs a project's global setup only when that project has tests in the
 * run, so servers start only when such a file is selected.
 */
process.env.TZ = 'UTC';

const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
    keepClassNames: true,
  },
  sourceMaps: 'inline',
};

module.exports = {
  ...nxPreset,
  // onnxruntime-node returns typed arrays from the main realm; see the environment's comment.
  testEnvironment: path.join(
    __dirname,
    'libs/testing/src/jest/test-environment.ts',
  ),
  testEnvironmentOptions: {},
  testMatch: ['**/*.spec.ts'],
  transform: { '^.+\\.[tj]s$': ['@swc/jest', swc] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 30000,
};
