import { toApiError } from './client';
import {
  ApiError,
  LocalError,
  NetworkError,
  UsageError,
  errorLine,
  exitCodeFor,
} from './errors';

describe('exit codes', () => {
  it.each([
    [new ApiError(400, 'INVALID_REQUEST', 'bad', null), 1],
    [new ApiError(404, 'MODEL_NOT_FOUND', 'no', null), 1],
    [new ApiError(409, 'MODEL_EXISTS', 'taken', null), 1],
    [new ApiError(429, 'RATE_LIMITED', 'slow down', null), 1],
    [new ApiError(500, 'INTERNAL', 'internal error', null), 3],
    [new ApiError(503, 'SERVICE_UNAVAILABLE', 'down', null), 3],
    [new ApiError(507, 'INSUFFICIENT_MEMORY', 'full', null), 3],
    [new NetworkError('ECONNREFUSED'), 3],
    [new UsageError('bad', 'usage'), 2],
    [new LocalError('no such file'), 2],
  ])('%s -> %d', (error, code) => {
    expect(exitCodeFor(error)).toBe(code);
  });

  it('prints the API error as "error CODE: message"', () => {
    const error = toApiError(404, {
      error: { code: 'MODEL_NOT_FOUND', message: 'model "x" not found' },
    });
    expect(errorLine(error)).toBe('error MODEL_NOT_FOUND: model "x" not found');
  });

  it('names errors without the API error body by their status', () => {
    expect(errorLine(toApiError(502, '<html>bad gateway</html>'))).toBe(
      'error HTTP_502: <html>bad gateway</html>',
    );
    expect(errorLine(toApiError(401, { error: 'unauthorized' }))).toBe(
      'error HTTP_401: unauthorized',
    );
    expect(errorLine(toApiError(404, null))).toBe('error HTTP_404: HTTP 404');
  });
});
