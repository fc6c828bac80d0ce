module.exports = {
  displayName: 'portfolio',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/portfolio',
};
