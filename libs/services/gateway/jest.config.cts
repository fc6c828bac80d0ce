module.exports = {
  displayName: 'gateway-service',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/gateway',
};
