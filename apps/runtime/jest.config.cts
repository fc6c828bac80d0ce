module.exports = {
  displayName: 'runtime',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/runtime',
};
