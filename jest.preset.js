const path = require('path');
const nxPreset = require('@nx/jest/preset').default;

/**
 * One preset for every project. Three layers share it, told apart by file name:
 *   *.spec.ts              unit tests, colocated, no I/O beyond temp files
 *   *.integration-spec.ts  against the real PostgreSQL and NATS of this test run
 *   *.e2e-spec.ts          against real processes started from the built apps
 * The global setup provisions PostgreSQL and NATS once per jest invocation (see
 * libs/testing/src/jest/global-setup.ts); each test then makes its own database
 * and its own subject prefix, so nothing depends on an earlier run.
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
  testEnvironment: path.join(__dirname, 'libs/testing/src/jest/test-environment.ts'),
  testEnvironmentOptions: {},
  testMatch: ['**/?(*.)+(spec|integration-spec|e2e-spec).ts'],
  transform: { '^.+\\.[tj]s$': ['@swc/jest', swc] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  globalSetup: path.join(__dirname, 'libs/testing/src/jest/global-setup.ts'),
  globalTeardown: path.join(__dirname, 'libs/testing/src/jest/global-teardown.ts'),
  testTimeout: 30000,
};
