import { parseCommandLine } from './args';
import { ApiClient } from './client';
import { HANDLERS, type Io } from './commands';
import {
  EXIT_OK,
  EXIT_USAGE,
  UsageError,
  errorLine,
  exitCodeFor,
} from './errors';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Runs one command line; resolves to the process's exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  let usage: string | undefined;
  try {
    const parsed = parseCommandLine(argv);
    if (parsed.kind === 'help') {
      io.stdout.write(`${parsed.text}\n`);
      return EXIT_OK;
    }
    const url =
      (parsed.options['url'] as string | undefined) ??
      nonEmpty(io.env['PORTFOLIO_CLI_URL']) ??
      DEFAULT_URL;
    const key =
      (parsed.options['key'] as string | undefined) ??
      nonEmpty(io.env['PORTFOLIO_CLI_KEY']) ??
      nonEmpty(io.env['PORTFOLIO_API_KEY']);
    let client: ApiClient;
    try {
      client = new ApiClient(url, key);
    } catch (err) {
      throw new UsageError((err as Error).message, '');
    }
    await HANDLERS[parsed.spec.path.join(' ')](
      {
        client,
        io,
        json: parsed.options['json'] === true,
        color: io.stdout.isTTY === true && !nonEmpty(io.env['NO_COLOR']),
      },
      parsed,
    );
    return EXIT_OK;
  } catch (err) {
    if (err instanceof UsageError) usage = err.usage;
    io.stderr.write(`${errorLine(err)}\n`);
    if (usage) io.stderr.write(`\n${usage}\n`);
    const code = exitCodeFor(err);
    return err instanceof UsageError ? EXIT_USAGE : code;
  }
}
