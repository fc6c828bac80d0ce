module.exports = {
  displayName: 'testing',
  preset: '../../jest.preset.js',
  // onnxruntime-node returns typed arrays from the main realm; see the environment's comment.
  testEnvironment: '<rootDir>/src/jest/test-environment.ts',
  coverageDirectory: '../../coverage/libs/testing',
};
