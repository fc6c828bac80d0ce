/**
 * Every failure that crosses a process boundary carries one of these codes. Services
 * behind the bus only ever speak in codes; the gateway alone maps them to HTTP
 * (see the gateway's error filter), so a new code must be added there too: the
 * mapping is an exhaustive switch and will not compile otherwise.
 */
export const ERROR_CODES = [
  // 400: the caller sent something malformed or inconsistent with the model
  'INVALID_REQUEST',
  'INVALID_INPUT',
  'INVALID_MODEL_ID',
  'UNSUPPORTED_FORMAT',
  // 401 / 403
  'UNAUTHORIZED',
  'FORBIDDEN',
  // 404: not registered (never "not loaded here", see MODEL_NOT_LOADED)
  'NOT_FOUND',
  'MODEL_NOT_FOUND',
  'VERSION_NOT_FOUND',
  'ALIAS_NOT_FOUND',
  'ARTIFACT_NOT_FOUND',
  'KEY_NOT_FOUND',
  // 409
  'MODEL_EXISTS',
  /** An alias points at the version, or it is loaded: deleting it needs `force`. */
  'VERSION_IN_USE',
  /** A version of the model is loaded: deleting it needs `force`. */
  'MODEL_IN_USE',
  // 413
  'PAYLOAD_TOO_LARGE',
  // 429: over the key's rate limit (Retry-After says when to come back)
  'RATE_LIMITED',
  // 422: the artifact is invalid for its format, or the model failed to load
  'INVALID_ARTIFACT',
  'MODEL_LOAD_FAILED',
  /** The format needs what this machine lacks (Python, a package); the message names it. */
  'FORMAT_UNAVAILABLE',
  // 503: retryable; MODEL_NOT_LOADED means "this runtime does not hold it, re-route"
  'MODEL_NOT_LOADED',
  'NO_RUNTIME',
  'SERVICE_UNAVAILABLE',
  // 504
  'TIMEOUT',
  // 507: does not fit in any runtime
  'INSUFFICIENT_MEMORY',
  // 500
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return (
    typeof value === 'string' &&
    (ERROR_CODES as readonly string[]).includes(value)
  );
}
