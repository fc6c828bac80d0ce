import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  Inject,
  Logger,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { ErrorCode, isPortfolioError } from '@portfolio/contracts';
import { TensorError } from '@portfolio/tensor';

import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { httpStatusFor, RETRY_AFTER_SECONDS } from './http-status';

/** What a client is told about any internal error, wherever it happened. */
export const INTERNAL_ERROR_MESSAGE = 'internal error';

/**
 * Every error leaves the gateway as
 * `{ "error": { "code", "message", "details"?, "request_id" } }`, except on `/v2`,
 * whose protocol answers `{ "error": "message" }` (same statuses and messages). Internal errors (a
 * service's INTERNAL reply, or anything unexpected here) are logged with the request id
 * and what happened, and answered with a generic 500 that says nothing more: their
 * messages are written for operators and may name paths, hosts or source files.
 */
@Catch()
export class GatewayErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Gateway');
  private readonly bodyLimitBytes: number;

  constructor(@Inject(GATEWAY_SETTINGS) settings: GatewaySettings) {
    this.bodyLimitBytes = settings.bodyLimitBytes;
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    this.answer(
      exception,
      http.getRequest<FastifyRequest>(),
      http.getResponse<FastifyReply>(),
    );
  }

  /** Answers `request` with `exception` (for routes served outside Nest's pipeline too). */
  answer(
    exception: unknown,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const { status, code, message, details } = this.describe(
      exception,
      request,
    );
    if (code === 'INTERNAL') {
      this.logger.error(
        `${request.method} ${request.url} [${request.id}]: ${describeInternal(exception)}`,
        internalStack(exception),
        { request_id: request.id },
      );
    } else if (clientAborted(exception, request)) {
      this.logger.log(
        `${request.method} ${request.url} [${request.id}]: ${message}`,
        { request_id: request.id },
      );
    }
    // A limiter that knows when the client may come back says so; else the status's default.
    const retryAfter =
      typeof details?.['retry_after_seconds'] === 'number'
        ? details['retry_after_seconds']
        : RETRY_AFTER_SECONDS[status];
    if (retryAfter !== undefined)
      void reply.header('Retry-After', String(retryAfter));
    void reply
      .status(status)
      // Set here too, not only by the adapter's onRequest hook: Fastify's 404 for a
      // method no route has, on a URL it cannot decode, skips that hook.
      .header('X-Request-Id', request.id)
      .header('Content-Type', 'application/json; charset=utf-8')
      .send(
        isOpenInferencePath(request.url)
          ? // The Open Inference Protocol's error shape: clients (tritonclient,
            // kserve) read `error` as the message. The request id is in X-Request-Id.
            { error: message }
          : {
              error: {
                code,
                message,
                ...(details ? { details } : {}),
                request_id: request.id,
              },
            },
      );
  }

  private describe(
    e: unknown,
    request: FastifyRequest,
  ): {
    status: number;
    code: ErrorCode;
    message: string;
    details?: Record<string, unknown>;
  } {
    if (isPortfolioError(e)) {
      if (e.code === 'INTERNAL')
        return {
          status: httpStatusFor(e.code),
          code: e.code,
          message: INTERNAL_ERROR_MESSAGE,
        };
      return {
        status: httpStatusFor(e.code),
        code: e.code,
        message: e.message,
        details: e.details,
      };
    }
    if (clientAborted(e, request)) {
      // Nobody reads this answer; the status keeps the access log truthful.
      return {
        status: 400,
        code: 'INVALID_REQUEST',
        message:
          'the client closed the connection before the request was complete',
      };
    }
    if (e instanceof TensorError) {
      return {
        status: 400,
        code: 'INVALID_INPUT',
        message: e.message,
        details: e.details,
      };
    }
    if (e instanceof HttpException) {
      const status = e.getStatus();
      if (status === 404) {
        return {
          status,
          code: 'NOT_FOUND',
          message: `no route for ${request.method} ${request.url.split('?')[0]}`,
        };
      }
      if (status === 413) {
        return {
          status,
          code: 'PAYLOAD_TOO_LARGE',
          message: `the request body is larger than the limit of ${this.bodyLimitBytes} bytes`,
        };
      }
      if (status === 415) {
        return {
          status,
          code: 'INVALID_REQUEST',
          message: `unsupported content type "${String(request.headers['content-type'])}"; send application/json`,
        };
      }
      return status >= 500
        ? { status, code: 'INTERNAL', message: INTERNAL_ERROR_MESSAGE }
        : { status, code: 'INVALID_REQUEST', message: e.message };
    }
    // Errors raised by Fastify itself while reading the body.
    const fastifyCode = (e as { code?: string }).code;
    const statusCode = (e as { statusCode?: number }).statusCode;
    if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return {
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
        message: `the request body is larger than the limit of ${this.bodyLimitBytes} bytes`,
      };
    }
    if (fastifyCode === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return {
        status: 415,
        code: 'INVALID_REQUEST',
        message: `unsupported content type "${String(request.headers['content-type'])}"; send application/json`,
      };
    }
    if (
      typeof statusCode === 'number' &&
      statusCode >= 400 &&
      statusCode < 500
    ) {
      const message =
        e instanceof SyntaxError || fastifyCode?.startsWith('FST_ERR_CTP')
          ? `malformed request body: ${(e as Error).message}`
          : (e as Error).message;
      return { status: statusCode, code: 'INVALID_REQUEST', message };
    }
    return { status: 500, code: 'INTERNAL', message: INTERNAL_ERROR_MESSAGE };
  }
}

/** `/v2` and below: the Open Inference Protocol's routes, with its own error shape. */
export function isOpenInferencePath(url: string): boolean {
  return url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?');
}

/**
 * A service's INTERNAL reply carries its message across the bus for this log line (its
 * stack here would only show the gateway's bus client); anything thrown here, its stack.
 */
function describeInternal(e: unknown): string {
  if (isPortfolioError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** The stack of an error thrown in the gateway, for the log line's `stack`. */
function internalStack(e: unknown): string | undefined {
  return !isPortfolioError(e) && e instanceof Error ? e.stack : undefined;
}

/**
 * Node fails a request body that stops before its end because the client went away
 * (`aborted`, ECONNRESET, with the request destroyed): the client's doing, not ours.
 */
function clientAborted(e: unknown, request: FastifyRequest): boolean {
  return (
    (e as { code?: unknown } | null)?.code === 'ECONNRESET' &&
    request.raw.destroyed &&
    !request.raw.complete
  );
}
