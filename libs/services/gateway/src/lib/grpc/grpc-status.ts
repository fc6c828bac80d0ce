import { Metadata, status } from '@grpc/grpc-js';

import { isPortfolioError } from '@portfolio/contracts';
import { TensorError } from '@portfolio/tensor';

import { INTERNAL_ERROR_MESSAGE } from '../http/error.filter';
import { httpStatusFor, RETRY_AFTER_SECONDS } from '../http/http-status';

/**
 * The gRPC status of each HTTP status the gateway answers with: the same refusal, in
 * the other protocol's words (docs/api.md, "gRPC"). 413, 429 and 507 are all a limit
 * reached; 422 (the model failed to load) is a state of the model, not of the request.
 */
const GRPC_STATUS: Readonly<Record<number, status>> = {
  400: status.INVALID_ARGUMENT,
  401: status.UNAUTHENTICATED,
  403: status.PERMISSION_DENIED,
  404: status.NOT_FOUND,
  409: status.ALREADY_EXISTS,
  413: status.RESOURCE_EXHAUSTED,
  422: status.FAILED_PRECONDITION,
  429: status.RESOURCE_EXHAUSTED,
  503: status.UNAVAILABLE,
  504: status.DEADLINE_EXCEEDED,
  507: status.RESOURCE_EXHAUSTED,
};

export interface GrpcFailure {
  code: status;
  /** A sentence for the client; for an internal error, only "internal error". */
  details: string;
  /** Whether the cause is for the operator's log (it is never sent). */
  internal: boolean;
  /** Seconds after which a retry makes sense, for 429 and 503 (sent as `retry-after`). */
  retryAfterSeconds?: number;
}

/** What a client is told about `e`, thrown while serving a call. */
export function grpcFailure(e: unknown): GrpcFailure {
  if (e instanceof TensorError)
    return {
      code: status.INVALID_ARGUMENT,
      details: e.message,
      internal: false,
    };
  if (!isPortfolioError(e) || e.code === 'INTERNAL')
    return {
      code: status.INTERNAL,
      details: INTERNAL_ERROR_MESSAGE,
      internal: true,
    };
  const http = httpStatusFor(e.code);
  const retryAfter = e.details?.['retry_after_seconds'];
  const retryAfterSeconds =
    typeof retryAfter === 'number' ? retryAfter : RETRY_AFTER_SECONDS[http];
  return {
    code: GRPC_STATUS[http] ?? status.INTERNAL,
    details: e.message,
    internal: false,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  };
}

/** Trailing metadata: the request id, and `retry-after` when there is one. */
export function trailers(
  requestId: string,
  retryAfterSeconds?: number,
): Metadata {
  const metadata = new Metadata();
  metadata.set('x-request-id', requestId);
  if (retryAfterSeconds !== undefined)
    metadata.set('retry-after', String(retryAfterSeconds));
  return metadata;
}
