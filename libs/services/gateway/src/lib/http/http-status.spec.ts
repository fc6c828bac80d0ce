import { ERROR_CODES, ErrorCode } from '@portfolio/contracts';

import { httpStatusFor, RETRY_AFTER_SECONDS } from './http-status';

/** API.md, "Errors": the status every error code is answered with. */
const EXPECTED: Record<ErrorCode, number> = {
  INVALID_REQUEST: 400,
  INVALID_INPUT: 400,
  INVALID_MODEL_ID: 400,
  UNSUPPORTED_FORMAT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  ARTIFACT_NOT_FOUND: 404,
  MODEL_EXISTS: 409,
  PAYLOAD_TOO_LARGE: 413,
  INVALID_ARTIFACT: 422,
  MODEL_LOAD_FAILED: 422,
  MODEL_NOT_LOADED: 503,
  NO_RUNTIME: 503,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 504,
  INSUFFICIENT_MEMORY: 507,
  INTERNAL: 500,
};

/** The statuses API.md's table lists for error codes (429 comes from the rate limiter, not from a code). */
const API_STATUSES = [400, 401, 403, 404, 409, 413, 422, 500, 503, 504, 507];

describe(httpStatusFor.name, () => {
  it('has an expectation for exactly the error codes there are', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...ERROR_CODES].sort());
  });

  it.each(ERROR_CODES.map((code) => [code, EXPECTED[code]] as const))(
    'answers %s with %i',
    (code, status) => {
      expect(httpStatusFor(code)).toBe(status);
    },
  );

  it("answers every code with one of API.md's statuses", () => {
    const used = new Set(ERROR_CODES.map((code) => httpStatusFor(code)));

    expect([...used].sort((a, b) => a - b)).toEqual(API_STATUSES);
  });

  it('sets Retry-After only on statuses a client should retry', () => {
    expect(RETRY_AFTER_SECONDS).toEqual({ 429: 1, 503: 1 });
  });
});
