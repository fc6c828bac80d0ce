module.exports = {
  displayName: 'storage-drivers',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/storage',
};
