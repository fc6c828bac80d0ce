// Integration tests (*.integration-spec.ts) against real PostgreSQL and NATS: nx run messaging:test-integration.
// Unit tests are jest.config.cts's.
module.exports = {
  displayName: 'messaging-integration',
  preset: '../../jest.servers.preset.js',
  coverageDirectory: '../../coverage/integration/libs/messaging',
};
