import { assertUnreachable, ErrorCode } from '@portfolio/contracts';

/** The one place where error codes become HTTP statuses (see API.md, "Errors"). */
export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
    case 'INVALID_REQUEST':
    case 'INVALID_INPUT':
    case 'INVALID_MODEL_ID':
    case 'UNSUPPORTED_FORMAT':
      return 400;
    case 'UNAUTHORIZED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
    case 'MODEL_NOT_FOUND':
    case 'VERSION_NOT_FOUND':
    case 'ALIAS_NOT_FOUND':
    case 'ARTIFACT_NOT_FOUND':
    case 'KEY_NOT_FOUND':
      return 404;
    case 'MODEL_EXISTS':
    case 'VERSION_IN_USE':
    case 'MODEL_IN_USE':
      return 409;
    case 'PAYLOAD_TOO_LARGE':
      return 413;
    case 'RATE_LIMITED':
      return 429;
    case 'INVALID_ARTIFACT':
    case 'MODEL_LOAD_FAILED':
    case 'FORMAT_UNAVAILABLE':
      return 422;
    case 'INTERNAL':
      return 500;
    case 'MODEL_NOT_LOADED':
    case 'NO_RUNTIME':
    case 'SERVICE_UNAVAILABLE':
      return 503;
    case 'TIMEOUT':
      return 504;
    case 'INSUFFICIENT_MEMORY':
      return 507;
    default:
      return assertUnreachable(code);
  }
}

/** Statuses after which a client should retry later; they carry Retry-After. */
export const RETRY_AFTER_SECONDS: Partial<Record<number, number>> = {
  503: 1,
  429: 1,
};
