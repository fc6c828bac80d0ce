const { readFileSync } = require('fs');
const { join } = require('path');
const { sources } = require('webpack');

const CONSOLE_SRC = join(__dirname, '../../libs/console/src');

/** The console's static files, copied beside its bundle as they are. */
const STATIC_FILES = ['index.html', 'console.css'];

/**
 * Emits STATIC_FILES into the output (and watches them): two files need no copy plugin.
 */
class StaticFilesPlugin {
  apply(compiler) {
    compiler.hooks.thisCompilation.tap('StaticFilesPlugin', (compilation) => {
      compilation.hooks.processAssets.tap(
        {
          name: 'StaticFilesPlugin',
          stage: compiler.webpack.Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL,
        },
        () => {
          for (const name of STATIC_FILES) {
            const file = join(CONSOLE_SRC, name);
            compilation.fileDependencies.add(file);
            compilation.emitAsset(
              name,
              new sources.RawSource(readFileSync(file)),
            );
          }
        },
      );
    });
  }
}

/**
 * The web console (libs/console) bundled for the browser into `<app dist>/ui/`:
 * console.js, index.html and console.css, which the gateway serves at /ui
 * (ConsolePages). One script, no framework, nothing fetched at run time. `devtool` is
 * off in every mode: webpack's development default evaluates modules from strings,
 * which the console's Content-Security-Policy forbids.
 */
function consoleWebpackConfig(appOutputPath) {
  const production = process.env.NODE_ENV === 'production';
  return {
    name: 'console',
    mode: production ? 'production' : 'development',
    target: ['web', 'es2022'],
    devtool: false,
    context: CONSOLE_SRC,
    entry: { console: join(CONSOLE_SRC, 'index.ts') },
    output: {
      path: join(appOutputPath, 'ui'),
      filename: '[name].js',
      clean: true,
    },
    resolve: { extensions: ['.ts', '.js'] },
    module: {
      rules: [
        {
          test: /\.ts$/,
          // Type-checked by `npm run typecheck` (libs/console/tsconfig.lib.json).
          loader: require.resolve('ts-loader', {
            paths: [require.resolve('@nx/webpack')],
          }),
          options: {
            configFile: join(CONSOLE_SRC, '../tsconfig.lib.json'),
            transpileOnly: true,
            compilerOptions: { noEmit: false },
          },
        },
      ],
    },
    plugins: [new StaticFilesPlugin()],
    performance: { hints: false },
  };
}

module.exports = { consoleWebpackConfig };
