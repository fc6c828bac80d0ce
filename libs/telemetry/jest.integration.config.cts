// Integration tests (*.integration-spec.ts) against real PostgreSQL and NATS: nx run telemetry:test-integration.
// Unit tests are jest.config.cts's.
module.exports = {
  displayName: 'telemetry-integration',
  preset: '../../jest.servers.preset.js',
  coverageDirectory: '../../coverage/integration/libs/telemetry',
};
