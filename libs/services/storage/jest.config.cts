module.exports = {
  displayName: 'storage-service',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/storage',
};
