import { Logger } from '@nestjs/common';
import {
  FastifyAdapter,
  NestFastifyApplication,
} from '@nestjs/platform-fastify';
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The gateway's HTTP server. JSON bodies are capped at `bodyLimitBytes`; artifact
 * uploads (`application/octet-stream`) are handed to the route as a stream and counted
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
  });
  const fastify = adapter.getInstance();
  fastify.addContentTypeParser(
    'application/octet-stream',
    (_request, payload, done) => done(null, payload),
  );
  fastify.addHook('onRequest', async (request, reply) => {
    void reply.header('X-Request-Id', request.id);
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
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `http://${shown}:${actualPort}`;
  new Logger('Gateway').log(`listening on ${url}`);
  return url;
}
