module.exports = {
  displayName: 'model-formats',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/model-formats',
};
