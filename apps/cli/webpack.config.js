const { chmodSync, existsSync } = require('fs');
const { join } = require('path');
const { BannerPlugin } = require('webpack');
const { appWebpackConfig } = require('../../tools/webpack/app.config');

/**
 * The shared app build, plus what makes dist/apps/cli/main.js a command: a
 * `#!/usr/bin/env node` line on top and the executable bit.
 */
const config = appWebpackConfig(__dirname);

module.exports = {
  ...config,
  plugins: [
    ...config.plugins,
    new BannerPlugin({
      banner: '#!/usr/bin/env node',
      raw: true,
      entryOnly: true,
    }),
    {
      apply(compiler) {
        compiler.hooks.afterEmit.tap('ExecutableMain', () => {
          const main = join(config.output.path, 'main.js');
          if (existsSync(main)) chmodSync(main, 0o755);
        });
      },
    },
  ],
};
