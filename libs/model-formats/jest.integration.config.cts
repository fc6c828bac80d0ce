// Integration tests (*.integration-spec.ts): the Python formats against real Python workers
// (PyTorch, scikit-learn), which take seconds: nx run model-formats:test-integration.
// Unit tests are jest.config.cts's.
module.exports = {
  displayName: 'model-formats-integration',
  preset: '../../jest.servers.preset.js',
  coverageDirectory: '../../coverage/integration/libs/model-formats',
};
