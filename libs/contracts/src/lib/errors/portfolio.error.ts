import { ErrorCode, isErrorCode } from './error-codes';

/**
 * The one error type that services throw on purpose. `message` is a sentence meant
 * for the API client (it names what was wrong); `details` is structured data that
 * goes back with it. Anything else thrown is an internal error.
 */
export class PortfolioError extends Error {
  override readonly name = 'PortfolioError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  toJSON(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }

  static fromBody(body: unknown): PortfolioError {
    if (typeof body === 'object' && body !== null) {
      const b = body as Record<string, unknown>;
      const code = isErrorCode(b['code']) ? b['code'] : 'INTERNAL';
      const message =
        typeof b['message'] === 'string' ? b['message'] : 'unknown error';
      const details =
        typeof b['details'] === 'object' &&
        b['details'] !== null &&
        !Array.isArray(b['details'])
          ? (b['details'] as Record<string, unknown>)
          : undefined;
      return new PortfolioError(code, message, details);
    }
    return new PortfolioError('INTERNAL', 'malformed error reply');
  }
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export function isPortfolioError(e: unknown): e is PortfolioError {
  return e instanceof PortfolioError;
}

/** For exhaustive switches: compilation fails when a case is missing. */
export function assertUnreachable(value: never): never {
  throw new Error(`unreachable: ${String(value)}`);
}
