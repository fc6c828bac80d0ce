// Integration tests (*.integration-spec.ts) against real PostgreSQL and NATS: nx run testing:test-integration.
// Unit tests are jest.config.cts's.
module.exports = {
  displayName: 'testing-integration',
  preset: '../../jest.servers.preset.js',
  coverageDirectory: '../../coverage/integration/libs/testing',
};
