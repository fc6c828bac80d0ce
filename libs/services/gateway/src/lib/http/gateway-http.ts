import { Logger } from '@nestjs/common';
import {
  FastifyAdapter,
  NestFastifyApplication,
} from '@nestjs/platform-fastify';
import {
  STATUS_CODES,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';

import { tagHttpServerSpan } from '@portfolio/telemetry';

/** A request id a client may choose (else the gateway makes one). */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Path parameters as long as a request line can be (Node's header limit, 16 KiB) reach
 * the routes, which refuse bad ids with their own 400 (Fastify's default of 100 answered
 * 414 in its own shape, even for valid 101-128 character model ids).
 */
const MAX_PARAM_LENGTH = 16 * 1024;

/** The contract's error body, for errors raised before a route or Nest is involved. */
function errorBody(url: string, message: string, requestId: string): string {
  return JSON.stringify(
    url.startsWith('/v2')
      ? { error: message }
      : { error: { code: 'INVALID_REQUEST', message, request_id: requestId } },
  );
}

/**
 * A request Node cannot parse (headers over its limit, a malformed request line) never
 * reaches Fastify's routing: answered here in the contract's shape, and with
 * `Connection: close`, since the socket is closed after it (keep-alive clients must not
 * send their next request on it).
 */
function clientErrorHandler(
  error: Error & { code?: string; rawPacket?: unknown },
  socket: Duplex,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const overflow = error.code === 'HPE_HEADER_OVERFLOW';
  const timeout = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const status = overflow ? 431 : timeout ? 408 : 400;
  const message = overflow
    ? 'the request headers are larger than the limit of 16 KiB'
    : timeout
      ? 'the request was not received in time'
      : 'malformed HTTP request';
  // Every response carries X-Request-Id, this one too; /v2 answers in its own shape
  // when the request line (at the start of the bytes Node could not parse) says /v2.
  const requestId = randomUUID();
  const packet = Buffer.isBuffer(error.rawPacket) ? error.rawPacket : null;
  const target = /^[A-Z]+ (\S+)/.exec(
    packet?.subarray(0, 2048).toString('latin1') ?? '',
  );
  const body = errorBody(target?.[1] ?? '', message, requestId);
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nX-Request-Id: ${requestId}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  socket.destroy();
}

/** Bodies handed to the upload route as a stream (multipart keeps its boundary). */
export const UPLOAD_CONTENT_TYPES = [
  'application/octet-stream',
  'application/x-tar',
  'application/gzip',
  'application/x-gzip',
  'application/zip',
  'multipart/form-data',
] as const;

/**
 * The gateway's HTTP server. JSON bodies are capped at `bodyLimitBytes`; artifact
 * uploads (`application/octet-stream`, archives, forms) are handed to the route as a stream and counted
 * there, so a large model never sits in memory whole. Every response carries
 * `X-Request-Id` (the client's, when it sent a sensible one).
 */
export function createGatewayAdapter(bodyLimitBytes: number): FastifyAdapter {
  const adapter = new FastifyAdapter({
    bodyLimit: bodyLimitBytes,
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given)
        ? given
        : randomUUID();
    },
    logger: false,
    // Keep-alive connections from load balancers outlive short idle timeouts.
    keepAliveTimeout: 65_000,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    clientErrorHandler,
    // A URL Fastify cannot route (bad percent-encoding, a parameter over the limit).
    frameworkErrors: (
      error: { code?: string },
      request: { id: string; url: string },
      reply: { raw: ServerResponse },
    ) => {
      const message =
        error.code === 'FST_ERR_BAD_URL'
          ? 'the URL is not valid (bad percent-encoding)'
          : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`
            : 'the request could not be routed';
      const body = errorBody(request.url, message, request.id);
      reply.raw.writeHead(400, {
        'X-Request-Id': request.id,
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
      });
      reply.raw.end(body);
    },
  });
  const fastify = adapter.getInstance();
  // Artifact uploads: a file, an archive of files, or a form of files, read as a stream.
  fastify.addContentTypeParser(
    [...UPLOAD_CONTENT_TYPES],
    (_request, payload, done) => done(null, payload),
  );
  // Callback-style hooks: every request runs them, and an async one costs a promise each.
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    // The trace's server span (when tracing is on): named after the route, with the id.
    tagHttpServerSpan(request.routeOptions.url, request.id);
    done();
  });
  return adapter;
}

export async function listenGateway(
  app: NestFastifyApplication,
  host: string,
  port: number,
): Promise<string> {
  await app.listen(port, host);
  const address = app.getHttpServer().address();
  const actualPort =
    typeof address === 'object' && address ? address.port : port;
  const url = `http://${shownHost(host)}:${actualPort}`;
  new Logger('Gateway').log(`listening on ${url}`);
  return url;
}

/** The host to print for a listening address: a local one for the wildcard addresses. */
export function shownHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}
