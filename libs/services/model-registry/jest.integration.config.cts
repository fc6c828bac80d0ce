// Integration tests (*.integration-spec.ts) against real PostgreSQL and NATS: nx run model-registry-service:test-integration.
// Unit tests are jest.config.cts's.
module.exports = {
  displayName: 'model-registry-service-integration',
  preset: '../../../jest.servers.preset.js',
  coverageDirectory:
    '../../../coverage/integration/libs/services/model-registry',
};
