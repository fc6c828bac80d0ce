/**
 * Exit codes scripts can rely on (documented in `portfolio --help` and the README):
 * 0 ok; 1 the server refused the request (4xx); 2 usage error (bad arguments, a local
 * path that cannot be read); 3 the server is unavailable (network error or 5xx).
 */
export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNAVAILABLE = 3;

export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0  ok',
  '  1  the server refused the request (4xx): "error CODE: message" on stderr',
  '  2  usage error (bad arguments, unreadable local path): usage on stderr',
  '  3  server unavailable: network error or 5xx',
].join('\n');

/** Bad arguments: the command's usage is printed with the message. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A local input the command cannot use (a path that does not exist, ...). */
export class LocalError extends Error {
  override name = 'LocalError';
}

/** The server answered with an error status. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

/** No answer: the connection failed or broke. */
export class NetworkError extends Error {
  override name = 'NetworkError';
}

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError || error instanceof LocalError)
    return EXIT_USAGE;
  if (error instanceof ApiError)
    return error.status >= 400 && error.status < 500
      ? EXIT_REFUSED
      : EXIT_UNAVAILABLE;
  return EXIT_UNAVAILABLE;
}

/** The line printed on stderr for an error (usage errors add their usage). */
export function errorLine(error: unknown): string {
  if (error instanceof ApiError) return `error ${error.code}: ${error.message}`;
  if (error instanceof Error) return `error: ${error.message}`;
  return `error: ${String(error)}`;
}
