// Integration tests (*.integration-spec.ts) against real PostgreSQL and NATS: nx run runtime-service:test-integration.
// Unit tests are jest.config.cts's.
module.exports = {
  displayName: 'runtime-service-integration',
  preset: '../../../jest.servers.preset.js',
  coverageDirectory: '../../../coverage/integration/libs/services/runtime',
};
