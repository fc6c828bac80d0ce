module.exports = {
  displayName: 'cache-sim',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/tools/cache-sim',
};
