module.exports = {
  displayName: 'model-registry-service',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/model-registry',
};
