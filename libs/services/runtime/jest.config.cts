module.exports = {
  displayName: 'runtime-service',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/runtime',
};
