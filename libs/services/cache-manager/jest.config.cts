module.exports = {
  displayName: 'cache-manager-service',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/cache-manager',
};
