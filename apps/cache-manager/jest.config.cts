module.exports = {
  displayName: 'cache-manager',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/cache-manager',
};
