import { ConfigError, loadConfig, PortfolioConfig } from '@portfolio/config';

/**
 * The configuration for an app's `main`: `--config <file>` (or `--config=<file>`) on
 * the command line, else PORTFOLIO_CONFIG, else defaults; PORTFOLIO_* variables on top.
 * A bad configuration ends the process with the message (naming file and key) and
 * exit code 2 before anything starts.
 */
export function configFromArgv(
  argv: readonly string[] = process.argv.slice(2),
): PortfolioConfig {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--config' || arg === '-c') file = argv[++i];
    else if (arg.startsWith('--config=')) file = arg.slice('--config='.length);
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(
        'usage: node main.js [--config <file.yaml>]\n(configuration reference: README.md)\n',
      );
      process.exit(0);
    } else {
      process.stderr.write(
        `unknown argument "${arg}" (usage: --config <file.yaml>)\n`,
      );
      process.exit(2);
    }
  }
  try {
    const config = loadConfig({ file });
    // The Python formats start their interpreter in the runtime's worker threads and in
    // storage's trial loads, which see the configuration only through the environment.
    process.env['PORTFOLIO_RUNTIME_PYTHON'] = config.runtime.python;
    return config;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}
