const { NxAppWebpackPlugin } = require('@nx/webpack/app-plugin');
const { join } = require('path');

const { consoleWebpackConfig } = require('./console.config');

/**
 * The webpack configuration every app shares: a Node bundle of the app and the
 * libraries it uses, third-party packages left in node_modules (and listed in the
 * generated dist package.json). `inferenceWorker` adds the runtime's worker-thread
 * script beside main.js, for the apps that host runtimes; `trialLoad` the script that
 * storage runs to load an artifact once before its version is registered; `gateway` the gRPC
 * protocol's .proto, which the gateway loads from beside main.js when it starts, and the
 * web console's browser bundle in `ui/` (a second webpack configuration: console.config.js).
 */
function appWebpackConfig(
  appDir,
  { inferenceWorker = false, gateway = false, trialLoad = false } = {},
) {
  const name = require('path').basename(appDir);
  const outputPath = join(__dirname, '../../dist/apps', name);
  const app = {
    name: 'app',
    output: {
      path: outputPath,
      // ui/ is the console's build (below), which may finish first.
      clean: gateway ? { keep: /^ui[\\/]/ } : true,
      ...(process.env.NODE_ENV !== 'production' && {
        devtoolModuleFilenameTemplate: '[absolute-resource-path]',
      }),
    },
    plugins: [
      new NxAppWebpackPlugin({
        target: 'node',
        compiler: 'tsc',
        main: './src/main.ts',
        tsConfig: './tsconfig.app.json',
        assets: gateway
          ? [
              {
                input: 'libs/services/gateway/src/lib/grpc',
                glob: '*.proto',
                output: '.',
              },
            ]
          : [],
        optimization: false,
        outputHashing: 'none',
        generatePackageJson: true,
        sourceMap: true,
        additionalEntryPoints: [
          ...(trialLoad
            ? [
                {
                  entryName: 'trial-load',
                  entryPath: join(
                    __dirname,
                    '../../libs/model-formats/src/lib/trial/trial-load.main.ts',
                  ),
                },
              ]
            : []),
          ...(inferenceWorker
            ? [
                {
                  entryName: 'inference-worker',
                  // Absolute: Nx resolves a path that does not start with './'
                  // against the workspace root, and webpack only found
                  // '../../libs/…' by accident where the checkout sat two
                  // directories below '/'.
                  entryPath: join(
                    __dirname,
                    '../../libs/services/runtime/src/lib/worker/inference.worker.ts',
                  ),
                },
              ]
            : []),
        ],
      }),
    ],
  };
  // The gateway serves the web console: its browser bundle is built beside main.js.
  return gateway ? [app, consoleWebpackConfig(outputPath)] : app;
}

module.exports = { appWebpackConfig };
