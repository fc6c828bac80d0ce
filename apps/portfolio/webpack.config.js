const { appWebpackConfig } = require('../../tools/webpack/app.config');

module.exports = appWebpackConfig(__dirname, {
  inferenceWorker: true,
  gateway: true,
});
