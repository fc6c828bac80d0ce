/**
 * A service refusing to start for a reason its operator must fix (a node id already in
 * use, say). Its message names what is wrong and how to fix it; the process prints it
 * and exits with code 2, as it does for a bad configuration, without a stack trace.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** Exit code 2 and the message alone for a StartupError; anything else is rethrown. */
export function exitOnStartupError(e: unknown): never {
  if (e instanceof StartupError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  throw e;
}
