const { appWebpackConfig } = require('../../tools/webpack/app.config');

module.exports = appWebpackConfig(__dirname, {
  inferenceWorker: true,
  trialLoad: true,
  gateway: true,
});
