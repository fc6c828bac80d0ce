// Integration tests (*.integration-spec.ts) against real PostgreSQL and NATS: nx run storage-service:test-integration.
// Unit tests are jest.config.cts's.
module.exports = {
  displayName: 'storage-service-integration',
  preset: '../../../jest.servers.preset.js',
  coverageDirectory: '../../../coverage/integration/libs/services/storage',
};
