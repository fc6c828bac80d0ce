const { appWebpackConfig } = require('../../tools/webpack/app.config');

module.exports = appWebpackConfig(__dirname, { trialLoad: true });
