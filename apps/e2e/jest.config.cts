module.exports = {
  displayName: 'e2e',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/e2e',
  // Whole processes start and stop here; one file at a time keeps 2 cores responsive.
  maxWorkers: 1,
  testTimeout: 120000,
};
