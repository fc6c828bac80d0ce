module.exports = {
  displayName: 'e2e',
  // Real PostgreSQL and NATS, provisioned by the preset's global setup.
  preset: '../../jest.servers.preset.js',
  testMatch: ['**/*.e2e-spec.ts'],
  coverageDirectory: '../../coverage/apps/e2e',
  // Whole processes start and stop here; one file at a time keeps 2 cores responsive.
  maxWorkers: 1,
  testTimeout: 120000,
};
