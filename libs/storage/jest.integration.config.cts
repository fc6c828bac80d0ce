// Integration tests (*.integration-spec.ts): each cloud driver against a real server of its
// protocol (s3rver, azurite, the GCS emulator of firebase-tools), which each test file starts
// and stops itself: nx run storage-drivers:test-integration. They need neither PostgreSQL nor
// NATS, so the unit preset (no global setup) with the integration files. Unit tests are
// jest.config.cts's.
module.exports = {
  displayName: 'storage-drivers-integration',
  preset: '../../jest.preset.js',
  testMatch: ['**/*.integration-spec.ts'],
  coverageDirectory: '../../coverage/integration/libs/storage',
};
