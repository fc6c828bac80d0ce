module.exports = {
  displayName: 'tensor',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/tensor',
};
