// Integration tests (*.integration-spec.ts) against real PostgreSQL and NATS: nx run gateway-service:test-integration.
// Unit tests are jest.config.cts's.
module.exports = {
  displayName: 'gateway-service-integration',
  preset: '../../../jest.servers.preset.js',
  coverageDirectory: '../../../coverage/integration/libs/services/gateway',
};
